#pragma once
// DeepSeekMoE (spec 3, 7): the router (model.py Gate), SwiGLU experts (Expert / MLP) and the combine.

#include <cstdint>
#include <vector>

#include "model/model_config.h"
#include "model/weights.h"
#include "util/thread_pool.h"

namespace dsinfer {

// out[T, D] = down(silu(gate(x)) * up(x)) for x [T, D]; out is overwritten.
void mlp_forward(ThreadPool& pool, const MlpWeights& w, const float* x, int64_t n_tok, float* out);

struct Routing {
  int64_t k = 0;
  std::vector<int32_t> experts;  // [T, K] selected experts, ascending per token
  std::vector<float> weights;    // [T, K] their combine weights (normalized / scaled as configured)
};

// The router for x [T, D]: scores, optional group limiting, top-K, weights (spec 7.1 a/b/c).
Routing gate_forward(ThreadPool& pool, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n_tok);

// out[T, D] = sum_k w_k * Expert_k(x) + Shared(x). Tokens are grouped by expert so each expert runs
// once over all of its tokens. Returns the routing (for traces).
Routing moe_forward(ThreadPool& pool, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n_tok,
                    float* out);

}  // namespace dsinfer
