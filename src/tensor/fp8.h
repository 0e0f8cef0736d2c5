#pragma once
// Block-FP8 (DeepSeek-V3 checkpoint format): e4m3 weights with one float32 scale per 128x128 block.

#include <cstdint>
#include <vector>

namespace dsinfer {

// Quantizes w [rows, cols] like DeepSeek's checkpoints: per 128x128 block, scale = amax / 448 (1 if the
// block is all zero), q = e4m3(w / scale). q gets rows*cols bytes, scales [ceil(rows/128), ceil(cols/128)].
void fp8_quantize_matrix(const float* w, int64_t rows, int64_t cols, std::vector<uint8_t>& q,
                         std::vector<float>& scales);

}  // namespace dsinfer
