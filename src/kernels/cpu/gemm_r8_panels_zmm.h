#pragma once
// The R8 prefill panels' token kernel on 512-bit vectors (AVX-512 VNNI set only: include from *_avx512.cpp),
// and Q4_0's tiles below the panels on the same pairs of row groups (nibble_pair_tile).
//
// Why: on Zen 4 a 512-bit vpdpbusd does 64 byte products in the time a 256-bit one does 32 to 40 (one
// core: 222 against 132 GMAC/s in a dependency-free loop), and the 256-bit panel kernel already ran at
// the 256-bit instruction's peak (Q4_0_R8, 128 tokens: 128 GMAC/s). Here one zmm holds a chunk of a *pair*
// of 8-row groups (SignedPanel keeps each pair's chunks side by side), each weight vector is loaded once
// for two tokens, and the block's float tail runs on 16 rows at once. Formats with per-16 scales (Q6_K,
// Q3_K, Q2_K) take int32 dots too: each 16-value half's sum times the rows' int32 scale (vpmulld) — the
// integer the 256-bit sets reach with vpmaddubsw + vpmaddwd, exactly.
//
// Exactness: every lane computes the integers and then the float operations of panel_token
// (gemm_r8_panels.h) in the same order, so the results are those of the 256-bit kernels and the scalar
// mirror bit for bit.

#include <immintrin.h>

#include <type_traits>

#include "kernels/cpu/gemm_r8_panels.h"

// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*() (a self-initialized variable),
// which -Wmaybe-uninitialized reports once per instantiation: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace dsinfer::kern {
namespace {

// Blocks [0, nbc) of the panel (G groups) · T tokens, as panel_token per token: each weight vector is loaded
// once for the T tokens (one load per T dots: with the weights as the dot's memory operand, a 512-bit
// load per dot, the loads and not the dots set the pace on Zen 4). A G odd last group runs on 256 bits.
template <class F, int G, int T>
void panel_tokens_zmm(const SignedPanel& p, int64_t nbc, const uint8_t* const au[T], const float* const d[T],
                      const int32_t* const s[T], const int32_t* const f16[T], float* const out[T]) {
  constexpr int P = G / 2;  // group pairs, one zmm each
  constexpr bool kOdd = G % 2 == 1;
  // two independent sums per (pair, token) for vpdpbusd's latency: even / odd chunks, or with per-16 scales
  // the two halves
  auto chain = [](int c) { return F::kScaled ? c / 4 : c % 2; };
  auto first = [](int c) { return F::kScaled ? c % 4 == 0 : c < 2; };
  __m512 acc[T][P > 0 ? P : 1];
  __m256 acc_odd[T];
  for (int t = 0; t < T; ++t) {
    for (int gp = 0; gp < P; ++gp) acc[t][gp] = _mm512_loadu_ps(out[t] + 16 * gp);
    if constexpr (kOdd) acc_odd[t] = _mm256_loadu_ps(out[t] + 16 * P);
  }
  for (int64_t bi = 0; bi < nbc; ++bi) {
    const int64_t s0 = SignedPanel::slot(bi, 0);
    __m512i ch[T][P > 0 ? P : 1][2];
    __m256i cho[T][2];
#pragma GCC unroll 8
    for (int c = 0; c < 8; ++c) {
      __m512i bc[T];
      for (int t = 0; t < T; ++t) bc[t] = _mm512_set1_epi32(reinterpret_cast<const int32_t*>(au[t] + 32 * bi)[c]);
#pragma GCC unroll 2
      for (int gp = 0; gp < P; ++gp) {
        __m512i w = _mm512_load_si512(p.values(s0 + 2 * gp, c));
        if constexpr (T > 1) asm("" : "+v"(w));  // one load for the T dots (GCC would fold it into each)
        for (int t = 0; t < T; ++t) {
          __m512i& sum = ch[t][gp][chain(c)];
          sum = _mm512_dpbusd_epi32(first(c) ? _mm512_setzero_si512() : sum, bc[t], w);
        }
      }
      if constexpr (kOdd) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.values(s0 + 2 * P, c)));
        for (int t = 0; t < T; ++t)
          cho[t][chain(c)] = _mm256_dpbusd_epi32(first(c) ? _mm256_setzero_si256() : cho[t][chain(c)],
                                                     _mm512_castsi512_si256(bc[t]), w);
      }
    }
    for (int t = 0; t < T; ++t) {
      const float dbi = d[t][bi];
      const int32_t sbi = s[t][bi];
#pragma GCC unroll 2
      for (int gp = 0; gp < P; ++gp) {
        const int64_t sl = s0 + 2 * gp;
        __m512i sum;
        if constexpr (F::kScaled)
          sum = _mm512_add_epi32(_mm512_mullo_epi32(ch[t][gp][0], _mm512_load_si512(p.scales32(sl, 0))),
                                 _mm512_mullo_epi32(ch[t][gp][1], _mm512_load_si512(p.scales32(sl, 1))));
        else
          sum = _mm512_add_epi32(ch[t][gp][0], ch[t][gp][1]);
        sum = _mm512_sub_epi32(sum, _mm512_load_si512(p.corr[sl]));
        if constexpr (F::kOffset != 0) sum = _mm512_add_epi32(sum, _mm512_set1_epi32(F::kOffset * sbi));
        acc[t][gp] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum),
                                     _mm512_mul_ps(_mm512_load_ps(p.f0[sl]), _mm512_set1_ps(dbi)), acc[t][gp]);
        if constexpr (F::kMin)
          acc[t][gp] =
              _mm512_fnmadd_ps(_mm512_load_ps(p.f1[sl]), _mm512_set1_ps(dbi * static_cast<float>(sbi)), acc[t][gp]);
        if constexpr (F::kMin16) {
          const __m512i m32 =
              _mm512_madd_epi16(_mm512_load_si512(p.mn[sl]), _mm512_set1_epi32(min16_pair(f16[t][bi], sbi)));
          acc[t][gp] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m32),
                                        _mm512_mul_ps(_mm512_load_ps(p.f1[sl]), _mm512_set1_ps(dbi)), acc[t][gp]);
        }
      }
      if constexpr (kOdd) {
        const int64_t sl = s0 + 2 * P;
        __m256i sum;
        if constexpr (F::kScaled)
          sum = _mm256_add_epi32(
              _mm256_mullo_epi32(cho[t][0], _mm256_load_si256(reinterpret_cast<const __m256i*>(p.scales32(sl, 0)))),
              _mm256_mullo_epi32(cho[t][1], _mm256_load_si256(reinterpret_cast<const __m256i*>(p.scales32(sl, 1)))));
        else
          sum = _mm256_add_epi32(cho[t][0], cho[t][1]);
        sum = _mm256_sub_epi32(sum, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.corr[sl])));
        if constexpr (F::kOffset != 0) sum = _mm256_add_epi32(sum, _mm256_set1_epi32(F::kOffset * sbi));
        acc_odd[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum),
                                     _mm256_mul_ps(_mm256_load_ps(p.f0[sl]), _mm256_set1_ps(dbi)), acc_odd[t]);
        if constexpr (F::kMin)
          acc_odd[t] =
              _mm256_fnmadd_ps(_mm256_load_ps(p.f1[sl]), _mm256_set1_ps(dbi * static_cast<float>(sbi)), acc_odd[t]);
        if constexpr (F::kMin16) {
          const __m256i m32 = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.mn[sl])),
                                                _mm256_set1_epi32(min16_pair(f16[t][bi], sbi)));
          acc_odd[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m32),
                                        _mm256_mul_ps(_mm256_load_ps(p.f1[sl]), _mm256_set1_ps(dbi)), acc_odd[t]);
        }
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int gp = 0; gp < P; ++gp) _mm512_storeu_ps(out[t] + 16 * gp, acc[t][gp]);
    if constexpr (kOdd) _mm256_storeu_ps(out[t] + 16 * P, acc_odd[t]);
  }
}

// Q4_0_R8 rows of the 8-row groups at g0 and g1 (16 rows) · kT tokens from t0 (2-16 tokens in all: the experts
// and, at 16 streams, the dense weights of a batched decode step): NibbleR8::tile on 512-bit vectors, one zmm = a chunk of both groups, so each token's 8
// dots and float tail cover 16 rows (the 256-bit tile runs at ~90 % of the 256-bit vpdpbusd peak from 3
// tokens on, and a 512-bit one does 1.7x the products per unit time on Zen 4). Per row the integers and the
// float operations are the tile's, in block order: the same results bit for bit.
template <class Tile, int kT>
void nibble_pair_tile(const uint8_t* g0, const uint8_t* g1, const ActQ8& a, int64_t t0, float* y, int64_t ldy,
                      bool prefetch) {
  static_assert(Tile::kBlock == 144 && Tile::kOffset == 8, "Q4_0_R8");
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    const uint8_t* b0 = g0 + b * Tile::kBlock;
    const uint8_t* b1 = g1 + b * Tile::kBlock;
    if (prefetch) {
      prefetch_ahead<Tile::kBlock>(b0);
      prefetch_ahead<Tile::kBlock>(b1);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1)), 1));
    __m512i v[8];  // v[k]: values 4k..4k+3 of the 16 rows (group g0's 8 lanes, then g1's)
    for (int c = 0; c < 4; ++c) {
      const __m512i x = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 16 + 32 * c))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 16 + 32 * c)), 1);
      v[c] = _mm512_and_si512(x, m4);
      v[4 + c] = _mm512_and_si512(_mm512_srli_epi16(x, 4), m4);
    }
    for (int t = 0; t < kT; ++t) {
      const int32_t* a32 = reinterpret_cast<const int32_t*>(a.qt(t0 + t) + b * 32);
      // two chains (low / high nibbles); the first starts at - 8 sum a
      __m512i lo = _mm512_dpbusd_epi32(_mm512_set1_epi32(-Tile::kOffset * a.sumt(t0 + t)[b]), v[0], _mm512_set1_epi32(a32[0]));
      __m512i hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v[4], _mm512_set1_epi32(a32[4]));
      for (int k = 1; k < 4; ++k) {
        lo = _mm512_dpbusd_epi32(lo, v[k], _mm512_set1_epi32(a32[k]));
        hi = _mm512_dpbusd_epi32(hi, v[4 + k], _mm512_set1_epi32(a32[4 + k]));
      }
      const __m512i s32 = _mm512_add_epi32(lo, hi);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s32), _mm512_mul_ps(dw, _mm512_set1_ps(a.dt(t0 + t)[b])), acc[t]);
    }
  }
  for (int t = 0; t < kT; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

template <class Tile, int kT>
void nibble_pair_last(int64_t rest, const uint8_t* g0, const uint8_t* g1, const ActQ8& a, int64_t t0, float* y,
                      int64_t ldy) {
  if constexpr (kT > 0) {
    if (rest == kT) return nibble_pair_tile<Tile, kT>(g0, g1, a, t0, y, ldy, t0 == 0);
    nibble_pair_last<Tile, kT - 1>(rest, g0, g1, a, t0, y, ldy);
  }
}

// Q4_0_R8 below the panels: one token on the 256-bit tile (one weight stream per core: from DRAM a decode
// step is faster so), 2+ tokens on pairs of row groups in 512-bit tiles of up to 4 tokens (an odd last group
// on the 256-bit tiles).
template <class Tile>
void gemm_nibble_pairs(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  if (a.n_tok < 2) return gemm_r8<Tile>(w, row_bytes, n_rows, a, y, ldy);
  constexpr int kT = 4;
  const size_t group_bytes = kGroup * row_bytes;
  const int64_t full = a.n_tok / kT * kT, rest = a.n_tok - full;
  int64_t r = 0;
  for (; r + 2 * kGroup <= n_rows; r += 2 * kGroup) {
    const uint8_t* g0 = w + (r / kGroup) * group_bytes;
    for (int64_t t = 0; t < full; t += kT)
      nibble_pair_tile<Tile, kT>(g0, g0 + group_bytes, a, t, y + t * ldy + r, ldy, t == 0);
    nibble_pair_last<Tile, kT - 1>(rest, g0, g0 + group_bytes, a, full, y + full * ldy + r, ldy);
  }
  if (r < n_rows) gemm_r8<Tile>(w + (r / kGroup) * group_bytes, row_bytes, n_rows - r, a, y + r, ldy);
}

// Tokens policy of gemm_panels / with_r8_kernels: 512-bit, two tokens at a time, for the int32-dot sets.
struct ZmmTokens {
  static constexpr bool kInt32Scales = true;
  static constexpr int kStep = 2;  // tokens per call (panel_pass hands fewer only at the end; 4 ran no faster)
  template <class F>
  static constexpr int64_t min_tokens() { return F::kZmmMinTokens; }  // panels from here on (per format)
  // below them: Q4_0 on pairs of row groups, the other formats on their tiles
  template <class F>
  static void tiles(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
    using Tile = typename F::Tile;
    if constexpr (std::is_same_v<Tile, NibbleR8<typename Tile::DotOps, 4, false>>)
      gemm_nibble_pairs<Tile>(w, row_bytes, n_rows, a, y, ldy);
    else
      gemm_r8<Tile>(w, row_bytes, n_rows, a, y, ldy);
  }
  template <class F, int G>
  [[gnu::always_inline]] static void tokens(const SignedPanel& p, int64_t nbc, int n, const uint8_t* const au[],
                                            const float* const d[], const int32_t* const s[],
                                            const int32_t* const first16[], float* const out[]) {
    static_assert(!F::Tile::DotOps::kInt16, "512-bit panels take int32 dots");
    if (n == 2)
      panel_tokens_zmm<F, G, 2>(p, nbc, au, d, s, first16, out);
    else
      panel_tokens_zmm<F, G, 1>(p, nbc, au, d, s, first16, out);
  }
};

}  // namespace
}  // namespace dsinfer::kern

#pragma GCC diagnostic pop
