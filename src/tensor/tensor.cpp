#include "tensor/tensor.h"

#include "tensor/interleave.h"
#include "tensor/quant.h"
#include "util/error.h"

namespace dsinfer {

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t TensorView::expected_bytes() const { return static_cast<size_t>(rows()) * row_bytes(); }

TensorView TensorView::slice_rows(int64_t begin, int64_t count) const {
  if (is_interleaved(dtype) && (begin % kInterleaveRows != 0 || count % kInterleaveRows != 0))
    fail("'", name, "' is interleaved by ", kInterleaveRows, " rows: cannot view rows [", begin, ", ", begin + count, ")");
  TensorView v = *this;
  v.data = row_ptr(begin);
  v.shape = {count, cols()};
  v.nbytes = static_cast<size_t>(count) * row_bytes();
  v.gpu = nullptr;  // the GPU copy is of the whole matrix
  if (dtype == DType::F8_E4M3 && block_scale) {
    const int64_t scale_cols = (cols() + kFp8BlockSize - 1) / kFp8BlockSize;
    v.block_scale = block_scale + (begin / kFp8BlockSize) * scale_cols;
  }
  return v;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void dequantize_rows(const TensorView& w, int64_t row_begin, int64_t n_rows, float* dst) {
  const int64_t n = w.cols();
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t row = row_begin + r;
    float* out = dst + r * n;
    if (is_interleaved(w.dtype)) {
      thread_local std::vector<uint8_t> plain;
      plain.resize(w.row_bytes());
      const int64_t group = row / kInterleaveRows * kInterleaveRows;
      deinterleave_row(w.dtype, w.row_ptr(group), n, static_cast<int>(row - group), plain.data());
      dequantize_row(plain_of(w.dtype), plain.data(), out, n);
      continue;
    }
    dequantize_row(w.dtype, w.row_ptr(row), out, n);
    if (w.dtype == DType::F8_E4M3) {
      if (!w.block_scale) fail("fp8 tensor '", w.name, "' has no weight_scale_inv");
      const int64_t scale_cols = (n + kFp8BlockSize - 1) / kFp8BlockSize;
      const float* s = w.block_scale + (row / kFp8BlockSize) * scale_cols;
      for (int64_t c = 0; c < n; ++c) out[c] *= s[c / kFp8BlockSize];
    }
  }
}

std::vector<float> to_f32(const TensorView& w) {
  std::vector<float> out(static_cast<size_t>(w.numel()));
  dequantize_rows(w, 0, w.rows(), out.data());
  return out;
}

}  // namespace dsinfer
