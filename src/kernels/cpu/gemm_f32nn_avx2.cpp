// AVX2 float x [T, K] @ B [K, N] (gemm.h, FloatNnFn): register tiles of up to 6 tokens x 16 columns.
//
// Per k a tile loads B's 16 values (2 vectors), broadcasts 6 token values and does 12 FMAs into 12
// accumulators (+ 2 B + 1 broadcast = 15 of 16 registers): 8 loads per 12 FMAs, so the FMA pipes, not
// the load ports, set the pace. K runs in blocks of kKBlock so one 16-column strip of B (16 KiB) stays
// in L1 while every token group reads it; a tile of a later K block continues from the partial sums it
// stored (a float round trip is exact), so each output is still one fma chain in k order — the scalar
// mirror's (gemm_scalar.cpp, f32_nn_scalar) bit for bit.

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/gemm.h"

namespace dsinfer::kern {
namespace {

constexpr int64_t kKBlock = 256;
constexpr int kMaxTok = 6;

// Tokens [0, NT) x columns [0, 8 NV) of y, over k in [k0, k1); `first`: start from 0, else from y.
template <int NT, int NV>
void tile(const float* x, int64_t ldx, const float* b, int64_t ldb, int64_t k0, int64_t k1, bool first, float* y,
          int64_t ldy) {
  __m256 acc[NT][NV];
#pragma GCC unroll 6
  for (int t = 0; t < NT; ++t)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[t][v] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(y + t * ldy + 8 * v);
  for (int64_t k = k0; k < k1; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + k * ldb + 8 * v);
#pragma GCC unroll 6
    for (int t = 0; t < NT; ++t) {
      const __m256 xt = _mm256_broadcast_ss(x + t * ldx + k);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[t][v] = _mm256_fmadd_ps(xt, bv[v], acc[t][v]);
    }
  }
#pragma GCC unroll 6
  for (int t = 0; t < NT; ++t)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + t * ldy + 8 * v, acc[t][v]);
}

template <int NV>
void tile_tokens(int nt, const float* x, int64_t ldx, const float* b, int64_t ldb, int64_t k0, int64_t k1, bool first,
                 float* y, int64_t ldy) {
  switch (nt) {
    case 6: return tile<6, NV>(x, ldx, b, ldb, k0, k1, first, y, ldy);
    case 5: return tile<5, NV>(x, ldx, b, ldb, k0, k1, first, y, ldy);
    case 4: return tile<4, NV>(x, ldx, b, ldb, k0, k1, first, y, ldy);
    case 3: return tile<3, NV>(x, ldx, b, ldb, k0, k1, first, y, ldy);
    case 2: return tile<2, NV>(x, ldx, b, ldb, k0, k1, first, y, ldy);
    default: return tile<1, NV>(x, ldx, b, ldb, k0, k1, first, y, ldy);
  }
}

void f32_nn_avx2(const float* x, int64_t ldx, int64_t n_tok, const float* b, int64_t ldb, int64_t N, int64_t K,
                 float* y, int64_t ldy) {
  if (K == 0) {
    for (int64_t t = 0; t < n_tok; ++t) std::fill_n(y + t * ldy, N, 0.0f);
    return;
  }
  // One strip of B (a K block x 16 columns), copied contiguous: B's rows are often a power of two of
  // floats apart, and read in place a strip's lines would all fall into a few L1 sets.
  alignas(32) static thread_local float strip[kKBlock * 16];
  const int64_t n16 = N / 16 * 16, n8 = N / 8 * 8;
  for (int64_t k0 = 0; k0 < K; k0 += kKBlock) {
    const int64_t k1 = std::min(K, k0 + kKBlock);
    const bool first = k0 == 0;
    for (int64_t n = 0; n < n8;) {
      const int width = n < n16 ? 16 : 8;
      for (int64_t k = k0; k < k1; ++k)
        for (int v = 0; v < width; v += 8)
          _mm256_store_ps(strip + (k - k0) * width + v, _mm256_loadu_ps(b + k * ldb + n + v));
      const float* sb = strip - k0 * width;  // strip row k - k0 holds B's row k
      for (int64_t t = 0; t < n_tok; t += kMaxTok) {
        const int nt = static_cast<int>(std::min<int64_t>(kMaxTok, n_tok - t));
        if (width == 16)
          tile_tokens<2>(nt, x + t * ldx, ldx, sb, 16, k0, k1, first, y + t * ldy + n, ldy);
        else
          tile_tokens<1>(nt, x + t * ldx, ldx, sb, 8, k0, k1, first, y + t * ldy + n, ldy);
      }
      n += width;
    }
    for (int64_t t = 0; t < n_tok; ++t)  // the last N % 8 columns
      for (int64_t n = n8; n < N; ++n) {
        float acc = first ? 0.0f : y[t * ldy + n];
        for (int64_t k = k0; k < k1; ++k) acc = std::fma(x[t * ldx + k], b[k * ldb + n], acc);
        y[t * ldy + n] = acc;
      }
  }
}

}  // namespace

FloatNnFn f32_nn_avx2_fn() {
  return f32_nn_avx2;
}

}  // namespace dsinfer::kern
