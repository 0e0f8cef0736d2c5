#include "model/transformer.h"

#include <algorithm>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/moe.h"
#include "util/error.h"

namespace dsinfer {

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights, ThreadPool& pool)
    : config_(config), weights_(weights), pool_(pool) {
  const auto& r = config.rope;
  inv_freq_ = rope_inv_freq(config.qk_rope_head_dim, config.rope_theta, r.yarn, r.factor, r.original_max_position,
                            r.beta_fast, r.beta_slow);
  rope_amplitude_ = static_cast<float>(config.rope_amplitude());
  softmax_scale_ = static_cast<float>(config.softmax_scale());
}

std::vector<float> Transformer::forward(const Batch& b, LatentKvCache& cache, ForwardTrace* trace) {
  const ModelConfig& c = config_;
  const int64_t T = b.size(), D = c.hidden_size, V = c.vocab_size;
  if (T == 0) return {};
  if (static_cast<int64_t>(b.positions.size()) != T || static_cast<int64_t>(b.seq_ids.size()) != T)
    fail("batch: tokens, positions and seq_ids differ in length");

  std::vector<float> h(static_cast<size_t>(T * D));  // [T, D] residual stream
  for (int64_t t = 0; t < T; ++t) {
    const int32_t id = b.tokens[t];
    if (id < 0 || id >= V) fail("token id ", id, " is out of range [0, ", V, ")");
    if (b.positions[t] < 0) fail("negative position ", b.positions[t]);
    dequantize_rows(weights_.embed, id, 1, h.data() + t * D);
  }
  if (trace) {
    trace->hidden.assign(1, h);
    trace->experts.assign(static_cast<size_t>(c.num_hidden_layers), {});
    trace->expert_weights.assign(static_cast<size_t>(c.num_hidden_layers), {});
  }

  const float eps = static_cast<float>(c.rms_norm_eps);
  std::vector<float> xn(h.size()), delta(h.size());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& lw = weights_.layers[l];
    // h += delta (tokens [t0, t1)), then xn = RMSNorm(h) with `norm`
    auto add_and_norm = [&](const std::vector<float>& norm, bool add) {
      for_token_ranges(pool_, T, [&](int64_t t0, int64_t t1) {
        if (add)
          for (int64_t i = t0 * D; i < t1 * D; ++i) h[static_cast<size_t>(i)] += delta[static_cast<size_t>(i)];
        rms_norm(h.data() + t0 * D, D, norm.data(), eps, t1 - t0, D, xn.data() + t0 * D, D);
      });
    };
    if (l == 0) add_and_norm(lw.attn_norm, false);
    attention(l, b, xn.data(), cache, delta.data());
    add_and_norm(lw.ffn_norm, true);
    if (c.is_moe_layer(l)) {
      Routing r = moe_forward(pool_, c, lw.moe, xn.data(), T, delta.data());
      if (trace) {
        auto& ex = trace->experts[l];
        auto& ew = trace->expert_weights[l];
        for (int64_t t = 0; t < T; ++t) {
          ex.emplace_back(r.experts.begin() + t * r.k, r.experts.begin() + (t + 1) * r.k);
          ew.emplace_back(r.weights.begin() + t * r.k, r.weights.begin() + (t + 1) * r.k);
        }
      }
    } else {
      mlp_forward(pool_, lw.dense, xn.data(), T, delta.data());
    }
    if (l + 1 < c.num_hidden_layers) {
      add_and_norm(weights_.layers[l + 1].attn_norm, true);  // (the next layer's attention input)
    } else {
      for_token_ranges(pool_, T, [&](int64_t t0, int64_t t1) {
        for (int64_t i = t0 * D; i < t1 * D; ++i) h[static_cast<size_t>(i)] += delta[static_cast<size_t>(i)];
      });
    }
    if (trace) trace->hidden.push_back(h);
  }

  // Final norm and lm_head only for the tokens whose logits are wanted.
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < T; ++t)
    if (b.want_logits.empty() ? t == T - 1 : b.want_logits[t] != 0) rows.push_back(t);
  const int64_t n_out = static_cast<int64_t>(rows.size());
  std::vector<float> hn(static_cast<size_t>(n_out * D));
  for (int64_t i = 0; i < n_out; ++i)
    rms_norm(h.data() + rows[i] * D, D, weights_.final_norm.data(), eps, 1, D, hn.data() + i * D, D);
  std::vector<float> logits(static_cast<size_t>(n_out * V));
  matmul(pool_, weights_.lm_head, hn.data(), n_out, logits.data());
  return logits;
}

}  // namespace dsinfer
