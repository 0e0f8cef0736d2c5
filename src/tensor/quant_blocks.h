#pragma once
// GGML block formats (Q8_0, Q4_0, Q5_0, Q5_1, Q2_K .. Q6_K): reference dequantize/quantize of whole rows.
// Called through quant.h; n must be a multiple of the block size (checked, throws Error).

#include <cstdint>

#include "tensor/dtype.h"

namespace dsinfer {

void dequantize_blocks(DType t, const void* src, float* dst, int64_t n);
void quantize_blocks(DType t, const float* src, void* dst, int64_t n);

}  // namespace dsinfer
