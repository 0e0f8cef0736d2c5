// BF16 weights on CPUs with AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4 on): activations are rounded
// to bf16 (nearest even) once per call and vdpbf16ps multiplies 32 pairs per instruction into 16 fp32
// lanes — 4x the multiply-adds per instruction of converting the weights to fp32 for 8-lane FMAs. The
// price is the activation rounding (relative 2^-9 per element, like the int8 path of the quantized
// types), so the set says so (KernelSet::bf16_rounds_activations) and the kernel is checked against its
// scalar mirror bf16_dot_scalar() (gemm_scalar.cpp) within float rounding, not bit for bit: the order in
// which the instruction rounds its two products is the hardware's.
//
// Tiles: 4 rows x up to 4 tokens, 32 values of K per step (masked loads for the tail, zeros beyond K),
// lanes summed at the end.

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace dsinfer::kern {
namespace {

// x [n_tok, K] (stride ldx) -> bf16 pairs [n_tok, K32], zero-padded to a multiple of 32.
void to_bf16(const float* x, int64_t ldx, int64_t n_tok, int64_t K, int64_t K32, std::vector<uint16_t>& out) {
  out.resize(static_cast<size_t>(n_tok * K32));
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t k = 0; k < K32; k += 32) {
      const int64_t n = std::clamp<int64_t>(K - k, 0, 32);
      const __mmask16 lo = static_cast<__mmask16>(n >= 16 ? 0xffff : (1u << n) - 1);
      const __mmask16 hi = static_cast<__mmask16>(n >= 32 ? 0xffff : n <= 16 ? 0 : (1u << (n - 16)) - 1);
      const __m512 a = _mm512_maskz_loadu_ps(lo, x + t * ldx + k);
      const __m512 b = _mm512_maskz_loadu_ps(hi, x + t * ldx + k + 16);
      _mm512_storeu_si512(out.data() + t * K32 + k, (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
}

inline float lane_sum(__m512 v) {  // lanes in order, as the scalar mirror sums them
  alignas(64) float l[16];
  _mm512_store_ps(l, v);
  float s = 0.0f;
  for (float x : l) s += x;
  return s;
}

template <int NT>
void tile(const uint8_t* const* wr, int64_t K, const uint16_t* xb, int64_t K32, float* out) {
  __m512 acc[4][NT];
  for (int r = 0; r < 4; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K32; k += 32) {
    const int64_t n = std::min<int64_t>(K - k, 32);
    const __mmask32 m = n >= 32 ? 0xffffffffu : (1u << n) - 1;
    __m512bh w[4];
    for (int r = 0; r < 4; ++r)
      w[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(wr[r]) + k);
    for (int t = 0; t < NT; ++t) {
      const __m512bh xv = (__m512bh)_mm512_loadu_si512(xb + t * K32 + k);
      for (int r = 0; r < 4; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], w[r], xv);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int t = 0; t < NT; ++t) out[r * NT + t] = lane_sum(acc[r][t]);
}

void gemm_bf16_dot(const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x, int64_t ldx,
                   int64_t n_tok, const float* /*scale: FP8 only*/, float* y, int64_t ldy) {
  const int64_t K32 = (K + 31) / 32 * 32;
  thread_local std::vector<uint16_t> xb;
  to_bf16(x, ldx, n_tok, K, K32, xb);
  float out[16];
  for (int64_t r = 0; r < n_rows; r += 4) {
    const uint8_t* wr[4];
    const int nr = static_cast<int>(std::min<int64_t>(4, n_rows - r));
    for (int i = 0; i < 4; ++i) wr[i] = w + std::min(r + i, n_rows - 1) * row_bytes;
    for (int64_t t = 0; t < n_tok; t += 4) {
      const int nt = static_cast<int>(std::min<int64_t>(4, n_tok - t));
      const uint16_t* xt = xb.data() + t * K32;
      switch (nt) {
        case 4: tile<4>(wr, K, xt, K32, out); break;
        case 3: tile<3>(wr, K, xt, K32, out); break;
        case 2: tile<2>(wr, K, xt, K32, out); break;
        default: tile<1>(wr, K, xt, K32, out); break;
      }
      for (int i = 0; i < nr; ++i)
        for (int j = 0; j < nt; ++j) y[(t + j) * ldy + r + i] = out[i * nt + j];
    }
  }
}

}  // namespace

FloatGemmFn bf16_dot_avx512bf16() {
  return gemm_bf16_dot;
}

}  // namespace dsinfer::kern
