// Scalar kernels of the grid i-quants (tensor/quant_iq_grid.h), the mirror of gemm_iq_grid_avx2.cpp: each
// 32-value group is decoded to signed integers w and half scales s (iq_grid_group), and lane l of the 8 float
// accumulators takes (2 s + 1) * sum of w q over elements 4l .. 4l+3 — the AVX2 kernel's vpmaddubsw /
// vpmaddwd lanes — times the group's d * step * d_a, folded as the SIMD horizontal sum. Same integers, same
// float operations in the same order: the two agree bit for bit.

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_blocks.h"
#include "tensor/quant_iq_grid.h"

namespace dsinfer::kern {
namespace {

template <DType T>
float dot_iq_grid(const uint8_t* w, int64_t nb, const int8_t* q, const float* d) {
  constexpr float kStep = 1.0f / kIQGridStepInv<T>;
  const size_t bytes = dtype_block_bytes(T);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    const uint8_t* blk = w + sb * static_cast<int64_t>(bytes);
    const float dd = iq_grid_d<T>(blk) * kStep;
    for (int g = 0; g < 8; ++g) {
      const int64_t b = sb * 8 + g;
      int8_t v[32];
      int s[2];
      iq_grid_group<T>(blk, g, v, s);
      const int8_t* qa = q + b * 32;
      const float scale = dd * d[b];
      for (int l = 0; l < 8; ++l) {
        int32_t sum = 0;
        for (int i = 4 * l; i < 4 * l + 4; ++i) sum += v[i] * qa[i];
        acc[l] = std::fma(static_cast<float>((2 * s[l / 4] + 1) * sum), scale, acc[l]);
      }
    }
  }
  return hsum8(acc);
}

template <DType T>
void gemm_iq_grid(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t t = 0; t < a.n_tok; ++t) y[t * ldy + r] = dot_iq_grid<T>(w + r * row_bytes, a.nb, a.qt(t), a.dt(t));
}

}  // namespace

void iq_grid_scalar(IQGridKernels& k) {
  k[iq_grid_slot(DType::IQ2_XXS)] = gemm_iq_grid<DType::IQ2_XXS>;
  k[iq_grid_slot(DType::IQ2_XS)] = gemm_iq_grid<DType::IQ2_XS>;
  k[iq_grid_slot(DType::IQ2_S)] = gemm_iq_grid<DType::IQ2_S>;
  k[iq_grid_slot(DType::IQ3_XXS)] = gemm_iq_grid<DType::IQ3_XXS>;
  k[iq_grid_slot(DType::IQ3_S)] = gemm_iq_grid<DType::IQ3_S>;
  k[iq_grid_slot(DType::IQ1_S)] = gemm_iq_grid<DType::IQ1_S>;
  k[iq_grid_slot(DType::IQ1_M)] = gemm_iq_grid<DType::IQ1_M>;
}

}  // namespace dsinfer::kern
