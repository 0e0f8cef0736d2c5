#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/cpu/expert_mlp.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"
#include "kernels/cuda/gpu.h"
#include "model/linear.h"

namespace dsinfer {

namespace {

SwigluJob make_job(const MlpWeights& w) {
  SwigluJob j;
  j.gate = &w.gate;
  j.up = &w.up;
  j.down = &w.down;
  return j;
}

}  // namespace

void mlp_forward(ThreadPool& pool, const MlpWeights& w, const float* x, int64_t n_tok, float* out) {
  const int64_t D = w.gate.cols();
  if (on_gpu(w)) {
    gpu::Device& dev = *w.gate.gpu->device;
    dev.swiglu_start(*w.gate.gpu, *w.up.gpu, *w.down.gpu, x, D, n_tok);
    dev.swiglu_finish(out, D, false);
    return;
  }
  std::vector<SwigluJob> jobs{make_job(w)};  // all tokens, weight 1
  for (int64_t t = 0; t < n_tok; ++t) {
    jobs[0].tokens.push_back(static_cast<int32_t>(t));
    jobs[0].weights.push_back(1.0f);
  }
  std::fill(out, out + n_tok * D, 0.0f);
  swiglu_jobs(pool, x, D, n_tok, D, jobs, out, D);  // [T, D]
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

  // Group tokens by expert: one job per used expert over all of its tokens, then the shared expert
  // over every token, all in the same two sweeps (combine order: experts ascending, shared last).
  std::vector<SwigluJob> jobs;
  std::vector<int32_t> job_of(static_cast<size_t>(E), -1);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const int32_t e = r.experts[t * K + k];
      if (job_of[e] < 0) {
        job_of[e] = static_cast<int32_t>(jobs.size());
        jobs.push_back(make_job(w.experts[e]));
      }
      jobs[job_of[e]].tokens.push_back(static_cast<int32_t>(t));
      jobs[job_of[e]].weights.push_back(r.weights[t * K + k]);
    }
  std::vector<SwigluJob> ordered;  // experts ascending, as the reference combine adds them
  for (int64_t e = 0; e < E; ++e)
    if (job_of[e] >= 0) ordered.push_back(std::move(jobs[job_of[e]]));
  // A shared expert on the GPU runs there while the CPU runs the routed ones, and is added last.
  gpu::Device* shared_gpu = w.shared.present() && on_gpu(w.shared) ? w.shared.gate.gpu->device : nullptr;
  if (shared_gpu) shared_gpu->swiglu_start(*w.shared.gate.gpu, *w.shared.up.gpu, *w.shared.down.gpu, x, D, n_tok);
  const size_t n_routed = ordered.size();
  if (w.shared.present() && !shared_gpu) {
    ordered.push_back(make_job(w.shared));
    for (int64_t t = 0; t < n_tok; ++t) {
      ordered.back().tokens.push_back(static_cast<int32_t>(t));
      ordered.back().weights.push_back(1.0f);
    }
  }
  std::fill(out, out + n_tok * D, 0.0f);
  try {
    if (w.stream_gpu && n_tok >= w.stream_from_tokens) {  // a large batch: routed experts on the GPU
      std::vector<gpu::Device::ExpertJob> streamed;
      for (size_t i = 0; i < n_routed; ++i) {
        const SwigluJob& j = ordered[i];
        streamed.push_back({j.gate, j.up, j.down, j.tokens.data(), j.weights.data(),
                            static_cast<int64_t>(j.tokens.size())});
      }
      w.stream_gpu->stream_experts(pool, streamed, x, D, n_tok, out, D);
      ordered.erase(ordered.begin(), ordered.begin() + static_cast<std::ptrdiff_t>(n_routed));  // the CPU's shared job
    }
    if (!ordered.empty()) swiglu_jobs(pool, x, D, n_tok, D, ordered, out, D);
  } catch (...) {
    if (shared_gpu) shared_gpu->swiglu_finish(out, D, true);  // never leave it started
    throw;
  }
  if (shared_gpu) shared_gpu->swiglu_finish(out, D, true);
  return r;
}

}  // namespace dsinfer
