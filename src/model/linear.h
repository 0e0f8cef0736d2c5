#pragma once
// y = x W^T wherever W is: on the GPU when the model placed it there (TensorView::gpu, model/gpu_placement.h),
// else the CPU kernels (kernels/cpu/matmul.h). The forward pass calls these for every weight it reads whole
// by rows; per-head slices (MLA's kv_b) and row lookups (the embedding) stay on the CPU.

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"
#include "util/thread_pool.h"

namespace dsinfer {

struct MlpWeights;

// y[t * ldy + n] = sum_k x[t * ldx + k] * W[row0 + n, k]   for t < n_tok, n < n_rows.
void linear(ThreadPool& pool, const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
            int64_t n_tok, float* y, int64_t ldy);

// All rows, dense strides: y [n_tok, N] = x [n_tok, K] @ W^T.
inline void linear(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tok, float* y) {
  linear(pool, w, 0, w.rows(), x, w.cols(), n_tok, y, w.rows());
}

// Several weights that read the same x (MLA's q and kv_a projections): one CPU sweep over those on the
// CPU (matmul_shared_input), one GPU product for each placed one. ys[i] is [n_tok, ws[i]->rows()].
void linear_shared_input(ThreadPool& pool, const std::vector<const TensorView*>& ws, const float* x, int64_t ldx,
                         int64_t n_tok, const std::vector<float*>& ys);

// The MLP's three matrices are all on the GPU (then mlp_forward / moe_forward run it there).
bool on_gpu(const MlpWeights& w);

}  // namespace dsinfer
