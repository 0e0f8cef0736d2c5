// AVX2 instances of the R8 kernels (gemm_r8_tiles.h): the 4-value dot is vpmaddubsw, whose int16 pair
// sums are added in int16 while they cannot overflow and widened with vpmaddwd. From 12 tokens on, every
// type unpacks each row group once into an L1 panel that every 4-token tile reads (the Q4_0 panel
// kernel also serves the plain layout's prefill in gemm_avx2.cpp).
// Scalar mirror: gemm_r8_scalar.cpp (bit for bit).

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_r8_tiles.h"

namespace dsinfer::kern {
namespace {

struct Avx2Dot {
  static constexpr bool kInt16 = true;
  static constexpr int kTile = 4;  // 16 registers
  static constexpr int kChains = 1;  // vpaddw has a latency of 1: one chain keeps the register count low
  static __m256i first(__m256i w, __m256i a) { return _mm256_maddubs_epi16(w, a); }
  static __m256i add(__m256i sum, __m256i w, __m256i a) {
    return _mm256_add_epi16(sum, _mm256_maddubs_epi16(w, a));
  }
  static __m256i join(__m256i x, __m256i y) { return _mm256_add_epi16(x, y); }
  static __m256i widen(__m256i sum) { return _mm256_madd_epi16(sum, _mm256_set1_epi16(1)); }
};

constexpr int64_t kUnpackMinTokens = 12;  // below, unpacking costs more than the tiles save

// 32-byte aligned room for n bytes in buf (the panels' vectors are read with aligned loads).
uint8_t* aligned32(std::vector<uint8_t>& buf, size_t n) {
  buf.resize(n + 32);
  return buf.data() + (32 - reinterpret_cast<uintptr_t>(buf.data()) % 32) % 32;
}

// The int32 sums of an unpacked panel's block (8 chunk vectors of unsigned values, 8 rows each) with
// the 4 tokens of a tile: s32[t] per row. kSplit (values up to 31): the int16 sums are widened after
// 4 chunks; else (values up to 15) all 8 chunks fit in int16.
template <bool kSplit>
inline void panel_block_sums(const uint8_t* block, const TileActs& ta, int64_t b, __m256i s32[4]) {
  const __m256i* wq = reinterpret_cast<const __m256i*>(block);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i w[8];
  for (int c = 0; c < 8; ++c) w[c] = _mm256_load_si256(wq + c);
  for (int t = 0; t < 4; ++t) {
    const int32_t* at = reinterpret_cast<const int32_t*>(ta.q[t] + b * 32);
    __m256i s16 = _mm256_maddubs_epi16(w[0], _mm256_set1_epi32(at[0])), lo = _mm256_setzero_si256();
    for (int c = 1; c < 8; ++c) {
      const __m256i p = _mm256_maddubs_epi16(w[c], _mm256_set1_epi32(at[c]));
      if (kSplit && c == 4) {
        lo = _mm256_madd_epi16(s16, ones);
        s16 = p;
      } else {
        s16 = _mm256_add_epi16(s16, p);
      }
    }
    s32[t] = _mm256_madd_epi16(s16, ones);
    if constexpr (kSplit) s32[t] = _mm256_add_epi32(lo, s32[t]);
  }
}

}  // namespace

// The 8 rows of an unpacked Q4_0 panel · the 4 tokens of `tile`: out[t * 8 + row] (declared in gemm.h;
// the plain layout's prefill kernel of gemm_avx2.cpp runs it too).
void panel_q4_0_tok4(const uint8_t* q, const float* d, const ActQ8& a, int64_t tile, float* out) {
  const TileActs ta(a, tile);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < a.nb; ++b) {
    const __m256 dw = _mm256_loadu_ps(d + b * kGroup);
    __m256i s32[4];
    panel_block_sums<false>(q + b * 256, ta, b, s32);
    for (int t = 0; t < 4; ++t) {
      const __m256i si = _mm256_sub_epi32(s32[t], _mm256_set1_epi32(ta.s4[b * 4 + t] << 3));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), _mm256_mul_ps(dw, _mm256_set1_ps(ta.d4[b * 4 + t])), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(out + t * 8, acc[t]);
}

namespace {

// Q4_0 with >= 12 tokens: each row group is unpacked once into an L1 panel of nibble bytes
// [nb][8 chunks][32 bytes] and its row scales, and panel_q4_0_tok4 runs every 4-token tile over it (the
// same integer sums and float operations as Q4_0R8::tile, without its per-tile unpacking).
struct UnpackedQ4_0 {
  std::vector<uint8_t> q_buf;
  std::vector<float> d;  // [nb][8 rows]
  uint8_t* q = nullptr;

  void unpack(const uint8_t* group, int64_t nb) {
    q = aligned32(q_buf, static_cast<size_t>(nb * 256));
    d.resize(static_cast<size_t>(nb * kGroup));
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = group + b * Q4_0R8<Avx2Dot>::kBlock;
      _mm256_storeu_ps(d.data() + b * kGroup, row_scales(blk));
      for (int c = 0; c < 4; ++c) {  // chunk c: values 4c..4c+3 (low nibbles) and 16+4c.. (high)
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + b * 256 + 32 * c), _mm256_and_si256(x, m4));
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + b * 256 + 32 * (4 + c)),
                           _mm256_and_si256(_mm256_srli_epi16(x, 4), m4));
      }
    }
  }
  void tok4(const ActQ8& a, int64_t tile, float* out) const { panel_q4_0_tok4(q, d.data(), a, tile, out); }
};

// Q4_K / Q5_K with >= 12 tokens: each row group is unpacked once into an L1 panel — values
// [nb][8 chunks][32 bytes] as for Q4_0 (Q5_K: the fifth bit merged in), and per block the 8 rows'
// d*scale and dmin*min — and every 4-token tile runs over it: the same integer sums and float operations
// as QK45R8::tile, without its per-tile bit and scale unpacking.
template <bool kFifthBit>
struct UnpackedQK45 {
  std::vector<uint8_t> q_buf;
  std::vector<float> dsc, dmn;  // [nb][8 rows]
  uint8_t* q = nullptr;         // 32-byte aligned

  void unpack(const uint8_t* group, int64_t nb) {
    using L = QK45R8<Avx2Dot, kFifthBit>;
    q = aligned32(q_buf, static_cast<size_t>(nb * 256));
    dsc.resize(static_cast<size_t>(nb * kGroup));
    dmn.resize(static_cast<size_t>(nb * kGroup));
    auto bytes8 = [](const uint8_t* p) {
      return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    };
    for (int64_t sb = 0; sb < nb / 8; ++sb) {
      const uint8_t* blk = group + sb * L::kBlock;
      const __m256 dv = row_scales(blk), mv = row_scales(blk + 16);
      for (int g = 0; g < 8; ++g) {
        const int64_t b = sb * 8 + g;
        _mm256_storeu_ps(dsc.data() + b * kGroup, _mm256_mul_ps(dv, bytes8(blk + 32 + 8 * g)));
        _mm256_storeu_ps(dmn.data() + b * kGroup, _mm256_mul_ps(mv, bytes8(blk + 96 + 8 * g)));
        for (int c = 0; c < 8; ++c)
          _mm256_store_si256(reinterpret_cast<__m256i*>(q + b * 256 + 32 * c), L::values(blk, g, c));
      }
    }
  }

  // The 8 rows · the 4 tokens of `tile`: out[t * 8 + row].
  void tok4(const ActQ8& a, int64_t tile, float* out) const {
    const TileActs ta(a, tile);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < a.nb; ++b) {
      const __m256 vs = _mm256_loadu_ps(dsc.data() + b * kGroup), vm = _mm256_loadu_ps(dmn.data() + b * kGroup);
      __m256i s32[4];
      panel_block_sums<kFifthBit>(q + b * 256, ta, b, s32);
      for (int t = 0; t < 4; ++t) {
        const float da = ta.d4[b * 4 + t];
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32[t]), _mm256_mul_ps(vs, _mm256_set1_ps(da)), acc[t]);
        acc[t] = _mm256_fnmadd_ps(vm, _mm256_set1_ps(da * static_cast<float>(ta.s4[b * 4 + t])), acc[t]);
      }
    }
    for (int t = 0; t < 4; ++t) _mm256_storeu_ps(out + t * 8, acc[t]);
  }
};

// Q6_K with >= 12 tokens: each row group is unpacked once into an L1 panel of signed values q - 32 and
// their magnitudes [nb][8 chunks][32 bytes], the per-16 scales as int16 pairs and d per block; per chunk
// and token the product is maddubs(|w|, sign(a, w)) (one op for the -32 offset instead of a second
// maddubs and a subtraction). The integer sums and float operations are those of Q6_KR8::tile.
struct UnpackedQ6K {
  std::vector<uint8_t> buf;
  uint8_t* w = nullptr;   // [nb][8 chunks][32] int8 q - 32
  uint8_t* aw = nullptr;  // [nb][8 chunks][32] |q - 32|
  uint8_t* sc = nullptr;  // [nb][2 halves][8 rows x 2] int16 scales
  std::vector<float> dv;  // [nb][8 rows]

  void unpack(const uint8_t* group, int64_t nb) {
    using L = Q6_KR8<Avx2Dot>;
    w = aligned32(buf, static_cast<size_t>(nb * (256 + 256 + 64)));
    aw = w + nb * 256;
    sc = aw + nb * 256;
    dv.resize(static_cast<size_t>(nb * kGroup));
    const __m256i k32 = _mm256_set1_epi8(32);
    auto scales16 = [](const uint8_t* p) {  // lanes 2i, 2i+1 = the int8 scale of row i, as int16
      const __m128i x = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
      return _mm256_set_m128i(_mm_unpackhi_epi16(x, x), _mm_unpacklo_epi16(x, x));
    };
    for (int64_t sb = 0; sb < nb / 8; ++sb) {
      const uint8_t* blk = group + sb * L::kBlock;
      const __m256 d = row_scales(blk);
      for (int h = 0; h < 2; ++h)
        for (int quarter = 0; quarter < 4; ++quarter) {
          const int64_t b = sb * 8 + 4 * h + quarter;
          _mm256_storeu_ps(dv.data() + b * kGroup, d);
          for (int half = 0; half < 2; ++half)
            _mm256_store_si256(reinterpret_cast<__m256i*>(sc + b * 64 + 32 * half),
                               scales16(blk + 16 + 8 * (8 * h + 2 * quarter + half)));
          for (int c = 0; c < 8; ++c) {
            const __m256i v = _mm256_sub_epi8(L::values(blk, h, quarter, c), k32);
            _mm256_store_si256(reinterpret_cast<__m256i*>(w + b * 256 + 32 * c), v);
            _mm256_store_si256(reinterpret_cast<__m256i*>(aw + b * 256 + 32 * c), _mm256_abs_epi8(v));
          }
        }
    }
  }

  // The 8 rows · the 4 tokens of `tile`: out[t * 8 + row].
  void tok4(const ActQ8& a, int64_t tile, float* out) const {
    const int64_t nb = a.nb;
    const TileActs ta(a, tile);
    const auto& qa = ta.q;
    const float* d4 = ta.d4;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i* wv = reinterpret_cast<const __m256i*>(w + b * 256);
      const __m256i* av = reinterpret_cast<const __m256i*>(aw + b * 256);
      const __m256i* sv = reinterpret_cast<const __m256i*>(sc + b * 64);
      const __m256 d = _mm256_loadu_ps(dv.data() + b * kGroup);
      for (int t = 0; t < 4; ++t) {
        const int32_t* at = reinterpret_cast<const int32_t*>(qa[t] + b * 32);
        __m256i s32 = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {  // 4 chunks: 4 x 2 x 32*127 fits in int16
          __m256i s16 = _mm256_setzero_si256();
          for (int c = 4 * half; c < 4 * half + 4; ++c) {
            const __m256i sa = _mm256_sign_epi8(_mm256_set1_epi32(at[c]), _mm256_load_si256(wv + c));
            const __m256i p = _mm256_maddubs_epi16(_mm256_load_si256(av + c), sa);
            s16 = c == 4 * half ? p : _mm256_add_epi16(s16, p);
          }
          const __m256i part = _mm256_madd_epi16(s16, _mm256_load_si256(sv + half));
          s32 = half == 0 ? part : _mm256_add_epi32(s32, part);
        }
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(d, _mm256_set1_ps(d4[b * 4 + t])), acc[t]);
      }
    }
    for (int t = 0; t < 4; ++t) _mm256_storeu_ps(out + t * 8, acc[t]);
  }
};

// Rows in groups of 8 through an unpacked panel `P` (unpack(group, nb), tok4(a, tile, out)) from 12 tokens
// on; the tile kernel `L` below that.
template <class P, class L>
void gemm_unpacked(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  if (a.n_tok < kUnpackMinTokens) return gemm_r8<L>(w, row_bytes, n_rows, a, y, ldy);
  const int64_t n_tiles = a.n_pad() / 4;
  thread_local P panel;
  alignas(32) float out[4 * kGroup];
  for (int64_t r = 0; r < n_rows; r += kGroup) {
    panel.unpack(w + (r / kGroup) * kGroup * row_bytes, a.nb);
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      panel.tok4(a, tile, out);
      const int64_t nt = std::min<int64_t>(4, a.n_tok - tile * 4);
      for (int64_t t = 0; t < nt; ++t)
        std::memcpy(y + (tile * 4 + t) * ldy + r, out + t * kGroup, kGroup * sizeof(float));
    }
  }
}

}  // namespace

QuantGemmFn q4_0_r8_avx2() {
  return gemm_unpacked<UnpackedQ4_0, Q4_0R8<Avx2Dot>>;
}
QuantGemmFn q8_0_r8_avx2() {
  return gemm_r8<Q8_0R8<Avx2Dot>>;
}
QuantGemmFn q4_k_r8_avx2() {
  return gemm_unpacked<UnpackedQK45<false>, QK45R8<Avx2Dot, false>>;
}
QuantGemmFn q5_k_r8_avx2() {
  return gemm_unpacked<UnpackedQK45<true>, QK45R8<Avx2Dot, true>>;
}
QuantGemmFn q6_k_r8_avx2() {
  return gemm_unpacked<UnpackedQ6K, Q6_KR8<Avx2Dot>>;
}

}  // namespace dsinfer::kern
