// AVX2 + FMA + F16C kernels. Compiled with -mavx2 -mfma -mf16c and reached only through active_kernels()
// when the CPU has them.
//
// Q4_0 / Q8_0 (the common GGUF types) avoid horizontal sums: four int32x8 partial dot products (four
// tokens of one row in prefill, four rows of one token in decode) are folded with two hadd's into one
// vector whose lane i (low half) + lane i+4 (high half) is the block's integer sum for i; the fp32 scale
// multiply is then one FMA per block for all four. Prefill walks 16-row panels that stay in L1 while
// all token tiles stream past them, so each weight byte comes from memory once per call.

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_blocks.h"

namespace dsinfer::kern {
namespace {

// 32-byte aligned storage for repacked panels (aligned vector loads).
template <class T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <class U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{32})); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{32}); }
  bool operator==(const AlignedAlloc&) const { return true; }
};

inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

inline __m256i hadd4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
  return _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
}

// Lane i of the result: lanes i and i+4 of v added (the four sums of a hadd4).
inline __m128 fold(__m256 v) { return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); }

inline float hsum(__m256 v) {
  __m128 s = fold(v);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Traits of the file-layout 32-value formats: kZeroShift (log2 of the offset subtracted, -1: none), kMin
// (an f16 offset m after d: + m d_a sum(q_a)), kPanels (an 8-row panel path for >= 8 tokens).
struct Q4_0Traits {
  static constexpr size_t kBytes = kQ4_0Bytes;
  static constexpr int kZeroShift = 3;  // weights are q - 8: subtract 8 * sum(q_a)
  static constexpr bool kMin = false, kPanels = true;
  static __m256i load(const uint8_t* blk) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), _mm256_set1_epi8(0x0f));
  }
  static __m256i dot(__m256i w, __m256i a) { return dot_u8s8(w, a); }
};

struct Q8_0Traits {
  static constexpr size_t kBytes = kQ8_0Bytes;
  static constexpr int kZeroShift = -1;  // signed weights: sign trick instead of an offset
  static constexpr bool kMin = false, kPanels = true;
  static __m256i load(const uint8_t* blk) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)); }
  static __m256i dot(__m256i w, __m256i a) { return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)); }
};

// IQ4_NL: Q4_0's nibbles looked up in the value table (one byte shuffle per block), then Q8_0's signed dot
// and panels.
struct IQ4NLTraits {
  static constexpr size_t kBytes = kQ4_0Bytes;
  static constexpr int kZeroShift = -1;
  static constexpr bool kMin = false, kPanels = true;
  static __m256i load(const uint8_t* blk) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)));
    return _mm256_shuffle_epi8(table, Q4_0Traits::load(blk));
  }
  static __m256i dot(__m256i w, __m256i a) { return Q8_0Traits::dot(w, a); }
};

// Byte j of the result: 0x10 where bit j of h is set (the 5th bits of a Q5_0 / Q5_1 block).
inline __m256i fifth_bits(uint32_t h) {
  const __m256i spread = _mm256_shuffle_epi8(  // byte k of h into bytes 8k .. 8k + 7
      _mm256_set1_epi32(static_cast<int>(h)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));  // all but bit j % 8
  return _mm256_and_si256(_mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

// Q5_0 (kMin false: x = d (v - 16)) and Q5_1 (x = d v + m) with v = nibble | 5th bit << 4, unsigned.
template <bool kHasMin>
struct Q5Traits {
  static constexpr size_t kBytes = kHasMin ? kQ5_1Bytes : kQ5_0Bytes;
  static constexpr int kZeroShift = kHasMin ? -1 : 4;  // Q5_0: subtract 16 * sum(q_a)
  static constexpr bool kMin = kHasMin;                 // Q5_1: + m d_a sum(q_a), from the f16 after d
  static constexpr bool kPanels = false;
  static constexpr size_t kQh = kHasMin ? 4 : 2;
  static __m256i load(const uint8_t* blk) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQh + 4));
    uint32_t h;
    std::memcpy(&h, blk + kQh, 4);
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), _mm256_set1_epi8(0x0f));
    return _mm256_or_si256(nib, fifth_bits(h));
  }
  static __m256i dot(__m256i w, __m256i a) { return dot_u8s8(w, a); }
};

// Rows [r, r+4) (row pointers may repeat for a tail) · token t. Returns the 4 dot products.
// `next` (may be null) is the start of the next rows' bytes, `span` their length: prefetched a little
// per block so the next group is in cache when it starts (the hardware prefetcher alone does not keep
// four interleaved row streams fed).
template <class Tr>
__m128 rows4_tok1(const uint8_t* const* wr, const ActQ8& a, int64_t t, const uint8_t* next, size_t span) {
  const int8_t* q = a.qt(t);
  const float* d = a.dt(t);
  const int32_t* sum = a.sumt(t);
  __m256 acc = _mm256_setzero_ps();
  __m128 mins = _mm_setzero_ps();  // Q5_1: sum over blocks of m d_a sum(q_a), per row
  const size_t step = (span + a.nb - 1) / a.nb;
  for (int64_t b = 0; b < a.nb; ++b) {
    if (next) {
      const char* pf = reinterpret_cast<const char*>(next + b * step);
      _mm_prefetch(pf, _MM_HINT_T0);
      _mm_prefetch(pf + 64, _MM_HINT_T0);
    }
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 32));
    const size_t off = b * Tr::kBytes;
    __m256i h = hadd4(Tr::dot(Tr::load(wr[0] + off), av), Tr::dot(Tr::load(wr[1] + off), av),
                      Tr::dot(Tr::load(wr[2] + off), av), Tr::dot(Tr::load(wr[3] + off), av));
    if constexpr (Tr::kZeroShift >= 0)
      h = _mm256_sub_epi32(h, _mm256_zextsi128_si256(_mm_set1_epi32(sum[b] << Tr::kZeroShift)));
    const __m128 sw = _mm_mul_ps(_mm_setr_ps(h2f(wr[0] + off), h2f(wr[1] + off), h2f(wr[2] + off), h2f(wr[3] + off)),
                                 _mm_set1_ps(d[b]));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h), _mm256_set_m128(sw, sw), acc);
    if constexpr (Tr::kMin) {
      const __m128 m = _mm_setr_ps(h2f(wr[0] + off + 2), h2f(wr[1] + off + 2), h2f(wr[2] + off + 2), h2f(wr[3] + off + 2));
      mins = _mm_fmadd_ps(m, _mm_set1_ps(d[b] * static_cast<float>(sum[b])), mins);
    }
  }
  if constexpr (Tr::kMin) return _mm_add_ps(fold(acc), mins);
  return fold(acc);
}

// Rows w0, w1 · the 4 tokens of tile `tile`. out0/out1 get the 4 dot products of each row.
// kTokens (1-4) of the tile's 4 token lanes are real: the dots of the padding lanes are skipped (zero
// vectors in the horizontal-sum tree leave the real lanes' sums bit for bit as they were).
template <class Tr, int kTokens = 4>
void rows2_tok4(const uint8_t* w0, const uint8_t* w1, const ActQ8& a, int64_t tile, __m128* out0, __m128* out1) {
  const int64_t nb = a.nb, K = a.K;
  const int8_t* q = a.qt(tile * 4);
  const float* d4 = a.d4.data() + tile * nb * 4;
  const int32_t* s4 = a.sum4.data() + tile * nb * 4;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m128 min0 = _mm_setzero_ps(), min1 = _mm_setzero_ps();  // Q5_1: m d_a sum(q_a) per token
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* qb = q + b * 32;
    const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb));
    const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb + K));
    const __m256i a2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb + 2 * K));
    const __m256i a3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qb + 3 * K));
    const __m256 da = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(d4 + b * 4));
    __m256i zero_fix = _mm256_setzero_si256();
    if constexpr (Tr::kZeroShift >= 0)
      zero_fix = _mm256_zextsi128_si256(
          _mm_slli_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s4 + b * 4)), Tr::kZeroShift));
    const size_t off = b * Tr::kBytes;
    {
      const __m256i w = Tr::load(w0 + off);
      const __m256i z = _mm256_setzero_si256();
      __m256i h = hadd4(Tr::dot(w, a0), kTokens > 1 ? Tr::dot(w, a1) : z, kTokens > 2 ? Tr::dot(w, a2) : z,
                        kTokens > 3 ? Tr::dot(w, a3) : z);
      if constexpr (Tr::kZeroShift >= 0) h = _mm256_sub_epi32(h, zero_fix);
      acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h), _mm256_mul_ps(_mm256_set1_ps(h2f(w0 + off)), da), acc0);
    }
    {
      const __m256i w = Tr::load(w1 + off);
      const __m256i z = _mm256_setzero_si256();
      __m256i h = hadd4(Tr::dot(w, a0), kTokens > 1 ? Tr::dot(w, a1) : z, kTokens > 2 ? Tr::dot(w, a2) : z,
                        kTokens > 3 ? Tr::dot(w, a3) : z);
      if constexpr (Tr::kZeroShift >= 0) h = _mm256_sub_epi32(h, zero_fix);
      acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h), _mm256_mul_ps(_mm256_set1_ps(h2f(w1 + off)), da), acc1);
    }
    if constexpr (Tr::kMin) {
      const __m128 ds = _mm_mul_ps(_mm_loadu_ps(d4 + b * 4),
                                   _mm_cvtepi32_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s4 + b * 4))));
      min0 = _mm_fmadd_ps(_mm_set1_ps(h2f(w0 + off + 2)), ds, min0);
      min1 = _mm_fmadd_ps(_mm_set1_ps(h2f(w1 + off + 2)), ds, min1);
    }
  }
  *out0 = fold(acc0);
  *out1 = fold(acc1);
  if constexpr (Tr::kMin) {
    *out0 = _mm_add_ps(*out0, min0);
    *out1 = _mm_add_ps(*out1, min1);
  }
}

// ---- Q4_0 prefill: 8-row panels repacked once per call so that each 32-bit lane is 4 consecutive k of
// one row (lanes = rows, no horizontal sums). Per token and 4-k group: one broadcast of 4 activation
// bytes, one maddubs against all 8 rows, one int16 add (8 groups of 15*127*2 fit in int16); per block
// one int32 widen, the -8*sum offset, and one FMA with the 8 row scales times the token's scale.

constexpr int64_t kPanelRows = 8;
constexpr int64_t kInterleaveMinTokens = 8;  // fewer tokens: the repack would not pay for itself

// q [nb][8 groups][8 rows][4 bytes] of unsigned nibbles, d [nb][8] row scales. Rows past n_rows repeat
// the last row.
template <class Tr>
void repack_panel(const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t nb, uint8_t* q, float* d) {
  for (int64_t i = 0; i < kPanelRows; ++i) {
    const uint8_t* row = w + std::min(i, n_rows - 1) * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = row + b * Tr::kBytes;
      d[b * kPanelRows + i] = h2f(blk);
      alignas(32) uint32_t u[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(u), Tr::load(blk));
      uint32_t* dst = reinterpret_cast<uint32_t*>(q + b * 256);
      for (int g = 0; g < 8; ++g) dst[g * kPanelRows + i] = u[g];
    }
  }
}

// Q8_0 panels hold signed weights: the sign trick per (token, group) and an int32 add per group, since
// two 127*127*2 products would overflow int16.
void panel_q8_0_tok4(const uint8_t* q, const float* d, const ActQ8& a, int64_t tile, float* out) {
  const TileActs ta(a, tile);
  const auto& qa = ta.q;
  const float* d4 = ta.d4;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < a.nb; ++b) {
    const __m256i* wq = reinterpret_cast<const __m256i*>(q + b * 256);
    const __m256 dw = _mm256_loadu_ps(d + b * kPanelRows);
    for (int t = 0; t < 4; ++t) {
      const int32_t* at = reinterpret_cast<const int32_t*>(qa[t] + b * 32);
      __m256i s32 = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        const __m256i w = _mm256_load_si256(wq + g);
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(_mm256_set1_epi32(at[g]), w));
        s32 = _mm256_add_epi32(s32, _mm256_madd_epi16(p, ones));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dw, _mm256_set1_ps(d4[b * 4 + t])), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(out + t * 8, acc[t]);
}

template <class Tr>
void gemm_interleaved(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  const int64_t nb = a.nb, n_tiles = a.n_pad() / 4;
  thread_local std::vector<uint8_t, AlignedAlloc<uint8_t>> q;
  thread_local std::vector<float> d;
  q.resize(static_cast<size_t>(nb * 256));
  d.resize(static_cast<size_t>(nb * kPanelRows));
  alignas(32) float out[4 * kPanelRows];
  for (int64_t r0 = 0; r0 < n_rows; r0 += kPanelRows) {
    const int64_t nr = std::min(kPanelRows, n_rows - r0);
    repack_panel<Tr>(w + r0 * row_bytes, row_bytes, nr, nb, q.data(), d.data());
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      if constexpr (Tr::kZeroShift == 3) {
        panel_q4_0_tok4(q.data(), d.data(), a, tile, out);
      } else {
        panel_q8_0_tok4(q.data(), d.data(), a, tile, out);
      }
      const int64_t nt = std::min<int64_t>(4, a.n_tok - tile * 4);
      for (int64_t t = 0; t < nt; ++t)
        for (int64_t i = 0; i < nr; ++i) y[(tile * 4 + t) * ldy + r0 + i] = out[t * 8 + i];
    }
  }
}

constexpr int64_t kPrefetchGroups = 4;  // decode prefetches the rows this many 4-row groups ahead

// Q4_0 decode: rows [r, r+4) · one token, two blocks per step. The 16 nibble bytes of blocks b and b+1
// load into one vector ([b | b+1]); their low/high nibbles meet activations permuted the same way, so
// after the 4-row hadd tree lane i holds row i's whole-block sum of b (low half) and of b+1 (high half):
// 9 vector ops per row per 64 weights instead of 12. Odd nb: the last block goes to the low half.
__m128 q4_0_rows4_pairs(const uint8_t* const* wr, const ActQ8& a, const uint8_t* next, size_t span) {
  const int8_t* q = a.qt(0);
  const float* d = a.dt(0);
  const int32_t* sum = a.sumt(0);
  const int64_t nb = a.nb;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const size_t step = (span + nb - 1) / nb * 2;
  __m256 acc = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    if (next) {
      const char* pf = reinterpret_cast<const char*>(next + (b / 2) * step);
      _mm_prefetch(pf, _MM_HINT_T0);
      _mm_prefetch(pf + 64, _MM_HINT_T0);
      _mm_prefetch(pf + 128, _MM_HINT_T0);
    }
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 32));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 32 + 32));
    const __m256i a_lo = _mm256_permute2x128_si256(x0, x1, 0x20), a_hi = _mm256_permute2x128_si256(x0, x1, 0x31);
    const size_t off = b * kQ4_0Bytes;
    __m256i s[4];
    for (int i = 0; i < 4; ++i) {
      const __m256i wv = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(wr[i] + off + kQ4_0Bytes + 2),
                                             reinterpret_cast<const __m128i*>(wr[i] + off + 2));
      const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(wv, m4), a_lo),
                                         _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(wv, 4), m4), a_hi));
      s[i] = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    }
    __m256i h = hadd4(s[0], s[1], s[2], s[3]);
    h = _mm256_sub_epi32(h, _mm256_set_m128i(_mm_set1_epi32(sum[b + 1] << 3), _mm_set1_epi32(sum[b] << 3)));
    const size_t o1 = off + kQ4_0Bytes;
    const __m256 dw = _mm256_setr_ps(h2f(wr[0] + off), h2f(wr[1] + off), h2f(wr[2] + off), h2f(wr[3] + off),
                                     h2f(wr[0] + o1), h2f(wr[1] + o1), h2f(wr[2] + o1), h2f(wr[3] + o1));
    const __m256 da = _mm256_set_m128(_mm_set1_ps(d[b + 1]), _mm_set1_ps(d[b]));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h), _mm256_mul_ps(dw, da), acc);
  }
  if (b < nb) {  // odd tail: whole-block sums into the low half, +0*0 into the high half
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + b * 32));
    const size_t off = b * kQ4_0Bytes;
    __m256i h = hadd4(dot_u8s8(Q4_0Traits::load(wr[0] + off), av), dot_u8s8(Q4_0Traits::load(wr[1] + off), av),
                      dot_u8s8(Q4_0Traits::load(wr[2] + off), av), dot_u8s8(Q4_0Traits::load(wr[3] + off), av));
    h = _mm256_add_epi32(h, _mm256_permute2x128_si256(h, h, 0x81));
    h = _mm256_zextsi128_si256(_mm_sub_epi32(_mm256_castsi256_si128(h), _mm_set1_epi32(sum[b] << 3)));
    const __m128 sw = _mm_mul_ps(_mm_setr_ps(h2f(wr[0] + off), h2f(wr[1] + off), h2f(wr[2] + off), h2f(wr[3] + off)),
                                 _mm_set1_ps(d[b]));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h), _mm256_zextps128_ps256(sw), acc);
  }
  return fold(acc);
}

// Q4_0 / Q8_0 / Q5_0 / Q5_1 in the file layout. Q5_0 / Q5_1 (llama.cpp's fallbacks inside K-quant files)
// have no panel or R8 form: every batch runs the 2-row x 4-token tiles.
template <class Tr>
void gemm_q_legacy(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  if (Tr::kPanels && a.n_tok >= kInterleaveMinTokens) return gemm_interleaved<Tr>(w, row_bytes, n_rows, a, y, ldy);
  if (a.n_tok == 1) {
    alignas(16) float out[4];
    for (int64_t r = 0; r < n_rows; r += 4) {
      const uint8_t* wr[4];
      for (int i = 0; i < 4; ++i) wr[i] = w + std::min(r + i, n_rows - 1) * row_bytes;
      const int64_t ahead = r + 4 * kPrefetchGroups, n_next = std::min<int64_t>(4, n_rows - ahead);
      const uint8_t* next = n_next > 0 ? w + ahead * row_bytes : nullptr;
      if constexpr (Tr::kZeroShift == 3) {
        _mm_store_ps(out, q4_0_rows4_pairs(wr, a, next, n_next * row_bytes));
      } else {
        _mm_store_ps(out, rows4_tok1<Tr>(wr, a, 0, next, n_next * row_bytes));
      }
      for (int i = 0; i < 4 && r + i < n_rows; ++i) y[r + i] = out[i];
    }
    return;
  }
  constexpr int64_t kPanel = 16;  // rows kept in L1 while every token tile passes
  const int64_t n_tiles = a.n_pad() / 4;
  alignas(16) float o0[4], o1[4];
  for (int64_t p0 = 0; p0 < n_rows; p0 += kPanel) {
    const int64_t p1 = std::min(n_rows, p0 + kPanel);
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      const int64_t nt = std::min<int64_t>(4, a.n_tok - tile * 4);
      for (int64_t r = p0; r < p1; r += 2) {
        const int64_t r1 = std::min(r + 1, p1 - 1);
        // While the first token tile runs over this panel, pull the next panel's rows in (the rows of
        // an expert with a few tokens are read once, so they would otherwise stall on memory).
        if (tile == 0 && r + kPanel + 1 < n_rows) {
          const char* nx = reinterpret_cast<const char*>(w + (r + kPanel) * row_bytes);
          for (size_t off = 0; off < 2 * row_bytes; off += 64) _mm_prefetch(nx + off, _MM_HINT_T0);
        }
        __m128 v0, v1;
        const uint8_t *wa = w + r * row_bytes, *wb = w + r1 * row_bytes;
        switch (nt) {
          case 1: rows2_tok4<Tr, 1>(wa, wb, a, tile, &v0, &v1); break;
          case 2: rows2_tok4<Tr, 2>(wa, wb, a, tile, &v0, &v1); break;
          case 3: rows2_tok4<Tr, 3>(wa, wb, a, tile, &v0, &v1); break;
          default: rows2_tok4<Tr, 4>(wa, wb, a, tile, &v0, &v1); break;
        }
        _mm_store_ps(o0, v0);
        _mm_store_ps(o1, v1);
        float* yt = y + tile * 4 * ldy;
        for (int64_t t = 0; t < nt; ++t) {
          yt[t * ldy + r] = o0[t];
          if (r + 1 < p1) yt[t * ldy + r + 1] = o1[t];
        }
      }
    }
  }
}

// ---- float weights: NR rows x NT tokens of 8-lane FMA accumulators ----

struct F32Load {
  static float one(const uint8_t* p, int64_t k) { float f; std::memcpy(&f, p + 4 * k, 4); return f; }
  static __m256 load(const uint8_t* p, int64_t k) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + k); }
};
struct F16Load {
  static float one(const uint8_t* p, int64_t k) { return h2f(p + 2 * k); }
  static __m256 load(const uint8_t* p, int64_t k) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * k)));
  }
};
struct BF16Load {
  static float one(const uint8_t* p, int64_t k) { uint16_t h; std::memcpy(&h, p + 2 * k, 2); return bf16_to_f32(h); }
  static __m256 load(const uint8_t* p, int64_t k) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * k)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
};
// e4m3 -> f16 bits: sign to bit 15, exponent+mantissa shifted up by 7. The result is the e4m3 value
// times 2^-8 for normal AND subnormal inputs (both formats put their subnormals at the same relative
// place), so the F16C conversion is exact once the 2^8 is folded into the block scale.
struct F8Load {
  static float one(const uint8_t* p, int64_t k) { return fp8_e4m3_to_f32(p[k]); }
  static __m256 load(const uint8_t* p, int64_t k) {
    const __m128i x = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + k)));
    const __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(x, _mm_set1_epi16(0x80)), 8),
                                   _mm_slli_epi16(_mm_and_si128(x, _mm_set1_epi16(0x7f)), 7));
    return _mm256_cvtph_ps(h);
  }
};

// NR rows x NT tokens of 8-lane accumulators over k; the tokens' x chunks are loaded first and each
// row's chunk once, so 12 accumulators + 3 x + 1 w fit the 16 registers (a spilled accumulator would put
// a store-forwarding round trip into every step). FP8 (kScaled) multiplies the weights by their block
// scale and uses at most 2 tokens for the scale's register.
template <class L, int NR, int NT, bool kScaled>
void float_tile(const uint8_t* const* wr, int64_t K, const float* x, int64_t ldx, const float* scale, float* out) {
  __m256 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  const int64_t K8 = K / 8 * 8;
  __m256 sv = _mm256_set1_ps(1.0f);
  for (int64_t k = 0; k < K8; k += 8) {
    if (kScaled && k % 128 == 0) sv = _mm256_set1_ps(scale[k / 128] * 256.0f);
    __m256 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm256_loadu_ps(x + t * ldx + k);
    for (int r = 0; r < NR; ++r) {
      const __m256 wv = kScaled ? _mm256_mul_ps(L::load(wr[r], k), sv) : L::load(wr[r], k);
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) {
      float s = hsum(acc[r][t]);
      for (int64_t k = K8; k < K; ++k)  // tail: K need not be a multiple of 8 for float weights
        s += L::one(wr[r], k) * x[t * ldx + k] * (scale ? scale[k / 128] : 1.0f);
      out[r * NT + t] = s;
    }
}

template <class L, bool kScaled>
void gemm_float_rows(const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x, int64_t ldx,
                     int64_t n_tok, const float* scale, float* y, int64_t ldy) {
  constexpr int kTok = kScaled ? 2 : 3;  // tokens per tile
  float out[4 * kTok];
  for (int64_t r = 0; r < n_rows; r += 4) {
    const uint8_t* wr[4];
    const int nr = static_cast<int>(std::min<int64_t>(4, n_rows - r));
    for (int i = 0; i < 4; ++i) wr[i] = w + std::min(r + i, n_rows - 1) * row_bytes;
    for (int64_t t = 0; t < n_tok; t += kTok) {
      const int nt = static_cast<int>(std::min<int64_t>(kTok, n_tok - t));
      const float* xt = x + t * ldx;
      if (nt == 3)
        float_tile<L, 4, kScaled ? 1 : 3, kScaled>(wr, K, xt, ldx, scale, out);
      else if (nt == 2)
        float_tile<L, 4, 2, kScaled>(wr, K, xt, ldx, scale, out);
      else
        float_tile<L, 4, 1, kScaled>(wr, K, xt, ldx, scale, out);
      for (int i = 0; i < nr; ++i)
        for (int j = 0; j < nt; ++j) y[(t + j) * ldy + r + i] = out[i * nt + j];
    }
  }
}

template <class L>
void gemm_float(const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x, int64_t ldx,
                int64_t n_tok, const float* scale, float* y, int64_t ldy) {
  if (scale)
    gemm_float_rows<L, true>(w, row_bytes, n_rows, K, x, ldx, n_tok, scale, y, ldy);
  else
    gemm_float_rows<L, false>(w, row_bytes, n_rows, K, x, ldx, n_tok, scale, y, ldy);
}

void quantize_row_avx2(const float* x, int64_t K, int8_t* q, float* d, int32_t* sum) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < K / kActBlock; ++b) {
    const float* xb = x + b * kActBlock;
    __m256 v[4];
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign_mask, v[i]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m);
    d[b] = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    __m256i iv[4];
    for (int i = 0; i < 4; ++i) iv[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(iv[0], iv[1]), _mm256_add_epi32(iv[2], iv[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_hadd_epi32(s4, s4);
    s4 = _mm_hadd_epi32(s4, s4);
    sum[b] = _mm_cvtsi128_si32(s4);
    // packs interleave the 128-bit lanes; the permute restores element order.
    const __m256i p16a = _mm256_packs_epi32(iv[0], iv[1]), p16b = _mm256_packs_epi32(iv[2], iv[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    const __m256i ord = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * kActBlock), ord);
  }
}

// exp(x) for x in [-87, 88]: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 Taylor polynomial
// (rel. error < 2e-7), 2^n put into the exponent field.
inline __m256 exp_avx2(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

void silu_mul_avx2(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = silu_poly(gate[i]) * up[i];
}

inline float hsum8(__m256 v) {  // ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void softmax_avx2(float* x, int64_t n) {
  const int64_t n8 = n / 8 * 8;
  __m256 mv = _mm256_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n8; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
  float m = -INFINITY;
  for (int i = 0; i < 8; ++i) m = std::fmax(m, mv[i]);
  for (int64_t i = n8; i < n; ++i) m = std::fmax(m, x[i]);
  const __m256 m8 = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m8));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  float tail = 0;
  for (int64_t i = n8; i < n; ++i) tail += (x[i] = exp_poly(x[i] - m));
  const float inv = 1.0f / (hsum8(sum) + tail);
  const __m256 inv8 = _mm256_set1_ps(inv);
  for (int64_t i = 0; i < n8; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv8));
  for (int64_t i = n8; i < n; ++i) x[i] *= inv;
}

}  // namespace

void mla_scores_avx2(const float*, int64_t, int64_t, const float* const*, int64_t, float, float*, int64_t);
void mla_scores_f16_avx2(const float*, int64_t, int64_t, const uint16_t* const*, int64_t, float, float*, int64_t);
void mla_values_f16_avx2(const float*, int64_t, int64_t, const uint16_t* const*, int64_t, int64_t, int64_t, float*,
                           int64_t);
void mla_values_avx2(const float*, int64_t, int64_t, const float* const*, int64_t, int64_t, int64_t, float*, int64_t);

const KernelSet& avx2_kernels() {
  static const KernelSet ks = [] {
    KernelSet k;
    k.isa = "avx2";
    k.quantize_row = quantize_row_avx2;
    k.q8_0 = gemm_q_legacy<Q8_0Traits>;
    k.q4_0 = gemm_q_legacy<Q4_0Traits>;
    k.q5_0 = gemm_q_legacy<Q5Traits<false>>;
    k.q5_1 = gemm_q_legacy<Q5Traits<true>>;
    k.q4_k = q4_k_avx2();
    k.q5_k = q5_k_avx2();
    k.q6_k = q6_k_avx2();
    k.q2_k = q2_k_avx2();
    k.q3_k = q3_k_avx2();
    k.iq4_nl = gemm_q_legacy<IQ4NLTraits>;
    k.iq4_xs = iq4_xs_avx2();
    k.q4_0_r8 = q4_0_r8_avx2();
    k.q8_0_r8 = q8_0_r8_avx2();
    k.q5_0_r8 = q5_0_r8_avx2();
    k.q5_1_r8 = q5_1_r8_avx2();
    k.q4_k_r8 = q4_k_r8_avx2();
    k.q5_k_r8 = q5_k_r8_avx2();
    k.q6_k_r8 = q6_k_r8_avx2();
    k.q2_k_r8 = q2_k_r8_avx2();
    k.q3_k_r8 = q3_k_r8_avx2();
    k.iq4_nl_r8 = iq4_nl_r8_avx2();
    k.iq4_xs_r8 = iq4_xs_r8_avx2();
    k.iq1_s_r8 = iq1_s_r8_avx2();
    k.iq1_m_r8 = iq1_m_r8_avx2();
    iq_grid_avx2(k.iq_grid);
    k.f32 = gemm_float<F32Load>;
    k.f16 = gemm_float<F16Load>;
    k.bf16 = gemm_float<BF16Load>;
    k.f8_e4m3 = gemm_float<F8Load>;
    k.f32_nn = f32_nn_avx2_fn();
    k.silu_mul = silu_mul_avx2;
    k.softmax = softmax_avx2;
    k.mla_scores = mla_scores_avx2;
    k.mla_values = mla_values_avx2;
    k.mla_scores_f16 = mla_scores_f16_avx2;
    k.mla_values_f16 = mla_values_f16_avx2;
    return k;
  }();
  return ks;
}

}  // namespace dsinfer::kern
