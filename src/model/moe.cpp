#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"

namespace dsinfer {

void mlp_forward(ThreadPool& pool, const MlpWeights& w, const float* x, int64_t n_tok, float* out) {
  const int64_t I = w.gate.rows();
  std::vector<float> g(static_cast<size_t>(n_tok * I)), u(g.size());
  matmul(pool, w.gate, x, n_tok, g.data());  // [T, I]
  matmul(pool, w.up, x, n_tok, u.data());    // [T, I]
  silu_mul(g.data(), u.data(), g.data(), n_tok * I);
  matmul(pool, w.down, g.data(), n_tok, out);  // [T, D]
}

Routing gate_forward(ThreadPool& pool, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n_tok) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, G = c.n_group;
  const int64_t per_group = E / G;
  std::vector<float> logits(static_cast<size_t>(n_tok * E));
  matmul(pool, w.router, x, n_tok, logits.data());  // [T, E], float32 (spec 7.3: fp32 router)

  Routing r;
  r.k = K;
  r.experts.resize(static_cast<size_t>(n_tok * K));
  r.weights.resize(static_cast<size_t>(n_tok * K));
  std::vector<float> scores(E), select(E), group_score(G);
  std::vector<int32_t> order(E), gorder(G);
  for (int64_t t = 0; t < n_tok; ++t) {
    std::copy_n(logits.data() + t * E, E, scores.data());
    if (c.scoring_func == ScoringFunc::kSoftmax) {
      softmax(scores.data(), E);
    } else {
      for (auto& s : scores) s = sigmoid(s);
    }
    // Selection uses the biased scores (noaux_tc); the weights always come from the unbiased ones
    // (model.py Gate.forward: `original_scores`).
    select = scores;
    if (!w.router_bias.empty())
      for (int64_t e = 0; e < E; ++e) select[e] += w.router_bias[e];

    if (c.topk_method != TopkMethod::kGreedy && G > 1) {
      for (int64_t g = 0; g < G; ++g) {
        const float* s = select.data() + g * per_group;
        if (c.topk_method == TopkMethod::kNoauxTc) {  // sum of the two largest in the group
          float a = -INFINITY, b = -INFINITY;
          for (int64_t i = 0; i < per_group; ++i) {
            if (s[i] > a) { b = a; a = s[i]; }
            else if (s[i] > b) b = s[i];
          }
          group_score[g] = a + b;
        } else {  // group_limited_greedy: max in group
          group_score[g] = *std::max_element(s, s + per_group);
        }
      }
      std::iota(gorder.begin(), gorder.end(), 0);
      std::stable_sort(gorder.begin(), gorder.end(), [&](int32_t a, int32_t b) { return group_score[a] > group_score[b]; });
      // Experts of the groups not kept can never be chosen (-inf, as model.py and llama.cpp do).
      std::vector<uint8_t> keep(G, 0);
      for (int64_t i = 0; i < c.topk_group; ++i) keep[gorder[i]] = 1;
      for (int64_t e = 0; e < E; ++e)
        if (!keep[e / per_group]) select[e] = -INFINITY;
    }
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int32_t a, int32_t b) {
      return select[a] > select[b] || (select[a] == select[b] && a < b);
    });
    std::sort(order.begin(), order.begin() + K);
    int32_t* idx = r.experts.data() + t * K;
    float* wt = r.weights.data() + t * K;
    float sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      idx[k] = order[k];
      wt[k] = scores[order[k]];
      sum += wt[k];
    }
    if (c.norm_topk_prob) {
      const float denom = sum + 1e-20f;
      for (int64_t k = 0; k < K; ++k) wt[k] /= denom;
    }
    for (int64_t k = 0; k < K; ++k) wt[k] *= static_cast<float>(c.routed_scaling_factor);
  }
  return r;
}

Routing moe_forward(ThreadPool& pool, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t n_tok,
                    float* out) {
  const int64_t D = c.hidden_size, E = c.n_routed_experts;
  Routing r = gate_forward(pool, c, w, x, n_tok);
  const int64_t K = r.k;

  // Group (token, slot) pairs by expert, then run each used expert once over its tokens.
  std::vector<std::vector<int64_t>> by_expert(static_cast<size_t>(E));
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t k = 0; k < K; ++k) by_expert[r.experts[t * K + k]].push_back(t * K + k);

  std::fill(out, out + n_tok * D, 0.0f);
  std::vector<float> xin, yout;
  for (int64_t e = 0; e < E; ++e) {
    const auto& slots = by_expert[e];
    if (slots.empty()) continue;
    const int64_t n = static_cast<int64_t>(slots.size());
    xin.resize(static_cast<size_t>(n * D));
    yout.resize(static_cast<size_t>(n * D));
    for (int64_t i = 0; i < n; ++i) std::copy_n(x + (slots[i] / K) * D, D, xin.data() + i * D);
    mlp_forward(pool, w.experts[e], xin.data(), n, yout.data());
    for (int64_t i = 0; i < n; ++i) axpy_f32(r.weights[slots[i]], yout.data() + i * D, out + (slots[i] / K) * D, D);
  }
  if (w.shared.present()) {
    std::vector<float> shared(static_cast<size_t>(n_tok * D));
    mlp_forward(pool, w.shared, x, n_tok, shared.data());
    for (int64_t i = 0; i < n_tok * D; ++i) out[i] += shared[i];
  }
  return r;
}

}  // namespace dsinfer
