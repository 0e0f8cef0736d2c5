#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/vec.h"
#include "util/error.h"

namespace dsinfer {
namespace {

constexpr int64_t kRowChunk = 16;  // rows dequantized at once; small enough to stay in L1/L2

}  // namespace

void matmul(ThreadPool& pool, const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
            int64_t n_tok, float* y, int64_t ldy) {
  const int64_t K = w.cols();
  if (row0 < 0 || row0 + n_rows > w.rows()) fail("matmul: rows [", row0, ", ", row0 + n_rows, ") outside '", w.name, "'");
  if (w.dtype == DType::F32) {
    pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* wr = reinterpret_cast<const float*>(w.row_ptr(row0 + r));
        for (int64_t t = 0; t < n_tok; ++t) y[t * ldy + r] = dot_f32(wr, x + t * ldx, K);
      }
    }, kRowChunk);
    return;
  }
  pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> buf(static_cast<size_t>(kRowChunk * K));
    for (int64_t c0 = r0; c0 < r1; c0 += kRowChunk) {
      const int64_t nc = std::min(kRowChunk, r1 - c0);
      dequantize_rows(w, row0 + c0, nc, buf.data());
      for (int64_t t = 0; t < n_tok; ++t)
        for (int64_t r = 0; r < nc; ++r) y[t * ldy + c0 + r] = dot_f32(buf.data() + r * K, x + t * ldx, K);
    }
  }, kRowChunk);
}

void matmul_transposed(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
                       int64_t n_tok, float* y, int64_t ldy) {
  const int64_t K = w.cols();
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t t = 0; t < n_tok; ++t) std::fill(y + t * ldy, y + t * ldy + K, 0.0f);
  for (int64_t n = 0; n < n_rows; ++n) {
    dequantize_rows(w, row0 + n, 1, row.data());
    for (int64_t t = 0; t < n_tok; ++t) axpy_f32(x[t * ldx + n], row.data(), y + t * ldy, K);
  }
}

}  // namespace dsinfer
