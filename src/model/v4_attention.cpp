// DeepSeek-V4 attention (see v4_transformer.h): sliding window + compressed entries, sink, grouped output.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/v4_transformer.h"

namespace dsinfer {

namespace {

// Rotates the last dr values of x[width] at `pos` (interleaved pairs; a negative pos rotates back).
void rope_tail(float* x, int64_t width, int64_t dr, int64_t pos, const std::vector<float>& inv_freq, float amp) {
  rope_interleaved(x + width - dr, dr, pos, inv_freq.data(), amp);
}

// Adds token rows kv / gate ([c*w] each, gate without its position bias) at absolute position `pos` to a
// compressor; when they complete a window, appends its entry (normed, rotated at the window's start).
void compressor_push(V4CompressorState& s, const V4CompressorWeights& w, const float* kv, const float* gate,
                     int64_t pos, double eps, int64_t dr, const std::vector<float>& inv_freq, float amp) {
  const int64_t cw = s.copies * s.width, r = pos % s.rate;
  float* krow = &s.kv[static_cast<size_t>((s.rate + r) * cw)];
  float* grow = &s.gate[static_cast<size_t>((s.rate + r) * cw)];
  for (int64_t i = 0; i < cw; ++i) {
    krow[i] = kv[i];
    grow[i] = gate[i] + w.ape[static_cast<size_t>(r * cw + i)];
  }
  if (++s.filled < s.rate) return;
  // Slots: (overlapping) the previous window's first halves, then this window's last halves (Cb); a
  // plain compressor has only this window's rows.
  const int64_t W = s.width, off = s.copies == 2 ? W : 0;
  const int64_t first = s.copies == 2 && s.has_previous ? 0 : s.rate;  // first row taking part
  std::vector<float> entry(static_cast<size_t>(W)), g(static_cast<size_t>(2 * s.rate));
  for (int64_t d = 0; d < W; ++d) {
    // Row k < rate: the previous window, its value d; row k >= rate: this window, its value off + d.
    auto at = [&](int64_t k) { return static_cast<size_t>(k * cw + (k < s.rate ? 0 : off) + d); };
    const int64_t n = 2 * s.rate - first;
    for (int64_t k = first; k < 2 * s.rate; ++k) g[static_cast<size_t>(k - first)] = s.gate[at(k)];
    softmax(g.data(), n);
    float acc = 0;
    for (int64_t k = first; k < 2 * s.rate; ++k) acc += g[static_cast<size_t>(k - first)] * s.kv[at(k)];
    entry[static_cast<size_t>(d)] = acc;
  }
  rms_norm(entry.data(), W, w.norm.data(), static_cast<float>(eps), 1, W, entry.data(), W);
  rope_tail(entry.data(), W, dr, s.n_entries * s.rate, inv_freq, amp);
  s.entries.insert(s.entries.end(), entry.begin(), entry.end());
  ++s.n_entries;
  // This window becomes the previous one.
  std::copy(s.kv.begin() + s.rate * cw, s.kv.end(), s.kv.begin());
  std::copy(s.gate.begin() + s.rate * cw, s.gate.end(), s.gate.begin());
  s.has_previous = true;
  s.filled = 0;
}

}  // namespace

void V4Transformer::attention(int64_t layer, const float* x, int64_t T, int64_t pos0, V4LayerState& st, float* out,
                              V4Trace* trace) {
  const V4AttentionWeights& a = w_.layers[static_cast<size_t>(layer)].attn;
  const V4Attention type = c_.layer_types[static_cast<size_t>(layer)];
  const int64_t H = c_.num_attention_heads, Dh = c_.head_dim, dr = c_.rope_dim,
                rq = c_.q_lora_rank, Wn = c_.sliding_window;
  const float eps = static_cast<float>(c_.rms_norm_eps);
  const bool sliding = type == V4Attention::kSliding;
  const std::vector<float>& inv = sliding ? inv_freq_main_ : inv_freq_compress_;
  const float amp = static_cast<float>(sliding ? c_.rope_main.amplitude : c_.rope_compress.amplitude);
  const float amp_c = static_cast<float>(c_.rope_compress.amplitude);

  // Projections of the chunk: queries [T, H, Dh] (per-head weightless norm, rope), key/value rows [T, Dh].
  std::vector<float> qr(static_cast<size_t>(T * rq)), q(static_cast<size_t>(T * H * Dh)), kv(static_cast<size_t>(T * Dh));
  matmul(pool_, a.wq_a, x, T, qr.data());
  rms_norm(qr.data(), rq, a.q_norm.data(), eps, T, rq, qr.data(), rq);
  matmul(pool_, a.wq_b, qr.data(), T, q.data());
  matmul(pool_, a.wkv, x, T, kv.data());
  rms_norm(kv.data(), Dh, a.kv_norm.data(), eps, T, Dh, kv.data(), Dh);
  std::vector<float> ones(static_cast<size_t>(Dh), 1.0f);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      float* qh = &q[static_cast<size_t>((t * H + h) * Dh)];
      rms_norm(qh, Dh, ones.data(), eps, 1, Dh, qh, Dh);
      rope_tail(qh, Dh, dr, pos0 + t, inv, amp);
    }
    rope_tail(&kv[static_cast<size_t>(t * Dh)], Dh, dr, pos0 + t, inv, amp);
  }

  // Compressor inputs [T, c*w] and the indexer's queries [T, Hi, Di] and head weights [T, Hi].
  const V4CompressorWeights& cw = a.compressor;
  const V4IndexerWeights& iw = a.indexer;
  const bool csa = type == V4Attention::kCompressedSparse;
  const int64_t Hi = c_.index_n_heads, Di = c_.index_head_dim;
  std::vector<float> ckv, cgate, ikv, igate, iq, ihw;
  if (!sliding) {
    ckv.resize(static_cast<size_t>(T * cw.wkv.rows()));
    cgate.resize(ckv.size());
    matmul(pool_, cw.wkv, x, T, ckv.data());
    matmul(pool_, cw.wgate, x, T, cgate.data());
  }
  if (csa) {
    ikv.resize(static_cast<size_t>(T * iw.keys.wkv.rows()));
    igate.resize(ikv.size());
    matmul(pool_, iw.keys.wkv, x, T, ikv.data());
    matmul(pool_, iw.keys.wgate, x, T, igate.data());
    iq.resize(static_cast<size_t>(T * Hi * Di));
    matmul(pool_, iw.wq_b, qr.data(), T, iq.data());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < Hi; ++h) rope_tail(&iq[static_cast<size_t>((t * Hi + h) * Di)], Di, dr, pos0 + t, inv_freq_compress_, amp_c);
    ihw.resize(static_cast<size_t>(T * Hi));
    matmul(pool_, iw.weights_proj, x, T, ihw.data());
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const float idx_scale = 1.0f / std::sqrt(static_cast<float>(Di)) / std::sqrt(static_cast<float>(Hi));
  std::vector<float> o(static_cast<size_t>(T * H * Dh), 0.0f);
  std::vector<const float*> keys;
  std::vector<float> logits, iscore;
  std::vector<int32_t> kept;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = pos0 + t;
    if (!sliding) {
      compressor_push(st.compressor, cw, &ckv[static_cast<size_t>(t * cw.wkv.rows())],
                      &cgate[static_cast<size_t>(t * cw.wkv.rows())], pos, c_.rms_norm_eps, dr, inv_freq_compress_, amp_c);
    }
    if (csa) {
      compressor_push(st.indexer, iw.keys, &ikv[static_cast<size_t>(t * iw.keys.wkv.rows())],
                      &igate[static_cast<size_t>(t * iw.keys.wkv.rows())], pos, c_.rms_norm_eps, dr,
                      inv_freq_compress_, amp_c);
    }
    // Keys: the window (older rows from the state, this chunk's from kv), then compressed entries.
    keys.clear();
    for (int64_t p = std::max<int64_t>(0, pos - Wn + 1); p <= pos; ++p)
      keys.push_back(p >= pos0 ? &kv[static_cast<size_t>((p - pos0) * Dh)]
                               : &st.window[static_cast<size_t>((p % Wn) * Dh)]);
    const int64_t n_entries = st.compressor.n_entries;
    if (type == V4Attention::kHeavilyCompressed) {
      for (int64_t e = 0; e < n_entries; ++e) keys.push_back(&st.compressor.entries[static_cast<size_t>(e * Dh)]);
    } else if (csa && n_entries > 0) {
      kept.clear();
      if (n_entries <= c_.index_topk) {
        for (int64_t e = 0; e < n_entries; ++e) kept.push_back(static_cast<int32_t>(e));
      } else {
        iscore.assign(static_cast<size_t>(n_entries), 0.0f);
        for (int64_t e = 0; e < n_entries; ++e) {
          const float* k = &st.indexer.entries[static_cast<size_t>(e * Di)];
          float s = 0;
          for (int64_t h = 0; h < Hi; ++h) {
            const float* qh = &iq[static_cast<size_t>((t * Hi + h) * Di)];
            float dot = 0;
            for (int64_t d = 0; d < Di; ++d) dot += qh[d] * k[d];
            s += ihw[static_cast<size_t>(t * Hi + h)] * std::max(dot, 0.0f);
          }
          iscore[static_cast<size_t>(e)] = s * idx_scale;
        }
        std::vector<int32_t> order(static_cast<size_t>(n_entries));
        for (int64_t e = 0; e < n_entries; ++e) order[static_cast<size_t>(e)] = static_cast<int32_t>(e);
        std::partial_sort(order.begin(), order.begin() + c_.index_topk, order.end(), [&](int32_t p1, int32_t p2) {
          return iscore[p1] > iscore[p2] || (iscore[p1] == iscore[p2] && p1 < p2);
        });
        kept.assign(order.begin(), order.begin() + c_.index_topk);
        std::sort(kept.begin(), kept.end());
      }
      for (int32_t e : kept) keys.push_back(&st.compressor.entries[static_cast<size_t>(e) * Dh]);
      if (trace) trace->index_entries[static_cast<size_t>(layer)].push_back(kept);
    } else if (csa && trace) {
      trace->index_entries[static_cast<size_t>(layer)].push_back({});
    }

    // Per head: softmax over the keys and the sink, values = keys; then rotate the rope tail back.
    const int64_t nk = static_cast<int64_t>(keys.size());
    logits.resize(static_cast<size_t>(nk + 1));
    for (int64_t h = 0; h < H; ++h) {
      const float* qh = &q[static_cast<size_t>((t * H + h) * Dh)];
      for (int64_t j = 0; j < nk; ++j) {
        float dot = 0;
        for (int64_t d = 0; d < Dh; ++d) dot += qh[d] * keys[static_cast<size_t>(j)][d];
        logits[static_cast<size_t>(j)] = dot * scale;
      }
      logits[static_cast<size_t>(nk)] = a.sinks[static_cast<size_t>(h)];
      softmax(logits.data(), nk + 1);
      float* oh = &o[static_cast<size_t>((t * H + h) * Dh)];
      for (int64_t j = 0; j < nk; ++j) {
        const float p = logits[static_cast<size_t>(j)];
        const float* k = keys[static_cast<size_t>(j)];
        for (int64_t d = 0; d < Dh; ++d) oh[d] += p * k[d];
      }
      rope_tail(oh, Dh, dr, -pos, inv, amp);
    }
  }
  // The window keeps the chunk's last rows.
  for (int64_t t = std::max<int64_t>(0, T - Wn); t < T; ++t)
    std::copy_n(&kv[static_cast<size_t>(t * Dh)], Dh, &st.window[static_cast<size_t>(((pos0 + t) % Wn) * Dh)]);

  // Grouped output projection: group i's H/g heads through wo_a rows [i*dg, (i+1)*dg), then wo_b.
  const int64_t g = c_.o_groups, dg = c_.o_lora_rank, gin = H * Dh / g;
  std::vector<float> mid(static_cast<size_t>(T * g * dg));
  for (int64_t i = 0; i < g; ++i) {
    matmul(pool_, a.wo_a, i * dg, dg, o.data() + i * gin, H * Dh, T, mid.data() + i * dg, g * dg);
  }
  matmul(pool_, a.wo_b, mid.data(), T, out);
}

}  // namespace dsinfer
