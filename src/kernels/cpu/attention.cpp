#include "kernels/cpu/attention.h"

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec.h"

namespace dsinfer {
namespace kern {

void mla_scores_scalar(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale,
                       float* s, int64_t lds) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t h = 0; h < H; ++h) s[h * lds + j] = dot_f32(q + h * L, keys[j], L) * scale;
}

void mla_values_scalar(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0,
                       int64_t c1, float* out, int64_t ldo) {
  for (int64_t h = 0; h < H; ++h) {
    float* o = out + h * ldo;
    for (int64_t c = c0; c < c1; ++c) o[c] = 0.0f;
    for (int64_t j = 0; j < n; ++j) axpy_f32(p[h * lds + j], keys[j] + c0, o + c0, c1 - c0);
  }
}

}  // namespace kern

void mla_scores(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale, float* s,
                int64_t lds) {
  kern::active_kernels().mla_scores(q, H, L, keys, n, scale, s, lds);
}

void mla_values(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0, int64_t c1,
                float* out, int64_t ldo) {
  kern::active_kernels().mla_values(p, lds, H, keys, n, c0, c1, out, ldo);
}

}  // namespace dsinfer
