#pragma once
// Prefill kernels for the R8 types Q4_0, Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, Q5_0, Q5_1 and, with int32 dots, Q8_0, IQ4_NL
// and IQ4_XS (from Tokens::min_tokens<F>() tokens on): signed L1 panels with the weights as the dot's memory operand.
// Written once for every x86 set, like the tiles of gemm_r8_tiles.h: Dot::kInt16 (AVX2) sums with vpmaddubsw +
// vpaddw and widens, the 256-bit VNNI sets accumulate int32 with vpdpbusd (Q6_K, Q3_K and Q2_K keep the int16
// route there: their per-16 scales are applied with vpmaddwd). The AVX-512 set runs the tokens on 512-bit
// vectors instead (gemm_r8_panels_zmm.h), every format with int32 dots.
//
// Why: in the tile kernels every 4 weight values of 8 rows meet one broadcast activation word, and on Zen 3
// a vpbroadcastd costs an FP-pipe slot like the vpmaddubsw it feeds; with the panel in L1 the weight
// vectors can instead be loaded by the dot itself (a load port, no FP slot) and one broadcast serves
// kPanelGroups row groups. vpmaddubsw and vpdpbusd take their memory operand as the *signed* factor, so
// the panel holds signed weight values v (Q4_0: q - 8, Q4_K: q - 8, Q5_K: q - 16, Q6_K: q - 32, Q5_0 / Q5_1:
// q - 16) and the activations come as unsigned bytes a + 128; per row and block
//   sum (a + 128) v - 128 sum v = sum a v             (exact in int32; 128 sum v is unpacked with v)
// and from sum a v the format's own integer sum (sum a q = sum a v + offset * sum a): every integer the
// tile kernels compute, then their float operations in their order — the results are bit-identical to
// the tiles' and the scalar mirror's. int16 limits: |2 * 255 * v| per vpmaddubsw lane pair, so int16 sums
// are widened every 8 (|v| <= 8), 4 (|v| <= 16) or 2 (|v| <= 32) chunks.
//
// Loop nest per call (one thread's rows): rows in passes of kPanelGroups 8-row groups; per pass, K in
// chunks of kPanelBlocks blocks whose panel (4 x 16 x 256 B = 16 KiB) is unpacked once and then read by
// every token, one token at a time (its partial sums wait in a [tokens][32] buffer between chunks, so
// each row's float accumulation still runs in block order).

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_r8_tiles.h"
#include "kernels/cpu/gemm_r8_k23.h"
#include "kernels/cpu/gemm_r8_iq1.h"

namespace dsinfer::kern {
namespace {

constexpr int kPanelGroups = 4;        // 8-row groups per pass (registers: 4 sums + 4 accumulators)
constexpr int64_t kPanelBlocks = 16;   // 32-value K blocks per panel: 16 KiB of values, L1-resident

// One chunk's panel: per (block, group) 8 chunk vectors of signed values, the rows' 128 * sum v, the
// format's float scales and (Q6_K) int16 scale pairs. Slots bi * kPanelGroups + g; the values of the two
// groups of a pair (g even, g + 1) are interleaved per chunk, [pair][chunk][g % 2][32 B], so that one 512-bit
// load takes a chunk of 16 rows (gemm_r8_panels_zmm.h); corr / f0 / f1 of a pair are 16 lanes in a row as
// they stand.
struct SignedPanel {
  static constexpr int64_t kSlots = kPanelBlocks * kPanelGroups;
  static_assert(kPanelGroups % 2 == 0, "slots pair up");
  alignas(64) int8_t v[kSlots * 8][32];
  alignas(64) int32_t corr[kSlots][8];
  alignas(64) float f0[kSlots][8];   // d (Q4_0, Q6_K) or d * scale (Q4_K, Q5_K)
  alignas(64) float f1[kSlots][8];   // dmin * min (Q4_K, Q5_K)
  alignas(32) int16_t sc[kSlots][2][16];  // Q6_K: per 16-value half, lanes 2i, 2i+1 = row i's scale
  alignas(64) int32_t sc32[kSlots * 2][8];  // the same scales as int32, [pair][half][g % 2][row] (512-bit dots)
  alignas(32) int16_t mn[kSlots][16];     // Q2_K: lanes 2i, 2i+1 = row i's two 4-bit mins
  static int64_t slot(int64_t bi, int g) { return bi * kPanelGroups + g; }
  int32_t* scales32(int64_t slot, int half) { return sc32[(slot & ~int64_t{1}) * 2 + 2 * half + (slot & 1)]; }
  const int32_t* scales32(int64_t slot, int half) const {
    return sc32[(slot & ~int64_t{1}) * 2 + 2 * half + (slot & 1)];
  }
  // chunk c of slot's 8 rows (32 B); with slot even, the pair's 16 rows (64 B)
  int8_t* values(int64_t slot, int c) { return v[(slot & ~int64_t{1}) * 8 + 2 * c + (slot & 1)]; }
  const int8_t* values(int64_t slot, int c) const { return v[(slot & ~int64_t{1}) * 8 + 2 * c + (slot & 1)]; }
};

// The 8 chunk vectors v of a slot into the panel, and its corr: 128 * (per row) sum of v — with the
// slot's int16 scales (Q6_K, Q3_K, Q2_K) each half's sum is multiplied by the rows' scales first. The sums
// are taken from the registers as each chunk is stored: v never goes through memory (with v in an array
// that a helper reads, GCC kept a stack copy of it and stored every chunk twice).
[[gnu::always_inline]] inline void store_values(SignedPanel& p, int64_t slot, __m256i v[8], bool scaled) {
  int8_t* dst = p.values(slot, 0);  // chunk c at dst + 64 c (a pair's chunks side by side)
  const __m256i ones8 = _mm256_set1_epi8(1);
  __m256i s16[2];
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) {
    asm("" : "+x"(v[c]));  // (else the stores become a memcpy from a stack copy of v, in 16-byte moves)
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 64 * c), v[c]);
    const __m256i prod = _mm256_maddubs_epi16(ones8, v[c]);
    s16[c / 4] = c % 4 == 0 ? prod : _mm256_add_epi16(s16[c / 4], prod);
  }
  __m256i m[2] = {_mm256_set1_epi16(1), _mm256_set1_epi16(1)};
  if (scaled)
    for (int half = 0; half < 2; ++half) m[half] = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.sc[slot][half]));
  const __m256i s32 = _mm256_add_epi32(_mm256_madd_epi16(s16[0], m[0]), _mm256_madd_epi16(s16[1], m[1]));
  _mm256_store_si256(reinterpret_cast<__m256i*>(p.corr[slot]), _mm256_slli_epi32(s32, 7));
}

// SignedPanel::sc32 from sc for a slot (int16 lane pairs (s, s) read as int32 and shifted: s).
inline void int32_scales(SignedPanel& p, int64_t slot) {
  for (int half = 0; half < 2; ++half)
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.scales32(slot, half)),
                       _mm256_srai_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.sc[slot][half])), 16));
}

// Formats (Dot: the set's dot, shared with the tile kernels they fall back to):
//   kWiden       chunks per int16 sum
//   kOffset      sum a q = sum a v + kOffset * sum a
//   kMin         the Q4_K/Q5_K dmin term
//   kScaled      Q6_K, Q3_K, Q2_K: int16 scales applied when widening
//   kMin16       Q2_K: its two mins per block times the token's half sums (SignedPanel::mn)
//   kBlockBytes  bytes per 32 values of a group
//   kZmmMinTokens  the 512-bit panels run from this many tokens on; below, the 512-bit pair tiles
//                (gemm_r8_pairs_zmm.h) or, for the formats without them, the tiles are faster (gemm_bench, one
//                thread, Zen 4, GMAC/s, pair tiles against panels: Q4_0 and Q8_0 at 16 tokens 164 / 158
//                against 152 / 147; Q4_K, Q5_0, Q5_1, IQ4_XS at 8 118 / 138 / 122 / 146 against 112 / 124 /
//                109 / 131 and at 12 118 / 141 / 122 / 144 against 123 / 138 / 121 / 145; Q5_K at 8 97 / 97;
//                Q6_K at 4 86 (tiles 70), at 6 75 against 80; Q3_K at 8 / 12 96 / 97 against 94 / 107; Q2_K at
//                8 / 16 98 / 98 against 86 / 100)
//   unpack(p, slot, group, b)  block b of the 8-row group at `group` into slot
// Q4_0_R8, Q5_0_R8, Q5_1_R8: v = q - 8 (Q4_0) or q - 16 (Q5); the tiles' integer is sum a v for Q4_0
// and Q5_0 (their offset is already in it) and sum a v + 16 sum a for Q5_1, whose + m term is the
// panel's "- dmin * min" with f1 = -m (an exact negation: the same fused rounding).
template <class Dot, int kBits, bool kMinTerm>
struct PanelNibble {
  using Tile = NibbleR8<Dot, kBits, kMinTerm>;
  static constexpr size_t kBlockBytes = Tile::kBlock;  // per 32 values of the group's 8 rows
  static constexpr int kWiden = kBits == 5 ? 4 : 8, kOffset = kMinTerm ? 16 : 0;
  static constexpr bool kMin = kMinTerm, kScaled = false, kMin16 = false;
  static constexpr int64_t kZmmMinTokens = kBits == 4 ? 17 : 12;  // (Q4_0 at 48: panels 167, pair tiles 157)
  [[gnu::always_inline]] static void unpack(SignedPanel& p, int64_t slot, const uint8_t* group, int64_t b) {
    const uint8_t* blk = group + b * Tile::kBlock;
    _mm256_store_ps(p.f0[slot], row_scales(blk));
    if constexpr (kMinTerm) _mm256_store_ps(p.f1[slot], _mm256_sub_ps(_mm256_setzero_ps(), row_scales(blk + 16)));
    const __m256i off = _mm256_set1_epi8(kBits == 5 ? 16 : 8);
    __m256i v[8];
    Tile::values(blk, v);
    for (int c = 0; c < 8; ++c) v[c] = _mm256_sub_epi8(v[c], off);
    store_values(p, slot, v, false);
  }
};

template <class Dot, bool kFifthBit>
struct PanelQK45 {
  using Tile = QK45R8<Dot, kFifthBit>;
  static constexpr size_t kBlockBytes = Tile::kBlock / 8;
  static constexpr int kWiden = kFifthBit ? 4 : 8, kOffset = kFifthBit ? 16 : 8;
  static constexpr bool kMin = true, kScaled = false, kMin16 = false;
  static constexpr int64_t kZmmMinTokens = kFifthBit ? 8 : 12;
  [[gnu::always_inline]] static void unpack(SignedPanel& p, int64_t slot, const uint8_t* group, int64_t b) {
    const uint8_t* blk = group + (b / 8) * Tile::kBlock;
    const int g = static_cast<int>(b % 8);
    auto bytes8 = [](const uint8_t* q) {
      return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))));
    };
    _mm256_store_ps(p.f0[slot], _mm256_mul_ps(row_scales(blk), bytes8(blk + 32 + 8 * g)));
    _mm256_store_ps(p.f1[slot], _mm256_mul_ps(row_scales(blk + 16), bytes8(blk + 96 + 8 * g)));
    const __m256i off = _mm256_set1_epi8(kOffset);
    __m256i v[8];
    for (int c = 0; c < 8; ++c) v[c] = _mm256_sub_epi8(Tile::values(blk, g, c), off);
    store_values(p, slot, v, false);
  }
};

template <class Dot>
struct PanelQ6_K {
  using Tile = Q6_KR8<Dot>;
  static constexpr size_t kBlockBytes = Tile::kBlock / 8;
  static constexpr int kWiden = 2, kOffset = 0;
  static constexpr bool kMin = false, kScaled = true, kMin16 = false;
  static constexpr int64_t kZmmMinTokens = 6;
  [[gnu::always_inline]] static void unpack(SignedPanel& p, int64_t slot, const uint8_t* group, int64_t b) {
    const uint8_t* blk = group + (b / 8) * Tile::kBlock;
    const int h = static_cast<int>(b % 8) / 4, quarter = static_cast<int>(b % 4);
    _mm256_store_ps(p.f0[slot], row_scales(blk));
    for (int half = 0; half < 2; ++half) {
      const uint8_t* s = blk + 16 + 8 * (8 * h + 2 * quarter + half);
      const __m128i x = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(p.sc[slot][half]),
                         _mm256_set_m128i(_mm_unpackhi_epi16(x, x), _mm_unpacklo_epi16(x, x)));
    }
    const __m256i k32 = _mm256_set1_epi8(32);
    __m256i v[8];
    for (int c = 0; c < 8; ++c) v[c] = _mm256_sub_epi8(Tile::values(blk, h, quarter, c), k32);
    store_values(p, slot, v, true);
  }
};

// Q3_K_R8 (kQ3): v = q - 4 (|v| <= 4); Q2_K_R8: v = q (0..3, a valid signed factor as it is). Per-16 scales
// as Q6_K's, int16 sums widened once per 16 values; Q2_K's per-16 mins (kMin16) are the tiles' last FMA:
// acc -= float(m_0 a_0 + m_1 a_1) * dmin d_a, with the token's half sums a_0, a_1.
template <class Dot, bool kQ3>
struct PanelQ23_K {
  using Tile = Q23_KR8<Dot, kQ3>;
  static constexpr size_t kBlockBytes = Tile::kBlock / 8;
  static constexpr int kWiden = 4, kOffset = 0;
  static constexpr bool kMin = false, kScaled = true, kMin16 = !kQ3;
  static constexpr int64_t kZmmMinTokens = kQ3 ? 10 : 16;
  [[gnu::always_inline]] static void unpack(SignedPanel& p, int64_t slot, const uint8_t* group, int64_t b) {
    const uint8_t* blk = group + (b / 8) * Tile::kBlock;
    const int j = static_cast<int>(b % 8);
    _mm256_store_ps(p.f0[slot], row_scales(blk));
    const auto f = Tile::factors(blk, j);
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.sc[slot][0]), f.sc0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.sc[slot][1]), f.sc1);
    if constexpr (!kQ3) {
      _mm256_store_ps(p.f1[slot], row_scales(blk + 16));
      _mm256_store_si256(reinterpret_cast<__m256i*>(p.mn[slot]), f.pair);
    }
    __m256i v[8];
    for (int c = 0; c < 8; ++c) {
      v[c] = Tile::values(blk, j, c);
      if constexpr (kQ3) v[c] = _mm256_sub_epi8(v[c], _mm256_set1_epi8(4));
    }
    store_values(p, slot, v, true);
  }
};

// Q8_0_R8, int32 dots only (VNNI): the values are the weights themselves (v = q, |v| <= 128), and
// (a + 128) * v pairs would overflow vpmaddubsw's int16 sums, so the AVX2 set keeps the tiles.
template <class Dot>
struct PanelQ8_0 {
  static_assert(!Dot::kInt16, "Q8_0 panels need int32 dots");
  using Tile = Q8_0R8<Dot>;
  static constexpr size_t kBlockBytes = Tile::kBlock;
  static constexpr int kWiden = 8, kOffset = 0;
  static constexpr bool kMin = false, kScaled = false, kMin16 = false;
  static constexpr int64_t kZmmMinTokens = 17;
  [[gnu::always_inline]] static void unpack(SignedPanel& p, int64_t slot, const uint8_t* group, int64_t b) {
    const uint8_t* blk = group + b * Tile::kBlock;
    _mm256_store_ps(p.f0[slot], row_scales(blk));
    __m256i v[8];
    for (int c = 0; c < 8; ++c) v[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
    store_values(p, slot, v, false);
  }
};

// IQ4_NL_R8 / IQ4_XS_R8 (int32 dots only: values up to 127 against a + 128 would overflow int16 pairs): v =
// the table values, f0 = the tiles' factor (d, or d * scale).
template <class Dot, bool kXS>
struct PanelIQ4 {
  using Tile = IQ4R8<Dot, kXS>;
  static constexpr size_t kBlockBytes = Tile::kBlock / Tile::kGroups;
  static constexpr int kWiden = 1, kOffset = 0;
  static constexpr bool kMin = false, kScaled = false, kMin16 = false;
  static constexpr int64_t kZmmMinTokens = 12;
  [[gnu::always_inline]] static void unpack(SignedPanel& p, int64_t slot, const uint8_t* group, int64_t b) {
    const uint8_t* blk = group + (b / Tile::kGroups) * Tile::kBlock;
    const int g = static_cast<int>(b % Tile::kGroups);
    _mm256_store_ps(p.f0[slot], Tile::factor(blk, g));
    __m256i v[8], unused[8];
    iq4_values(Tile::chunks(blk, g), v, unused);
    store_values(p, slot, v, false);
  }
};

// Q2_K's token half sums as the int16 pair (a_0, a_1) that vpmaddwd meets with a row's two mins.
inline int32_t min16_pair(int32_t first16, int32_t sum) {
  const int32_t a0 = first16, a1 = sum - a0;
  return static_cast<int32_t>((static_cast<uint32_t>(a1) << 16) | (static_cast<uint32_t>(a0) & 0xffff));
}

// Blocks [0, nbc) of the panel (G groups) · one token: au its unsigned activations of those blocks, d / s
// their scales and sums (first16: of the first 16 values, for Q2_K); out[g * 8 + row] accumulates.
template <class F, int G>
void panel_token(const SignedPanel& p, int64_t nbc, const uint8_t* au, const float* d, const int32_t* s,
                 const int32_t* first16, float* out) {
  using Dot = typename F::Tile::DotOps;
  __m256 acc[G];
  for (int g = 0; g < G; ++g) acc[g] = _mm256_loadu_ps(out + 8 * g);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t bi = 0; bi < nbc; ++bi) {
    const int32_t* a32 = reinterpret_cast<const int32_t*>(au + 32 * bi);
    const int64_t s0 = SignedPanel::slot(bi, 0);
    __m256i s16[G] = {}, s32[G] = {};  // (each set by its first chunk)
    if constexpr (!Dot::kInt16 && !F::kScaled) {
      // int32 dots: even and odd chunks in two chains per group (8 in flight hide vpdpbusd's latency)
      __m256i ch[G][2] = {};
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const __m256i bc = _mm256_set1_epi32(a32[c]);
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
          const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.values(s0 + g, c)));
          ch[g][c % 2] = c < 2 ? Dot::first(bc, w) : Dot::add(ch[g][c % 2], bc, w);
        }
      }
      for (int g = 0; g < G; ++g) s32[g] = Dot::join(ch[g][0], ch[g][1]);
    } else {
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const __m256i bc = _mm256_set1_epi32(a32[c]);
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
          const __m256i prod =
              _mm256_maddubs_epi16(bc, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.values(s0 + g, c))));
          s16[g] = c % F::kWiden == 0 ? prod : _mm256_add_epi16(s16[g], prod);
          // Keeps GCC from reassociating the sums into a tree of live products (it would spill them).
          asm("" : "+v"(s16[g]));
          if (c % F::kWiden == F::kWiden - 1) {
            __m256i m = ones;
            if constexpr (F::kScaled)
              m = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.sc[s0 + g][c / 4]));
            const __m256i part = _mm256_madd_epi16(s16[g], m);
            s32[g] = c < F::kWiden ? part : _mm256_add_epi32(s32[g], part);
          }
        }
      }
    }
    const __m256 da = _mm256_set1_ps(d[bi]);
    __m256i offset_sum = _mm256_setzero_si256();
    __m256 dmin_sum = _mm256_setzero_ps();
    if constexpr (F::kOffset != 0) offset_sum = _mm256_set1_epi32(F::kOffset * s[bi]);
    if constexpr (F::kMin) dmin_sum = _mm256_set1_ps(d[bi] * static_cast<float>(s[bi]));
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const int64_t sl = s0 + g;
      __m256i sum = _mm256_sub_epi32(s32[g], _mm256_load_si256(reinterpret_cast<const __m256i*>(p.corr[sl])));
      if constexpr (F::kOffset != 0) sum = _mm256_add_epi32(sum, offset_sum);
      acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(_mm256_load_ps(p.f0[sl]), da), acc[g]);
      if constexpr (F::kMin) acc[g] = _mm256_fnmadd_ps(_mm256_load_ps(p.f1[sl]), dmin_sum, acc[g]);
      if constexpr (F::kMin16) {
        const __m256i asum = _mm256_set1_epi32(min16_pair(first16[bi], s[bi]));
        const __m256i m32 = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.mn[sl])), asum);
        acc[g] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m32), _mm256_mul_ps(_mm256_load_ps(p.f1[sl]), da), acc[g]);
      }
    }
  }
  for (int g = 0; g < G; ++g) _mm256_storeu_ps(out + 8 * g, acc[g]);
}

// The token kernels of the 256-bit sets, one token per call (gemm_r8_panels_zmm.h has the 512-bit ones). A
// Tokens policy takes up to kStep tokens per call: n of them, their activations, scales, sums and outputs.
struct YmmTokens {
  static constexpr int kStep = 1;
  static constexpr bool kInt32Scales = false;  // reads SignedPanel::sc32 (per-16 scales as int32)
  template <class F>
  static constexpr int64_t min_tokens() { return 12; }  // panels from here on (gemm_bench, one thread: below, the tiles win)
  template <class F>  // below them
  static void tiles(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
    gemm_r8<typename F::Tile>(w, row_bytes, n_rows, a, y, ldy);
  }
  template <class F, int G>
  [[gnu::always_inline]] static void tokens(const SignedPanel& p, int64_t nbc, int /*n*/, const uint8_t* const au[],
                                            const float* const d[], const int32_t* const s[],
                                            const int32_t* const first16[], float* const out[]) {
    panel_token<F, G>(p, nbc, au[0], d[0], s[0], first16[0], out[0]);
  }
};

// Rows [r, r + 8G) (G groups from `groups`, group_bytes apart) · all tokens into y.
template <class F, int G, class Tokens>
void panel_pass(const uint8_t* groups, size_t group_bytes, const ActQ8& a, const uint8_t* au, SignedPanel& p,
                float* part, float* y, int64_t ldy) {
  std::fill(part, part + a.n_tok * G * 8, 0.0f);
  for (int64_t b0 = 0; b0 < a.nb; b0 += kPanelBlocks) {
    const int64_t nbc = std::min(kPanelBlocks, a.nb - b0);
    for (int64_t bi = 0; bi < nbc; ++bi)
      for (int g = 0; g < G; ++g) {
        const uint8_t* group = groups + g * group_bytes;
        F::unpack(p, SignedPanel::slot(bi, g), group, b0 + bi);
        if constexpr (F::kScaled && Tokens::kInt32Scales) int32_scales(p, SignedPanel::slot(bi, g));
        prefetch_ahead<F::kBlockBytes>(group + (b0 + bi) * F::kBlockBytes);  // streamed weights (decode steps)
      }
    for (int64_t t0 = 0; t0 < a.n_tok; t0 += Tokens::kStep) {
      const int n = static_cast<int>(std::min<int64_t>(Tokens::kStep, a.n_tok - t0));
      const uint8_t* aus[Tokens::kStep];
      const float* ds[Tokens::kStep];
      const int32_t *ss[Tokens::kStep], *f16s[Tokens::kStep];
      float* outs[Tokens::kStep];
      for (int i = 0; i < n; ++i) {
        const int64_t t = t0 + i;
        aus[i] = au + t * a.K + b0 * 32;
        ds[i] = a.dt(t) + b0;
        ss[i] = a.sumt(t) + b0;
        f16s[i] = a.sum16t(t) + b0;
        outs[i] = part + t * G * 8;
      }
      Tokens::template tokens<F, G>(p, nbc, n, aus, ds, ss, f16s, outs);
    }
  }
  for (int64_t t = 0; t < a.n_tok; ++t) std::memcpy(y + t * ldy, part + t * G * 8, G * 8 * sizeof(float));
}

// The QuantGemmFn of format F: panels from Tokens::min_tokens<F>() tokens on (below, the tiles are faster:
// gemm_bench, one thread), F::Tile's kernels below.
template <class F, class Tokens = YmmTokens>
void gemm_panels(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  static_assert(Tokens::template min_tokens<F>() >= kPanelMinTokens, "the panels read ActQ8::u");
  if (a.n_tok < Tokens::template min_tokens<F>()) return Tokens::template tiles<F>(w, row_bytes, n_rows, a, y, ldy);
  thread_local std::vector<float> part_buf;
  thread_local SignedPanel panel;  // (reached without a call: the build's initial-exec TLS model, CMakeLists.txt)
  part_buf.resize(static_cast<size_t>(a.n_tok * kPanelGroups * kGroup));
  const size_t group_bytes = kGroup * row_bytes;
  for (int64_t r = 0; r < n_rows; r += kPanelGroups * kGroup) {
    const uint8_t* groups = w + (r / kGroup) * group_bytes;
    const uint8_t* au = a.u.data();  // a + 128 (finish_tiles)
    float* part = part_buf.data();
    switch (std::min<int64_t>(kPanelGroups, (n_rows - r) / kGroup)) {
      case 4: panel_pass<F, 4, Tokens>(groups, group_bytes, a, au, panel, part, y + r, ldy); break;
      case 3: panel_pass<F, 3, Tokens>(groups, group_bytes, a, au, panel, part, y + r, ldy); break;
      case 2: panel_pass<F, 2, Tokens>(groups, group_bytes, a, au, panel, part, y + r, ldy); break;
      default: panel_pass<F, 1, Tokens>(groups, group_bytes, a, au, panel, part, y + r, ldy); break;
    }
  }
}

// The formats without panels (IQ1_S_R8, IQ1_M_R8): Tokens' tiles at every token count.
template <class L>
struct TilesIQ1 {
  using Tile = L;
  static constexpr size_t kBlockBytes = L::kBlock / 8;  // per 32 values of a group
};
template <class F, class Tokens>
void tiles_only(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  Tokens::template tiles<F>(w, row_bytes, n_rows, a, y, ldy);
}

// `base` with its R8 entries built on `Dot` and named `isa`: panels from Tokens::min_tokens<F>() tokens on, their
// tokens run by `Tokens` (Q8_0, IQ4_NL and IQ4_XS with int16 dots: tiles only, their values do not fit the
// int16 panels).
template <class Dot, class Tokens = YmmTokens>
KernelSet with_r8_kernels(KernelSet base, const char* isa) {
  base.isa = isa;
  base.q4_0_r8 = gemm_panels<PanelNibble<Dot, 4, false>, Tokens>;
  base.q5_0_r8 = gemm_panels<PanelNibble<Dot, 5, false>, Tokens>;
  base.q5_1_r8 = gemm_panels<PanelNibble<Dot, 5, true>, Tokens>;  // (with Q5_1's + m term)
  if constexpr (Dot::kInt16)
    base.q8_0_r8 = gemm_r8<Q8_0R8<Dot>>;
  else
    base.q8_0_r8 = gemm_panels<PanelQ8_0<Dot>, Tokens>;
  base.q4_k_r8 = gemm_panels<PanelQK45<Dot, false>, Tokens>;
  base.q5_k_r8 = gemm_panels<PanelQK45<Dot, true>, Tokens>;
  base.q6_k_r8 = gemm_panels<PanelQ6_K<Dot>, Tokens>;
  base.q2_k_r8 = gemm_panels<PanelQ23_K<Dot, false>, Tokens>;
  base.q3_k_r8 = gemm_panels<PanelQ23_K<Dot, true>, Tokens>;
  if constexpr (Dot::kInt16) {
    base.iq4_nl_r8 = gemm_r8<IQ4R8<Dot, false>>;
    base.iq4_xs_r8 = gemm_r8<IQ4R8<Dot, true>>;
  } else {
    base.iq4_nl_r8 = gemm_panels<PanelIQ4<Dot, false>, Tokens>;
    base.iq4_xs_r8 = gemm_panels<PanelIQ4<Dot, true>, Tokens>;
  }
  base.iq1_s_r8 = tiles_only<TilesIQ1<IQ1SR8<Dot>>, Tokens>;  // (no panels)
  base.iq1_m_r8 = tiles_only<TilesIQ1<IQ1MR8<Dot>>, Tokens>;
  return base;
}

}  // namespace
}  // namespace dsinfer::kern
