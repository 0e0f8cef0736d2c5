#pragma once
// Non-owning views of tensors that live in a memory-mapped file or a buffer someone else owns.
// Shapes are outermost-first (PyTorch order); a weight matrix is [out_features, in_features] and each
// row is stored contiguously in the dtype's on-disk block layout, so kernels can read it in place.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace dsinfer {

namespace gpu {
struct Matrix;  // kernels/cuda/gpu.h
}

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first
  const void* data = nullptr;
  size_t nbytes = 0;
  // F8_E4M3 only: float32 scales [ceil(rows/128), ceil(cols/128)] ("weight_scale_inv"); the weight is
  // fp8 value * scale of its 128x128 block (multiplied, despite the name).
  const float* block_scale = nullptr;
  // A copy of the whole matrix in GPU memory, set when the model placed it there (model/gpu_placement.h):
  // the forward pass then runs its products on the GPU (model/linear.h). The host data stays valid.
  const gpu::Matrix* gpu = nullptr;

  int64_t numel() const;
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }  // innermost dimension
  int64_t rows() const { return cols() == 0 ? 0 : numel() / cols(); }
  size_t row_bytes() const { return dtype_row_bytes(dtype, cols()); }
  const uint8_t* row_ptr(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes(); }
  // A view of rows [begin, begin+count) of the flattened [rows, cols] matrix (FP8 views keep the scale
  // pointer and are only valid for whole 128-row blocks).
  TensorView slice_rows(int64_t begin, int64_t count) const;
  // The bytes the shape and dtype imply; loaders compare it with what the file holds.
  size_t expected_bytes() const;
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[128, 512, 16]"

// Dequantizes rows [row_begin, row_begin + n_rows) of w into dst ([n_rows, cols] float32), applying
// FP8 block scales. Reference path; kernels have faster ones.
void dequantize_rows(const TensorView& w, int64_t row_begin, int64_t n_rows, float* dst);

// The whole tensor as float32.
std::vector<float> to_f32(const TensorView& w);

}  // namespace dsinfer
