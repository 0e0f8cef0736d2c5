#include "tensor/fp8.h"

#include <algorithm>
#include <cmath>

#include "tensor/dtype.h"
#include "tensor/half.h"

namespace dsinfer {

void fp8_quantize_matrix(const float* w, int64_t rows, int64_t cols, std::vector<uint8_t>& q,
                         std::vector<float>& scales) {
  const int64_t B = kFp8BlockSize;
  const int64_t br = (rows + B - 1) / B, bc = (cols + B - 1) / B;
  q.assign(static_cast<size_t>(rows * cols), 0);
  scales.assign(static_cast<size_t>(br * bc), 1.0f);
  for (int64_t i = 0; i < br; ++i) {
    for (int64_t j = 0; j < bc; ++j) {
      const int64_t r1 = std::min(rows, (i + 1) * B), c1 = std::min(cols, (j + 1) * B);
      float amax = 0;
      for (int64_t r = i * B; r < r1; ++r)
        for (int64_t c = j * B; c < c1; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      const float s = amax > 0 ? amax / 448.0f : 1.0f;
      scales[i * bc + j] = s;
      for (int64_t r = i * B; r < r1; ++r)
        for (int64_t c = j * B; c < c1; ++c) q[r * cols + c] = f32_to_fp8_e4m3(w[r * cols + c] / s);
    }
  }
}

}  // namespace dsinfer
