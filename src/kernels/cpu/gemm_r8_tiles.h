#pragma once
// The row-interleaved R8 kernels (tensor/interleave.h: Q4_0, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS), written once for
// every x86 set that has them: one 32-byte load is 4 consecutive values of 8 rows, so a u8 x s8 dot against
// 4 activation bytes broadcast to every lane gives 8 rows' partial sums at once — lanes are rows, nothing
// is summed horizontally, and the weights are read as one sequential stream per 8 rows. The same kernel
// serves every token count:
//   - per 8-row group, tokens in tiles of up to Dot::kTile: the group's block is unpacked once per tile, each
//     token costs 8 broadcasts + 8 dots + 1 widen per 32 values;
//   - per (row, token, block) the integer sum is exact and is applied to the float accumulator in block
//     order, whatever the tile or the set: a token's result does not depend on the batch it is in, and
//     every set gives the scalar mirror's result (gemm_r8_scalar.cpp) bit for bit.
//
// `Dot` is the instruction set's 4-value dot product (8 lanes of int sums):
//   first(w, a) / add(sum, w, a)  sum of w[4i..4i+3] (u8) * a[4i..4i+3] (s8) per lane i, partial or running
//   join(sum, sum)                two partial sums added
//   widen(sum)                    the int32 lane sums; kInt16: sums are int16 pairs (vpmaddubsw), so a
//                                 caller widens before they could overflow
//   kInFlight                     independent dot chains that keep the dot units busy (latency x dots per
//                                 cycle, as far as the registers allow): a tile of kT tokens splits each
//                                 token's chunks into ceil(kInFlight / kT) chains (ChainSum)
//   kTile                         tokens per tile (as many as the registers hold).
// Include only from a kernel file compiled for that set (gemm_r8_avx2.cpp, gemm_r8_avx512.cpp): everything
// here has internal linkage, so each file gets its own copy built with its own instructions.

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/gemm.h"
#include "tensor/interleave.h"
#include "tensor/quant.h"  // kIQ4NLValues

namespace dsinfer::kern {
namespace {

constexpr int64_t kGroup = kInterleaveRows;  // 8 rows per group, one per lane

// Weights stream once per call (decode, experts with few tokens): the hardware prefetcher alone leaves
// a core at ~15 GB/s; asking for the lines kPrefetchBytes ahead of each block (a few row groups) brings
// one core to ~19 GB/s (bench/gemm_bench Q4_0_R8_mem, Zen 2). Into L2 (T1), not L1: on Zen 4 one core then
// streams 23-27 GB/s instead of 20-22 (the L1's few miss buffers no longer cap the lines in flight), and
// V2-Lite Q4_0 decodes at 30-32 instead of 23-27 t/s when the host's bandwidth allows (probe ~60 GB/s).
// Prefetches never fault past the end.
constexpr size_t kPrefetchBytes = 32 * 1024;

template <size_t kBlockBytes>
inline void prefetch_ahead(const uint8_t* blk) {
  const char* p = reinterpret_cast<const char*>(blk) + kPrefetchBytes;
  for (size_t off = 0; off < kBlockBytes; off += 64)
    _mm_prefetch(p + off, _MM_HINT_T1);  // every line it spans
}

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256 row_scales(const uint8_t* blk) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
}

// The activation rows of tokens [t0, t0 + kT) and zeroed accumulators.
template <int kT>
struct TileTokens {
  const int8_t* q[kT];
  const float* d[kT];
  const int32_t* s[kT];
  const int32_t* s16[kT];  // sums of each block's first 16 values (the per-16 scale formats)
  __m256 acc[kT];
  TileTokens(const ActQ8& a, int64_t t0) {
    for (int t = 0; t < kT; ++t) {
      q[t] = a.qt(t0 + t);
      d[t] = a.dt(t0 + t);
      s[t] = a.sumt(t0 + t);
      s16[t] = a.sum16t(t0 + t);
      acc[t] = _mm256_setzero_ps();
    }
  }
  void store(float* y, int64_t ldy) const {
    for (int t = 0; t < kT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
  }
};

// One token's integer sums over the chunks of a block, in kChains independent chains (chunk c goes to
// chain c % kChains) so that a dot with a long latency (vpdpbusd: 5 cycles, 2 per cycle) does not
// serialize the tile: a tile of kT tokens has kT chains already, so each token gets
// ceil(Dot::kInFlight / kT) of them (at most 4). Integer sums: the chain split never changes the total.
template <class Dot, int kT>
struct ChainSum {
  static constexpr int kChains = std::clamp((Dot::kInFlight + kT - 1) / kT, 1, 4);
  __m256i part[kChains] = {};  // (each is set by its first chunk)
  // fresh: the chunk starts its chain (the first chunks of a block, or after a widen)
  void put(int c, bool fresh, __m256i w, __m256i a) {
    __m256i& x = part[c % kChains];
    x = fresh ? Dot::first(w, a) : Dot::add(x, w, a);
  }
  // put(), and GCC may not reassociate the chain into a tree of live products (it spills them in
  // Q4_0's token-major loop: 2-token tiles 63 -> 69 GMAC/s; the K-quants' chunk-major loops lose by it).
  void put_in_order(int c, bool fresh, __m256i w, __m256i a) {
    put(c, fresh, w, a);
    asm("" : "+v"(part[c % kChains]));
  }
  static bool starts(int c) { return c < kChains; }  // chunk c is the first of its chain
  __m256i total() const {
    __m256i s = part[0];
    for (int i = 1; i < kChains; ++i) s = Dot::join(s, part[i]);
    return s;
  }
};

// Q4_0_R8 (kBits 4), Q5_0_R8 and Q5_1_R8 (kBits 5; kMin: Q5_1's + m): per block the 8 chunk vectors of
// the values q (0..15 or 0..31) of 8 rows, unpacked once per tile; per token the integer sum a q (int16
// sums of Q5 values are widened every 4 chunks: 4 x 2 x 31 * 127 fits), minus kOffset sum a, then
//   acc = fma(float(sum), d * d_a, acc)   (and Q5_1: acc = fma(m, d_a * float(sum a), acc)).
template <class Dot, int kBits, bool kMin>
struct NibbleR8 {
  using DotOps = Dot;
  static constexpr int kMaxTile = kMin ? 4 : 8;  // (Q5_1 tile<6>: 73 GMAC/s, against 85 as 4 + 2)
  static constexpr bool kFifth = kBits == 5;
  static constexpr size_t kScales = kMin ? 32 : 16;                     // d[8] (and m[8])
  static constexpr size_t kBlock = kScales + 128 + (kFifth ? 32 : 0);  // 144, 176, 192
  static constexpr int kOffset = kMin ? 0 : (kFifth ? 16 : 8);          // x = d (q - kOffset) (+ m)
  // v[k] = values 4k..4k+3 of the 8 rows of the block at blk.
  static void values(const uint8_t* blk, __m256i v[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    __m256i hb = _mm256_setzero_si256();
    if constexpr (kFifth) hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScales + 128));
    for (int c = 0; c < 4; ++c) {  // low nibbles: values 4c.., high nibbles: 16 + 4c..
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScales + 32 * c));
      v[c] = _mm256_and_si256(x, m4);
      v[4 + c] = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
      if constexpr (kFifth) {  // bit k of a byte is its chunk k's 5th bit: shifted to bit 4 (16-bit shifts
                               // carry the neighbour byte's bits only into bits the mask drops)
        v[c] = _mm256_or_si256(v[c], _mm256_and_si256(_mm256_slli_epi16(hb, 4 - c), bit4));
        v[4 + c] = _mm256_or_si256(v[4 + c], _mm256_and_si256(_mm256_srli_epi16(hb, c), bit4));
      }
    }
  }
  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    constexpr bool kSplit = kFifth && Dot::kInt16;
    // int32 dots: the offset term is the first dot's starting value (one operation less per token and block)
    constexpr bool kFoldOffset = !Dot::kInt16 && kOffset != 0;
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;  // (one declaration each: the three deduce different types)
    const auto& d = tk.d;
    const auto& s = tk.s;
    for (int64_t b = 0; b < a.nb; ++b) {
      const uint8_t* blk = w + b * kBlock;
      if (prefetch) prefetch_ahead<kBlock>(blk);
      const __m256 dw = row_scales(blk);
      __m256i v[8];
      values(blk, v);
      for (int t = 0; t < kT; ++t) {
        const int8_t* qa = q[t] + b * 32;
        ChainSum<Dot, kT> sp;  // chunks in the order 0, 4, 1, 5, ... (low and high nibbles of a byte)
        __m256i first = _mm256_setzero_si256();  // kSplit: the widened sum of the first 4
        for (int p = 0; p < 8; ++p) {
          const int k = p / 2 + 4 * (p % 2);
          const __m256i av = bcast4(qa + 4 * k);
          const bool fresh = sp.starts(kSplit ? p % 4 : p);
          if (kFoldOffset && p == 0)  // the first chain starts at - kOffset sum a
            sp.part[0] = Dot::add(_mm256_set1_epi32(-kOffset * s[t][b]), v[k], av);
          else if constexpr (kT >= 2) sp.put_in_order(p, fresh, v[k], av);
          else sp.put(p, fresh, v[k], av);  // (1 token: the tree is no slower)
          if (kSplit && p == 3) first = Dot::widen(sp.total());
        }
        __m256i s32 = Dot::widen(sp.total());
        if constexpr (kSplit) s32 = _mm256_add_epi32(first, s32);
        if constexpr (kOffset != 0 && !kFoldOffset) s32 = _mm256_sub_epi32(s32, _mm256_set1_epi32(kOffset * s[t][b]));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dw, _mm256_set1_ps(d[t][b])), acc[t]);
        if constexpr (kMin)
          acc[t] = _mm256_fmadd_ps(row_scales(blk + 16), _mm256_set1_ps(d[t][b] * static_cast<float>(s[t][b])), acc[t]);
      }
    }
    tk.store(y, ldy);
  }
};
template <class Dot>
using Q4_0R8 = NibbleR8<Dot, 4, false>;
template <class Dot>
using Q5_0R8 = NibbleR8<Dot, 5, false>;
template <class Dot>
using Q5_1R8 = NibbleR8<Dot, 5, true>;

// The exact integer sums of one token's block (activations qa) with 8 chunk vectors of signed values sw of
// 8 rows (aw = |sw|): maddubs needs an unsigned operand, so |w| against sign(a, w); with int16 sums each
// chunk is widened separately (two 127*127*2 products would overflow).
template <class Dot, int kT>
inline __m256i signed_block_sum(const __m256i sw[8], const __m256i aw[8], const int8_t* qa) {
  if constexpr (Dot::kInt16) {
    __m256i s32 = Dot::widen(Dot::first(aw[0], _mm256_sign_epi8(bcast4(qa), sw[0])));
    for (int c = 1; c < 8; ++c)
      s32 = _mm256_add_epi32(s32, Dot::widen(Dot::first(aw[c], _mm256_sign_epi8(bcast4(qa + 4 * c), sw[c]))));
    return s32;
  } else {
    ChainSum<Dot, kT> sp;
    for (int c = 0; c < 8; ++c) sp.put(c, sp.starts(c), aw[c], _mm256_sign_epi8(bcast4(qa + 4 * c), sw[c]));
    return sp.total();
  }
}

// Q8_0: signed weights, |w| once per block for all tokens (signed_block_sum).
template <class Dot>
struct Q8_0R8 {
  using DotOps = Dot;
  static constexpr size_t kBlock = 16 + 256;
  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;
    const auto& d = tk.d;
    for (int64_t b = 0; b < a.nb; ++b) {
      const uint8_t* blk = w + b * kBlock;
      if (prefetch) prefetch_ahead<kBlock>(blk);
      const __m256 dw = row_scales(blk);
      __m256i sw[8], aw[8];
      for (int c = 0; c < 8; ++c) {
        sw[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
        aw[c] = _mm256_sign_epi8(sw[c], sw[c]);
      }
      for (int t = 0; t < kT; ++t) {
        const __m256i s32 = signed_block_sum<Dot, kT>(sw, aw, q[t] + b * 32);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dw, _mm256_set1_ps(d[t][b])), acc[t]);
      }
    }
    tk.store(y, ldy);
  }
};

// IQ4_NL / IQ4_XS: Q4_0_R8's nibble chunks (128 bytes at qs: chunk c low nibbles = values 4c.., high = 16 + 4c..)
// looked up in a 16-byte table with one byte shuffle each: v[k] = values 4k..4k+3 of the 8 rows.
inline void iq4_lookup(const uint8_t* qs, __m128i table16, __m256i v[8]) {
  const __m256i table = _mm256_broadcastsi128_si256(table16);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int c = 0; c < 4; ++c) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
    v[c] = _mm256_shuffle_epi8(table, _mm256_and_si256(x, m4));
    v[4 + c] = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), m4));
  }
}
// The signed table values sw (kIQ4NLValues) and aw = |sw|, for signed_block_sum.
inline void iq4_values(const uint8_t* qs, __m256i sw[8], __m256i aw[8]) {
  iq4_lookup(qs, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)), sw);
  for (int c = 0; c < 8; ++c) aw[c] = _mm256_sign_epi8(sw[c], sw[c]);
}
// The values + 128 (1..241) as unsigned bytes: with int32 dots (no int16 pair sums to overflow) sum (v + 128) a
// - 128 sum a is the same integer without the sign trick's two operations per chunk.
inline void iq4_values_plus128(const uint8_t* qs, __m256i u[8]) {
  iq4_lookup(qs, _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)), _mm_set1_epi8(-128)),
             u);
}

// IQ4_NL_R8 (kXS false: per 32-value block f16 d[8] + the chunks; acc = fma(float(sum), d d_a, acc)) and
// IQ4_XS_R8 (per super-block f16 d[8], the 8 groups' int8 scales - 32 per row, then per group the chunks;
// acc = fma(float(sum), (d sc) d_a, acc)): int16 dots (AVX2) take signed_block_sum's sign trick, int32 dots
// (VNNI) the values + 128 and the activation sum.
template <class Dot, bool kXS>
struct IQ4R8 {
  using DotOps = Dot;
  static constexpr size_t kBlock = kXS ? 8 * 138 : 16 + 128;  // a super-block (XS) or a block (NL) of 8 rows
  static constexpr int kGroups = kXS ? 8 : 1;                 // 32-value groups per kBlock
  // The 8 rows' float factor of group g of the block at blk: d (NL) or d * (scale - 32) (XS).
  static __m256 factor(const uint8_t* blk, int g) {
    if constexpr (!kXS) return row_scales(blk);
    const __m128i sc = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 16 + 8 * g));
    return _mm256_mul_ps(row_scales(blk), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
  }
  static const uint8_t* chunks(const uint8_t* blk, int g) { return blk + (kXS ? 80 + 128 * g : 16); }

  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;
    const auto& d = tk.d;
    for (int64_t ib = 0; ib < a.nb / kGroups; ++ib) {
      const uint8_t* blk = w + ib * kBlock;
      for (int g = 0; g < kGroups; ++g) {
        const int64_t b = ib * kGroups + g;
        if (prefetch) prefetch_ahead<kBlock / kGroups>(blk + g * (kBlock / kGroups));  // (as QK45R8)
        const __m256 f = factor(blk, g);
        if constexpr (Dot::kInt16) {
          __m256i sw[8], aw[8];
          iq4_values(chunks(blk, g), sw, aw);
          for (int t = 0; t < kT; ++t) {
            const __m256i s32 = signed_block_sum<Dot, kT>(sw, aw, q[t] + b * 32);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(f, _mm256_set1_ps(d[t][b])), acc[t]);
          }
        } else {
          __m256i u[8];
          iq4_values_plus128(chunks(blk, g), u);
          for (int t = 0; t < kT; ++t) {
            const int8_t* qa = q[t] + b * 32;
            ChainSum<Dot, kT> sp;
            sp.part[0] = Dot::add(_mm256_set1_epi32(-128 * tk.s[t][b]), u[0], bcast4(qa));  // (- 128 sum a)
            for (int c = 1; c < 8; ++c) sp.put(c, sp.starts(c), u[c], bcast4(qa + 4 * c));
            const __m256i s32 = sp.total();
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(f, _mm256_set1_ps(d[t][b])), acc[t]);
          }
        }
      }
    }
    tk.store(y, ldy);
  }
};

// Q4_K / Q5_K: per 8-row group and super-block, the 8 groups' scales and mins arrive unpacked (one byte
// per row), so a group's d * scale and dmin * min are two 8-lane vectors; its 8 chunks give 8 rows'
// integer sums (Q4_K values 0..15: 8 x 15*127*2 fits in int16; Q5_K values 0..31: int16 sums are widened
// every 4 chunks). Per (row, token, group):
//   acc = fma(float(sum), d*scale * d_a, acc);  acc = fma(-dmin*min, d_a * float(sum_a), acc).
template <class Dot, bool kFifthBit>
struct QK45R8 {
  using DotOps = Dot;
  static constexpr int kMaxTile = kFifthBit ? 3 : 4;  // (tile<6> of Q4_K, tile<4> of Q5_K spilled: 41-48 GMAC/s)
  static constexpr size_t kBlock = 8 * (kFifthBit ? 180 : 148);
  static constexpr size_t kQs = kFifthBit ? 416 : 160;
  // Chunk c (values 4c..4c+3) of block g of a super-block at blk, for the 8 rows: 0..15 (Q4_K), 0..31 (Q5_K).
  static __m256i values(const uint8_t* blk, int g, int c) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 256 * (g / 2) + 32 * c));
    __m256i v = _mm256_and_si256((g & 1) ? _mm256_srli_epi16(x, 4) : x, _mm256_set1_epi8(0x0f));
    if constexpr (kFifthBit) {  // bit g of a byte, shifted straight to bit 4 (16-bit shifts carry the
                                // neighbour byte's bits only into bits the mask drops)
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 160 + 32 * c));
      const __m256i at4 =
          g < 4 ? _mm256_sll_epi16(hb, _mm_cvtsi32_si128(4 - g)) : _mm256_srl_epi16(hb, _mm_cvtsi32_si128(g - 4));
      v = _mm256_or_si256(v, _mm256_and_si256(at4, _mm256_set1_epi8(0x10)));
    }
    return v;
  }

  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    constexpr bool kSplit = kFifthBit && Dot::kInt16;  // Q5_K int16 sums: widened every 4 chunks
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;
    const auto& d = tk.d;
    const auto& s = tk.s;
    auto bytes8 = [](const uint8_t* p) {
      return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    };
    for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
      const uint8_t* blk = w + sb * kBlock;
      const __m256 dv = row_scales(blk), mv = row_scales(blk + 16);
      auto group = [&](int g) {
        const int64_t b = sb * 8 + g;
        // An eighth of the super-block's lines per group: a burst of all of them at once stalls the
        // group on a full miss queue.
        if (prefetch) prefetch_ahead<kBlock / 8>(blk + g * (kBlock / 8));
        const __m256 dsc = _mm256_mul_ps(dv, bytes8(blk + 32 + 8 * g));
        const __m256 dmn = _mm256_mul_ps(mv, bytes8(blk + 96 + 8 * g));
        ChainSum<Dot, kT> sp[kT];
        __m256i s32[kT] = {};  // (set before use)
        for (int c = 0; c < 8; ++c) {
          const __m256i v = values(blk, g, c);
          for (int t = 0; t < kT; ++t) {
            const __m256i av = bcast4(q[t] + b * 32 + 4 * c);
            // One token (the 8 groups unrolled): in order, or GCC makes a tree of live products and spills.
            if constexpr (kT == 1)
              sp[t].put_in_order(c, sp[t].starts(kSplit ? c % 4 : c), v, av);
            else
              sp[t].put(c, sp[t].starts(kSplit ? c % 4 : c), v, av);
          }
          if (kSplit && c == 3)
            for (int t = 0; t < kT; ++t) s32[t] = Dot::widen(sp[t].total());
        }
        for (int t = 0; t < kT; ++t) {
          __m256i sum = Dot::widen(sp[t].total());
          if constexpr (kSplit) sum = _mm256_add_epi32(s32[t], sum);
          acc[t] =
              _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dsc, _mm256_set1_ps(d[t][b])), acc[t]);
          acc[t] = _mm256_fnmadd_ps(dmn, _mm256_set1_ps(d[t][b] * static_cast<float>(s[t][b])), acc[t]);
        }
      };
      if constexpr (kT == 1) {  // unrolled: the nibble select and the 5th-bit shifts become constants
#pragma GCC unroll 8
        for (int g = 0; g < 8; ++g) group(g);
      } else {  // (unrolled, the 2-4 token tiles spill)
        for (int g = 0; g < 8; ++g) group(g);
      }
    }
    tk.store(y, ldy);
  }
};

// Q6_K: values (q - 32) in [-32, 31] with an int8 scale per 16 values. Per activation block (one quarter
// of a half) and chunk: 6-bit values q = low nibbles (ql) | 2 high bits (qh) << 4, 0..63. The integer of a
// (row, token, block) is sum_half sc_half (sum q a - 32 sum_half a): maddubs(q, a) pairs of 2 chunks
// fit in int16 (2 x 2 x 63 * 127), each pair is widened with its half's scales (vpmaddwd), and the -32
// term comes from the activations' per-16 sums (ActQ8::sum16): one vpmaddwd of the rows' (sc_0, sc_1)
// pairs against (sum_0 a, sum_1 a) per block and token. Per (row, token, block):
//   acc = fma(float(sum), d * d_a, acc).
template <class Dot>  // int16 sums in every set: the per-16 scales are applied with vpmaddwd
struct Q6_KR8 {
  using DotOps = Dot;
  static constexpr size_t kBlock = 8 * 210;
  // Chunk c (values 4c..4c+3) of quarter `quarter` of half h of a super-block at blk, for the 8 rows:
  // q = low nibble (ql) | 2 high bits (qh, bits 2 quarter and 2 quarter + 1) << 4, 0..63. The high bits
  // are shifted straight to bits 4-5 (16-bit shifts carry the neighbour byte's bits only into bits the
  // 0x30 mask drops).
  static __m256i values(const uint8_t* blk, int h, int quarter, int c) {
    const uint8_t* ql = blk + 144 + (h * 2 + (quarter & 1)) * 256;
    const uint8_t* qh = blk + 1168 + h * 256;
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32 * c));
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 32 * c));
    const __m256i low4 = _mm256_and_si256((quarter >> 1) ? _mm256_srli_epi16(x, 4) : x, _mm256_set1_epi8(0x0f));
    __m256i hi2;
    switch (quarter) {
      case 0: hi2 = _mm256_slli_epi16(hb, 4); break;
      case 1: hi2 = _mm256_slli_epi16(hb, 2); break;
      case 2: hi2 = hb; break;
      default: hi2 = _mm256_srli_epi16(hb, 2); break;
    }
    return _mm256_or_si256(low4, _mm256_and_si256(hi2, _mm256_set1_epi8(0x30)));
  }

  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;
    const auto& d = tk.d;
    const auto& s = tk.s;
    const auto& s16 = tk.s16;
    for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
      const uint8_t* blk = w + sb * kBlock;
      const __m256 dv = row_scales(blk);
      for (int h = 0; h < 2; ++h)
#pragma GCC unroll 4
        for (int quarter = 0; quarter < 4; ++quarter) {
          const int64_t b = sb * 8 + 4 * h + quarter;
          if (prefetch) prefetch_ahead<kBlock / 8>(blk + (4 * h + quarter) * (kBlock / 8));  // as QK45R8
          // The block's 16 int8 scales (half 0's 8 rows, then half 1's) as int16, qwords reordered to
          // (half 0 rows 0-3, half 1 rows 0-3 | half 0 rows 4-7, half 1 rows 4-7).
          const uint8_t* scales = blk + 16 + 8 * (8 * h + 2 * quarter);
          const __m256i x = _mm256_permute4x64_epi64(
              _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales))), 0xd8);
          // lanes 2i, 2i+1: row i's scale of half 0 / half 1; and row i's (sc_0, sc_1)
          const __m256i sc[2] = {_mm256_unpacklo_epi16(x, x), _mm256_unpackhi_epi16(x, x)};
          const __m256i sc01 = _mm256_unpacklo_epi16(x, _mm256_shuffle_epi32(x, 0xee));
          __m256i v[8];
          for (int c = 0; c < 8; ++c) v[c] = values(blk, h, quarter, c);
          for (int t = 0; t < kT; ++t) {
            const int8_t* qa = q[t] + b * 32;
            __m256i s32 = _mm256_setzero_si256();  // (set by the first pair)
            for (int pair = 0; pair < 4; ++pair) {
              const int c = 2 * pair;
              const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(v[c], bcast4(qa + 4 * c)),
                                                   _mm256_maddubs_epi16(v[c + 1], bcast4(qa + 4 * c + 4)));
              const __m256i part = _mm256_madd_epi16(p16, sc[pair / 2]);
              s32 = pair == 0 ? part : _mm256_add_epi32(s32, part);
            }
            const int32_t a0 = s16[t][b], a1 = s[t][b] - a0;  // sums of the block's halves: |a| <= 2048
            const __m256i asum = _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(a1) << 16) |
                                                                        (static_cast<uint32_t>(a0) & 0xffff)));
            s32 = _mm256_sub_epi32(s32, _mm256_slli_epi32(_mm256_madd_epi16(sc01, asum), 5));
            acc[t] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dv, _mm256_set1_ps(d[t][b])), acc[t]);
          }
        }
    }
    tk.store(y, ldy);
  }
};

// The last tile of a group: rest (< kT) tokens from t0.
template <class L, int kT>
void last_tile(int64_t rest, const uint8_t* g, const ActQ8& a, int64_t t0, float* y, int64_t ldy) {
  if constexpr (kT > 0) {
    if (rest == kT) return L::template tile<kT>(g, a, t0, y, ldy, t0 == 0);
    last_tile<L, kT - 1>(rest, g, a, t0, y, ldy);
  }
}

// Tokens per tile of layout L: the set's kTile, or fewer where L says so (L::kMaxTile: a layout whose wider
// tiles spill on the 32-register set; gemm_bench, one thread).
template <class L>
constexpr int tile_tokens() {
  if constexpr (requires { L::kMaxTile; })
    return L::kMaxTile < L::DotOps::kTile ? L::kMaxTile : L::DotOps::kTile;
  else
    return L::DotOps::kTile;
}

// n_rows is a multiple of 8 (matmul_rows checks). For every group, all token tiles (tile_tokens<L>() tokens
// each) pass while its blocks are in L1; the first tile prefetches ahead.
template <class L>
void gemm_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr int kT = tile_tokens<L>();
  const size_t group_bytes = kGroup * row_bytes;
  const int64_t full = a.n_tok / kT * kT, rest = a.n_tok - full;
  for (int64_t r = 0; r < n_rows; r += kGroup) {
    const uint8_t* g = w + (r / kGroup) * group_bytes;
    for (int64_t t = 0; t < full; t += kT) L::template tile<kT>(g, a, t, y + t * ldy + r, ldy, t == 0);
    last_tile<L, kT - 1>(rest, g, a, full, y + full * ldy + r, ldy);
  }
}

}  // namespace
}  // namespace dsinfer::kern
