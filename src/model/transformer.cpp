#include "model/transformer.h"

#include <algorithm>

#include "kernels/cpu/ops.h"
#include "model/linear.h"
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

std::vector<float> Transformer::forward(const Batch& b, LatentKvCache& cache, ForwardTrace* trace,
                                       std::vector<float>* normed_hidden) {
  const ModelConfig& c = config_;
  if (b.size() == 0) return {};
  std::vector<float> h = embed(b, weights_.embed);  // [T, D] residual stream
  if (trace) {
    trace->hidden.assign(1, h);
    trace->experts.assign(static_cast<size_t>(c.num_hidden_layers), {});
    trace->expert_weights.assign(static_cast<size_t>(c.num_hidden_layers), {});
    trace->selected_keys.assign(static_cast<size_t>(c.num_hidden_layers), {});
  }
  run_blocks(b, 0, c.num_hidden_layers, h, cache, trace);
  return output_logits(b, h, weights_.final_norm, weights_.lm_head, normed_hidden);
}

std::vector<float> Transformer::mtp_forward(const Batch& b, const float* hidden, LatentKvCache& cache, int64_t k) {
  const ModelConfig& c = config_;
  const int64_t T = b.size(), D = c.hidden_size, layer = c.num_hidden_layers + k;
  if (k < 0 || k >= mtp_modules()) fail("MTP module ", k, " is not loaded (", mtp_modules(), " are)");
  if (cache.n_layers() <= layer) fail("the KV cache has no layer for MTP module ", k, " (made without with_mtp)");
  if (T == 0) return {};
  const MtpWeights& m = weights_.mtp[k];
  const float eps = static_cast<float>(c.rms_norm_eps);

  // x = [RMSNorm(Embed(t_{i+1}); enorm) | RMSNorm(h_i; hnorm)]  [T, 2D], embedding first (spec 10.2).
  // (vLLM also zeroes the embedding at position 0; DeepSeek's paper and SGLang do not, nor does this.)
  const std::vector<float> e = embed(b, m.embed);
  std::vector<float> x(static_cast<size_t>(T * 2 * D));
  rms_norm(e.data(), D, m.enorm.data(), eps, T, D, x.data(), 2 * D);
  rms_norm(hidden, D, m.hnorm.data(), eps, T, D, x.data() + D, 2 * D);
  std::vector<float> h(static_cast<size_t>(T * D));  // [T, D] = x @ eh_proj^T
  linear(pool_, m.eh_proj, x.data(), T, h.data());
  run_blocks(b, layer, layer + 1, h, cache, nullptr);
  return output_logits(b, h, m.head_norm, m.head, nullptr);
}

std::vector<float> Transformer::embed(const Batch& b, const TensorView& table) const {
  const int64_t T = b.size(), D = config_.hidden_size, V = config_.vocab_size;
  if (static_cast<int64_t>(b.positions.size()) != T || static_cast<int64_t>(b.seq_ids.size()) != T)
    fail("batch: tokens, positions and seq_ids differ in length");
  std::vector<float> out(static_cast<size_t>(T * D));
  for (int64_t t = 0; t < T; ++t) {
    const int32_t id = b.tokens[t];
    if (id < 0 || id >= V) fail("token id ", id, " is out of range [0, ", V, ")");
    if (b.positions[t] < 0) fail("negative position ", b.positions[t]);
    dequantize_rows(table, id, 1, out.data() + t * D);
  }
  return out;
}

void Transformer::run_blocks(const Batch& b, int64_t l0, int64_t l1, std::vector<float>& h, LatentKvCache& cache,
                             ForwardTrace* trace) {
  const ModelConfig& c = config_;
  const int64_t T = b.size(), D = c.hidden_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  std::vector<float> xn(h.size()), delta(h.size());
  for (int64_t l = l0; l < l1; ++l) {
    const LayerWeights& lw = weights_.layers[l];
    // h += delta (tokens [t0, t1)), then xn = RMSNorm(h) with `norm`
    auto add_and_norm = [&](const std::vector<float>& norm, bool add) {
      for_token_ranges(pool_, T, [&](int64_t t0, int64_t t1) {
        if (add)
          for (int64_t i = t0 * D; i < t1 * D; ++i) h[static_cast<size_t>(i)] += delta[static_cast<size_t>(i)];
        rms_norm(h.data() + t0 * D, D, norm.data(), eps, t1 - t0, D, xn.data() + t0 * D, D);
      });
    };
    if (l == l0) add_and_norm(lw.attn_norm, false);
    attention(l, b, xn.data(), cache, delta.data(), trace);
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
    if (l + 1 < l1) {
      add_and_norm(weights_.layers[l + 1].attn_norm, true);  // (the next layer's attention input)
    } else {
      for_token_ranges(pool_, T, [&](int64_t t0, int64_t t1) {
        for (int64_t i = t0 * D; i < t1 * D; ++i) h[static_cast<size_t>(i)] += delta[static_cast<size_t>(i)];
      });
    }
    if (trace) trace->hidden.push_back(h);
  }
}

std::vector<float> Transformer::output_logits(const Batch& b, const std::vector<float>& h,
                                              const std::vector<float>& norm, const TensorView& head,
                                              std::vector<float>* normed_hidden) {
  // Final norm and head only for the tokens whose logits are wanted (the norm of all when normed_hidden).
  const int64_t T = b.size(), D = config_.hidden_size, V = config_.vocab_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < T; ++t)
    if (b.want_logits.empty() ? t == T - 1 : b.want_logits[t] != 0) rows.push_back(t);
  const int64_t n_out = static_cast<int64_t>(rows.size());
  std::vector<float> all;
  if (normed_hidden) {
    all.resize(static_cast<size_t>(T * D));
    for_token_ranges(pool_, T, [&](int64_t t0, int64_t t1) {
      rms_norm(h.data() + t0 * D, D, norm.data(), eps, t1 - t0, D, all.data() + t0 * D, D);
    });
  }
  std::vector<float> hn(static_cast<size_t>(n_out * D));
  for (int64_t i = 0; i < n_out; ++i) {
    if (normed_hidden)
      std::copy_n(all.data() + rows[i] * D, D, hn.data() + i * D);
    else
      rms_norm(h.data() + rows[i] * D, D, norm.data(), eps, 1, D, hn.data() + i * D, D);
  }
  std::vector<float> logits(static_cast<size_t>(n_out * V));
  if (n_out > 0) linear(pool_, head, hn.data(), n_out, logits.data());
  if (normed_hidden) *normed_hidden = std::move(all);
  return logits;
}

}  // namespace dsinfer
