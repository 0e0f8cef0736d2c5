#include "kernels/cpu/attention.h"

#include <cmath>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"
#include "tensor/half.h"

namespace dsinfer {
namespace kern {
namespace {

inline float key_value(const float* k, int64_t c) { return k[c]; }
inline float key_value(const uint16_t* k, int64_t c) { return f16_to_f32(k[c]); }

template <class K>
void scores(const float* q, int64_t H, int64_t L, const K* const* keys, int64_t n, float scale, float* s, int64_t lds) {
  // Mirrors the AVX2 kernel when L % 8 == 0: 8 lanes of FMAs over L, folded as the SIMD hsum.
  for (int64_t j = 0; j < n; ++j)
    for (int64_t h = 0; h < H; ++h) {
      const float* qh = q + h * L;
      if (L % 8 != 0) {
        float acc = 0;
        for (int64_t c = 0; c < L; ++c) acc += qh[c] * key_value(keys[j], c);
        s[h * lds + j] = acc * scale;
        continue;
      }
      float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t c = 0; c < L; ++c) l[c % 8] = std::fma(qh[c], key_value(keys[j], c), l[c % 8]);
      const float s0 = l[0] + l[4], s1 = l[1] + l[5], s2 = l[2] + l[6], s3 = l[3] + l[7];
      s[h * lds + j] = ((s0 + s2) + (s1 + s3)) * scale;
    }
}

template <class K>
void values(const float* p, int64_t lds, int64_t H, const K* const* keys, int64_t n, int64_t c0, int64_t c1,
            float* out, int64_t ldo) {
  for (int64_t h = 0; h < H; ++h) {
    float* o = out + h * ldo;
    for (int64_t c = c0; c < c1; ++c) o[c] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const float pj = p[h * lds + j];
      for (int64_t c = c0; c < c1; ++c) o[c] = std::fma(pj, key_value(keys[j], c), o[c]);
    }
  }
}

}  // namespace

void mla_scores_scalar(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale,
                       float* s, int64_t lds) {
  if (L % 8 != 0) {  // the historical reference: dot_f32's 8-lane order
    for (int64_t j = 0; j < n; ++j)
      for (int64_t h = 0; h < H; ++h) s[h * lds + j] = dot_f32(q + h * L, keys[j], L) * scale;
    return;
  }
  scores(q, H, L, keys, n, scale, s, lds);
}
void mla_scores_f16_scalar(const float* q, int64_t H, int64_t L, const uint16_t* const* keys, int64_t n, float scale,
                           float* s, int64_t lds) {
  scores(q, H, L, keys, n, scale, s, lds);
}
void mla_values_scalar(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0,
                       int64_t c1, float* out, int64_t ldo) {
  values(p, lds, H, keys, n, c0, c1, out, ldo);
}
void mla_values_f16_scalar(const float* p, int64_t lds, int64_t H, const uint16_t* const* keys, int64_t n, int64_t c0,
                           int64_t c1, float* out, int64_t ldo) {
  values(p, lds, H, keys, n, c0, c1, out, ldo);
}

}  // namespace kern

void attention_softmax(float* x, int64_t n) {
  if (matmul_path() == MatmulPath::kReference) return softmax(x, n);
  matmul_kernels().softmax(x, n);
}

void mla_scores(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale, float* s,
                int64_t lds) {
  matmul_kernels().mla_scores(q, H, L, keys, n, scale, s, lds);
}

void mla_values(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0, int64_t c1,
                float* out, int64_t ldo) {
  matmul_kernels().mla_values(p, lds, H, keys, n, c0, c1, out, ldo);
}

void mla_scores(const float* q, int64_t H, int64_t L, const uint16_t* const* keys, int64_t n, float scale, float* s,
                int64_t lds) {
  matmul_kernels().mla_scores_f16(q, H, L, keys, n, scale, s, lds);
}

void mla_values(const float* p, int64_t lds, int64_t H, const uint16_t* const* keys, int64_t n, int64_t c0, int64_t c1,
                float* out, int64_t ldo) {
  matmul_kernels().mla_values_f16(p, lds, H, keys, n, c0, c1, out, ldo);
}

}  // namespace dsinfer
