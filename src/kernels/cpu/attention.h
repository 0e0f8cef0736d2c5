#pragma once
// MLA attention over the latent cache in the absorbed form (spec 6): every query head attends directly
// to the cached latent rows [c_kv | k_pe] (L = rkv + dr values per token). The kernels take the key
// rows as pointers (the cache is paged) and handle all H heads per key row, so a row is read from
// memory once per query token whatever H is.

#include <cstdint>

namespace dsinfer {

// s[h * lds + j] = scale * (q[h, :] · keys[j][:L]) for h < H, j < n; q is [H, L] = [q_abs | q_pe].
void mla_scores(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale, float* s,
                int64_t lds);

// out[h * ldo + c] = sum_j p[h * lds + j] * keys[j][c] for c in [c0, c1) (overwrites those columns).
void mla_values(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0, int64_t c1,
                float* out, int64_t ldo);

// In-place softmax of one row of scores: ops.h's softmax (std::exp) on the reference matmul path, the
// kernel set's (polynomial exp, rel. error ~2e-7) otherwise.
void attention_softmax(float* x, int64_t n);

// The same over an f16 cache (keys are IEEE half bits), with the same float operations on the converted
// values.
void mla_scores(const float* q, int64_t H, int64_t L, const uint16_t* const* keys, int64_t n, float scale, float* s,
                int64_t lds);
void mla_values(const float* p, int64_t lds, int64_t H, const uint16_t* const* keys, int64_t n, int64_t c0, int64_t c1,
                float* out, int64_t ldo);

}  // namespace dsinfer
