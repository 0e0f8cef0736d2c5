#include "model/v4_transformer.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "util/error.h"

namespace dsinfer {

namespace {

std::vector<float> inv_freq(const V4Config& c, const V4Rope& r) {
  return rope_inv_freq(c.rope_dim, r.theta, r.yarn, r.factor, r.original_max_position, r.beta_fast, r.beta_slow);
}

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// x * rsqrt(mean(x^2) + eps) over n values, in place (the hyper-connections' weightless norm).
void unweighted_rms_norm(float* x, int64_t n, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) x[i] *= r;
}

}  // namespace

V4Transformer::V4Transformer(const V4Config& config, const V4Weights& weights, ThreadPool& pool)
    : c_(config), w_(weights), pool_(pool),
      inv_freq_main_(inv_freq(config, config.rope_main)),
      inv_freq_compress_(inv_freq(config, config.rope_compress)) {}

V4State V4Transformer::new_state() const {
  V4State s;
  s.layers.resize(static_cast<size_t>(c_.num_hidden_layers));
  for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
    V4LayerState& ls = s.layers[static_cast<size_t>(l)];
    ls.window.assign(static_cast<size_t>(c_.sliding_window * c_.head_dim), 0.0f);
    auto init = [](V4CompressorState& cs, int64_t width, int64_t copies, int64_t rate) {
      cs.width = width;
      cs.copies = copies;
      cs.rate = rate;
      cs.kv.assign(static_cast<size_t>(2 * rate * copies * width), 0.0f);
      cs.gate.assign(cs.kv.size(), 0.0f);
    };
    const V4Attention type = c_.layer_types[static_cast<size_t>(l)];
    if (type == V4Attention::kHeavilyCompressed) init(ls.compressor, c_.head_dim, 1, c_.compress_rate(l));
    if (type == V4Attention::kCompressedSparse) {
      init(ls.compressor, c_.head_dim, 2, c_.compress_rate(l));
      init(ls.indexer, c_.index_head_dim, 2, c_.compress_rate(l));
    }
  }
  return s;
}

void V4Transformer::hyper_in(const V4HyperWeights& hc, const std::vector<float>& X, int64_t T,
                             const std::vector<float>& norm, std::vector<float>& x, std::vector<float>& post,
                             std::vector<float>& comb) {
  const int64_t n = c_.hc_mult, D = c_.hidden_size, mix = (2 + n) * n;
  std::vector<float> flat(X.begin(), X.begin() + T * n * D);
  for (int64_t t = 0; t < T; ++t) unweighted_rms_norm(&flat[static_cast<size_t>(t * n * D)], n * D, c_.rms_norm_eps);
  std::vector<float> m(static_cast<size_t>(T * mix));
  matmul(pool_, hc.fn, flat.data(), T, m.data());
  x.assign(static_cast<size_t>(T * D), 0.0f);
  post.assign(static_cast<size_t>(T * n), 0.0f);
  comb.assign(static_cast<size_t>(T * n * n), 0.0f);
  const float eps = static_cast<float>(c_.hc_eps);
  for (int64_t t = 0; t < T; ++t) {
    const float* mt = &m[static_cast<size_t>(t * mix)];
    float* cb = &comb[static_cast<size_t>(t * n * n)];
    float* xt = &x[static_cast<size_t>(t * D)];
    for (int64_t i = 0; i < n; ++i) {
      const float pre = sigmoid(mt[i] * hc.scale[0] + hc.base[i]) + eps;
      post[static_cast<size_t>(t * n + i)] = 2.0f * sigmoid(mt[n + i] * hc.scale[1] + hc.base[n + i]);
      const float* Xi = &X[static_cast<size_t>((t * n + i) * D)];
      for (int64_t d = 0; d < D; ++d) xt[d] += pre * Xi[d];
    }
    // comb: row softmax + eps, then Sinkhorn-Knopp towards a doubly stochastic matrix (columns first).
    for (int64_t i = 0; i < n; ++i) {
      float* row = cb + i * n;
      for (int64_t j = 0; j < n; ++j) row[j] = mt[2 * n + i * n + j] * hc.scale[2] + hc.base[2 * n + i * n + j];
      softmax(row, n);
      for (int64_t j = 0; j < n; ++j) row[j] += eps;
    }
    auto normalize_columns = [&] {
      for (int64_t j = 0; j < n; ++j) {
        float s = 0;
        for (int64_t i = 0; i < n; ++i) s += cb[i * n + j];
        for (int64_t i = 0; i < n; ++i) cb[i * n + j] /= s + eps;
      }
    };
    normalize_columns();
    for (int64_t it = 1; it < c_.hc_sinkhorn_iters; ++it) {
      for (int64_t i = 0; i < n; ++i) {
        float s = 0;
        for (int64_t j = 0; j < n; ++j) s += cb[i * n + j];
        for (int64_t j = 0; j < n; ++j) cb[i * n + j] /= s + eps;
      }
      normalize_columns();
    }
  }
  rms_norm(x.data(), D, norm.data(), static_cast<float>(c_.rms_norm_eps), T, D, x.data(), D);
}

void V4Transformer::hyper_out(std::vector<float>& X, int64_t T, const std::vector<float>& y,
                              const std::vector<float>& post, const std::vector<float>& comb) const {
  const int64_t n = c_.hc_mult, D = c_.hidden_size;
  std::vector<float> mixed(static_cast<size_t>(n * D));
  for (int64_t t = 0; t < T; ++t) {
    float* Xt = &X[static_cast<size_t>(t * n * D)];
    const float* cb = &comb[static_cast<size_t>(t * n * n)];
    const float* yt = &y[static_cast<size_t>(t * D)];
    for (int64_t k = 0; k < n; ++k) {
      float* out = &mixed[static_cast<size_t>(k * D)];
      const float pk = post[static_cast<size_t>(t * n + k)];
      for (int64_t d = 0; d < D; ++d) out[d] = pk * yt[d];
      for (int64_t j = 0; j < n; ++j) {
        const float cjk = cb[j * n + k];
        const float* Xj = Xt + j * D;
        for (int64_t d = 0; d < D; ++d) out[d] += cjk * Xj[d];
      }
    }
    std::copy(mixed.begin(), mixed.end(), Xt);
  }
}

void V4Transformer::clamped_mlp(const MlpWeights& m, const float* x, int64_t T, float* out) {
  const int64_t I = m.gate.rows(), D = c_.hidden_size;
  std::vector<float> g(static_cast<size_t>(T * I)), u(g.size());
  matmul(pool_, m.gate, x, T, g.data());
  matmul(pool_, m.up, x, T, u.data());
  const float lim = static_cast<float>(c_.swiglu_limit);
  if (lim > 0) {
    for (size_t i = 0; i < g.size(); ++i) {
      g[i] = std::min(g[i], lim);
      u[i] = std::clamp(u[i], -lim, lim);
    }
  }
  silu_mul(g.data(), u.data(), g.data(), T * I);
  matmul(pool_, m.down, 0, D, g.data(), I, T, out, D);
}

void V4Transformer::moe(int64_t layer, const float* x, const std::vector<int32_t>& tokens, float* out,
                        V4Trace* trace) {
  const V4MoeWeights& m = w_.layers[static_cast<size_t>(layer)].moe;
  const int64_t T = static_cast<int64_t>(tokens.size()), D = c_.hidden_size, E = c_.n_routed_experts,
                K = c_.num_experts_per_tok;
  std::vector<float> scores(static_cast<size_t>(T * E));
  matmul(pool_, m.router, x, T, scores.data());
  for (float& s : scores) {
    if (c_.scoring == V4Scoring::kSigmoid) s = sigmoid(s);
    else s = std::sqrt(s > 20.0f ? s : std::log1p(std::exp(s)));  // sqrt(softplus), torch's threshold 20
  }
  // Per expert, its tokens and their weights.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(static_cast<size_t>(E));
  const bool hashed = c_.mlp_layer_types[static_cast<size_t>(layer)] == V4Router::kHash;
  std::vector<int32_t> idx(static_cast<size_t>(K));
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    const float* s = &scores[static_cast<size_t>(t * E)];
    if (hashed) {
      std::copy_n(&m.tid2eid[static_cast<size_t>(tokens[static_cast<size_t>(t)]) * K], K, idx.begin());
    } else {
      for (int64_t e = 0; e < E; ++e) order[static_cast<size_t>(e)] = static_cast<int32_t>(e);
      auto biased = [&](int32_t e) { return s[e] + m.bias[static_cast<size_t>(e)]; };
      std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int32_t a, int32_t b) {
        return biased(a) > biased(b) || (biased(a) == biased(b) && a < b);
      });
      std::copy_n(order.begin(), K, idx.begin());
    }
    float sum = 0;
    for (int32_t e : idx) sum += s[e];
    for (int32_t e : idx)
      routed[static_cast<size_t>(e)].push_back(
          {t, s[e] / (sum + 1e-20f) * static_cast<float>(c_.routed_scaling_factor)});
    if (trace) {
      std::vector<int32_t> sorted(idx);
      std::sort(sorted.begin(), sorted.end());
      trace->experts[static_cast<size_t>(layer)].push_back(std::move(sorted));
    }
  }
  if (c_.n_shared_experts > 0) clamped_mlp(m.shared, x, T, out);
  else std::fill(out, out + T * D, 0.0f);
  std::vector<float> xe, ye;
  for (int64_t e = 0; e < E; ++e) {
    const auto& list = routed[static_cast<size_t>(e)];
    if (list.empty()) continue;
    const int64_t n = static_cast<int64_t>(list.size());
    xe.resize(static_cast<size_t>(n * D));
    ye.resize(xe.size());
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(x + list[static_cast<size_t>(i)].first * D, D, &xe[static_cast<size_t>(i * D)]);
    clamped_mlp(m.experts[static_cast<size_t>(e)], xe.data(), n, ye.data());
    for (int64_t i = 0; i < n; ++i) {
      const auto [t, wt] = list[static_cast<size_t>(i)];
      float* o = out + t * D;
      const float* y = &ye[static_cast<size_t>(i * D)];
      for (int64_t d = 0; d < D; ++d) o[d] += wt * y[d];
    }
  }
}

std::vector<float> V4Transformer::forward(const std::vector<int32_t>& tokens, V4State& state, bool all_logits,
                                          V4Trace* trace) {
  const int64_t T = static_cast<int64_t>(tokens.size()), D = c_.hidden_size, n = c_.hc_mult, V = c_.vocab_size;
  if (T == 0) fail("V4 forward: no tokens");
  if (static_cast<int64_t>(state.layers.size()) != c_.num_hidden_layers) fail("V4 forward: state of another model");
  for (int32_t t : tokens)
    if (t < 0 || t >= V) fail("token id ", t, " is outside the vocabulary [0, ", V, ")");
  if (trace) {
    trace->experts.assign(static_cast<size_t>(c_.num_hidden_layers), {});
    trace->index_entries.assign(static_cast<size_t>(c_.num_hidden_layers), {});
  }
  // The n streams start as copies of the embedding.
  std::vector<float> X(static_cast<size_t>(T * n * D));
  std::vector<float> row(static_cast<size_t>(D));
  for (int64_t t = 0; t < T; ++t) {
    dequantize_rows(w_.embed, tokens[static_cast<size_t>(t)], 1, row.data());
    for (int64_t i = 0; i < n; ++i) std::copy(row.begin(), row.end(), &X[static_cast<size_t>((t * n + i) * D)]);
  }
  std::vector<float> x, post, comb, y(static_cast<size_t>(T * D));
  for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
    const V4LayerWeights& lw = w_.layers[static_cast<size_t>(l)];
    hyper_in(lw.hc_attn, X, T, lw.attn_norm, x, post, comb);
    attention(l, x.data(), T, state.n_past, state.layers[static_cast<size_t>(l)], y.data(), trace);
    hyper_out(X, T, y, post, comb);
    hyper_in(lw.hc_ffn, X, T, lw.ffn_norm, x, post, comb);
    moe(l, x.data(), tokens, y.data(), trace);
    hyper_out(X, T, y, post, comb);
  }
  state.n_past += T;

  // hc_head: pre weights only, then the final norm and the head for the wanted tokens.
  const int64_t t0 = all_logits ? 0 : T - 1, n_out = T - t0;
  std::vector<float> flat(X.begin() + t0 * n * D, X.end());
  for (int64_t t = 0; t < n_out; ++t) unweighted_rms_norm(&flat[static_cast<size_t>(t * n * D)], n * D, c_.rms_norm_eps);
  std::vector<float> mixes(static_cast<size_t>(n_out * n));
  matmul(pool_, w_.hc_head.fn, flat.data(), n_out, mixes.data());
  std::vector<float> h(static_cast<size_t>(n_out * D), 0.0f);
  const float eps = static_cast<float>(c_.hc_eps);
  for (int64_t t = 0; t < n_out; ++t)
    for (int64_t i = 0; i < n; ++i) {
      const float pre = sigmoid(mixes[static_cast<size_t>(t * n + i)] * w_.hc_head.scale[0] + w_.hc_head.base[i]) + eps;
      const float* Xi = &X[static_cast<size_t>(((t0 + t) * n + i) * D)];
      for (int64_t d = 0; d < D; ++d) h[static_cast<size_t>(t * D + d)] += pre * Xi[d];
    }
  rms_norm(h.data(), D, w_.norm.data(), static_cast<float>(c_.rms_norm_eps), n_out, D, h.data(), D);
  std::vector<float> logits(static_cast<size_t>(n_out * V));
  matmul(pool_, w_.head, h.data(), n_out, logits.data());
  return logits;
}

}  // namespace dsinfer
