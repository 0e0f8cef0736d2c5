#pragma once
// Small float32 vector primitives used by the reference kernels and the forward pass.

#include <cmath>
#include <cstdint>

namespace dsinfer {

// Sum of a[i]*b[i], accumulated in 8 independent float lanes (vectorizable, deterministic order).
inline float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y += a * x
inline void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

inline float silu(float z) { return z / (1.0f + std::exp(-z)); }
inline float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

}  // namespace dsinfer
