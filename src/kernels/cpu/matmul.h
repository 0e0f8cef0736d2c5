#pragma once
// Matrix products against weights in their on-disk dtype and block layout. This is the ONE dtype
// dispatch point: the forward pass calls these for every weight, whatever its dtype.
// Conventions: W is [N, K] row-major (PyTorch [out_features, in_features]); activations are float32.

#include <cstdint>

#include "tensor/tensor.h"
#include "util/thread_pool.h"

namespace dsinfer {

// y[t, n] = sum_k x[t, k] * W[row0 + n, k]   for t < n_tok, n < n_rows.   (x @ W[rows]^T)
// x has row stride ldx (>= K), y has row stride ldy (>= n_rows). Parallel over rows.
void matmul(ThreadPool& pool, const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
            int64_t n_tok, float* y, int64_t ldy);

// All rows: y[n_tok, N] = x[n_tok, K] @ W^T, dense strides.
inline void matmul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tok, float* y) {
  matmul(pool, w, 0, w.rows(), x, w.cols(), n_tok, y, w.rows());
}

// y[t, k] = sum_n x[t, n] * W[row0 + n, k]   (x @ W[rows]), single-threaded; used for the MLA
// absorption with the HF kv_b_proj layout. x stride ldx (>= n_rows), y stride ldy (>= K).
void matmul_transposed(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
                       int64_t n_tok, float* y, int64_t ldy);

}  // namespace dsinfer
