#pragma once
// Matrix products against weights in their on-disk dtype and block layout. This is the ONE dtype
// dispatch point: the forward pass calls these for every weight, whatever its dtype.
// Conventions: W is [N, K] row-major (PyTorch [out_features, in_features]); activations are float32.
//
// Paths. kFast (default): GGML block weights run integer kernels on activations quantized to int8
// per 32 values (results differ from the float product by the activation rounding, ~0.3% relative per
// dot product); float weights (F32/F16/BF16/FP8) run fp32 FMA kernels. kReference: dequantize to float
// and take float dot products (the original definition; used by tests). DSINFER_MATMUL=reference in the
// environment selects it at start-up.

#include <cstdint>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "tensor/tensor.h"
#include "util/thread_pool.h"

namespace dsinfer {

// kScalar: the kFast algorithm (int8 activations, same integer sums) on the scalar kernel set, the
// reference the SIMD kernels are checked against end to end.
enum class MatmulPath { kFast, kScalar, kReference };
void set_matmul_path(MatmulPath p);  // process-wide
MatmulPath matmul_path();
// The kernel set the current path runs (the CPU's best for kFast, scalar otherwise).
const kern::KernelSet& matmul_kernels();

// y[t, n] = sum_k x[t, k] * W[row0 + n, k]   for t < n_tok, n < n_rows.   (x @ W[rows]^T)
// x has row stride ldx (>= K), y has row stride ldy (>= n_rows). Parallel over rows.
void matmul(ThreadPool& pool, const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
            int64_t n_tok, float* y, int64_t ldy);

// All rows: y[n_tok, N] = x[n_tok, K] @ W^T, dense strides.
inline void matmul(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tok, float* y) {
  matmul(pool, w, 0, w.rows(), x, w.cols(), n_tok, y, w.rows());
}

// Activations x [n_tok, K] prepared once for every weight of dtype `for_dtype` that reads them (quantized
// to int8 blocks when that dtype runs integer kernels). x must outlive the input. Buffers are reused
// between prepare() calls, so a long-lived MatmulInput does not allocate in steady state.
class MatmulInput {
 public:
  void prepare(const float* x, int64_t ldx, int64_t n_tok, int64_t K, DType for_dtype);
  // The same, by token ranges across the pool from kParallelPrepareTokens tokens on (a prefill's
  // activations are megabytes: on one thread they cost a 16-core prefill a large share of its time).
  void prepare(ThreadPool& pool, const float* x, int64_t ldx, int64_t n_tok, int64_t K, DType for_dtype);
  // Quantizes only tokens [t0, t1) and blocks [b0, b1) of 32 (the caller prepared the geometry with
  // prepare_shape and splits the work across threads), then finish() on one thread.
  void prepare_shape(const float* x, int64_t ldx, int64_t n_tok, int64_t K, DType for_dtype);
  void quantize_part(int64_t t0, int64_t t1, int64_t b0, int64_t b1);
  void finish();
  // Tokens tok[0..n) of x (row stride ldx) as a new input for dtype `for_dtype`. When `src` holds x
  // already quantized (same K) and for_dtype runs integer kernels, the int8 rows are copied instead
  // of re-quantizing; otherwise the float rows are copied into this input's own buffer.
  void gather(const MatmulInput& src, const float* x, int64_t ldx, const int32_t* tok, int64_t n, int64_t K,
              DType for_dtype);

  const float* x() const { return x_; }
  int64_t ldx() const { return ldx_; }
  int64_t n_tok() const { return n_tok_; }
  int64_t K() const { return K_; }
  bool quantized() const { return quantized_; }
  const kern::ActQ8& act() const { return act_; }

 private:
  const float* x_ = nullptr;
  int64_t ldx_ = 0, n_tok_ = 0, K_ = 0;
  bool quantized_ = false;
  kern::ActQ8 act_;
  std::vector<float> own_;  // gathered float rows
};

// Rows [row0, row0 + n_rows) of w against a prepared input, on the calling thread only (for callers that
// split work across the pool themselves): y[t * ldy + r] for r < n_rows.
void matmul_rows(const TensorView& w, int64_t row0, int64_t n_rows, const MatmulInput& in, float* y, int64_t ldy);

// Several weights that read the same x (MLA's q and kv_a projections): x is prepared once and one
// parallel sweep runs over all the weights' rows laid end to end. ys[i] is [n_tok, ws[i]->rows()].
void matmul_shared_input(ThreadPool& pool, const std::vector<const TensorView*>& ws, const float* x, int64_t ldx,
                         int64_t n_tok, const std::vector<float*>& ys);

// Rows per thread are multiples of this, so no kernel tile is split between threads.
constexpr int64_t kMatmulRowGrain = 16;
// From this many tokens on, activations are prepared across the pool (MatmulInput::prepare(pool, ...)),
// and so is the model's other per-token work (for_token_ranges in model/transformer.h).
constexpr int64_t kParallelPrepareTokens = 8;

// y[t, n] = sum_k x[t, k] * B[k, n] for float activations on both sides (the naive MLA form's Q K^T and
// P V): x [n_tok, K] row stride ldx, B [K, N] row stride ldb, y row stride ldy. Single-threaded, the
// current path's kernel set; one fma chain per output in k order, so SIMD and scalar agree bit for bit.
void matmul_f32_nn(const float* x, int64_t ldx, int64_t n_tok, const float* b, int64_t ldb, int64_t N, int64_t K,
                   float* y, int64_t ldy);

// y[t, k] = sum_n x[t, n] * W[row0 + n, k]   (x @ W[rows]), single-threaded; used for the MLA
// absorption with the HF kv_b_proj layout. x stride ldx (>= n_rows), y stride ldy (>= K).
void matmul_transposed(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
                       int64_t n_tok, float* y, int64_t ldy);

}  // namespace dsinfer
