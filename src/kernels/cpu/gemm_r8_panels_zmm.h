#pragma once
// The R8 prefill panels' token kernel on 512-bit vectors (AVX-512 VNNI set only: include from *_avx512.cpp),
// and the Tokens policy that runs them (ZmmTokens; below the panels, the pair tiles of gemm_r8_pairs_zmm.h).
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

#include "kernels/cpu/gemm_r8_panels.h"
#include "kernels/cpu/gemm_r8_pairs_zmm.h"

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

// Tokens policy of gemm_panels / with_r8_kernels: 512-bit, two tokens at a time, for the int32-dot sets.
struct ZmmTokens {
  static constexpr bool kInt32Scales = true;
  static constexpr int kStep = 2;  // tokens per call (panel_pass hands fewer only at the end; 4 ran no faster)
  template <class F>
  static constexpr int64_t min_tokens() { return F::kZmmMinTokens; }  // panels from here on (per format)
  // below them: the 512-bit pair tiles (gemm_r8_pairs_zmm.h) where the format has them, else its tiles
  template <class F>
  static void tiles(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
    if constexpr (HasPairTiles<F>)
      gemm_pairs<F>(w, row_bytes, n_rows, a, y, ldy);
    else
      gemm_r8<typename F::Tile>(w, row_bytes, n_rows, a, y, ldy);
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
