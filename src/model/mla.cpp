// Multi-head Latent Attention (spec 5, 6; model.py MLA.forward). Both forms read the same latent cache:
// the absorbed form scores queries against the cached latent directly, the naive form first decompresses
// per-head keys and values from it.

#include <algorithm>
#include <cmath>
#include <map>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"
#include "model/transformer.h"
#include "util/error.h"

namespace dsinfer {
namespace {

// q_abs[t, h, :] = W_UK_h^T q_nope[t, h, :]   ([T, H, rkv] from [T, H, dn] with stride ldq)
void absorb_queries(ThreadPool& pool, const ModelConfig& c, const MlaWeights& w, const float* q, int64_t ldq,
                    int64_t T, float* q_abs) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
  for (int64_t h = 0; h < H; ++h) {
    const float* qn = q + h * c.qk_head_dim();
    float* out = q_abs + h * rkv;
    if (w.split_kv_b()) {
      matmul(pool, w.k_b, h * rkv, rkv, qn, ldq, T, out, H * rkv);  // k_b[h]: [rkv, dn]
    } else {
      matmul_transposed(w.kv_b_proj, h * (dn + dv), dn, qn, ldq, T, out, H * rkv);  // W_UK_h: [dn, rkv]
    }
  }
}

// o[t, h, :] = W_UV_h lat[t, h, :]   ([T, H, dv] from [T, H, rkv])
void expand_values(ThreadPool& pool, const ModelConfig& c, const MlaWeights& w, const float* lat, int64_t T,
                   float* o) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
  for (int64_t h = 0; h < H; ++h) {
    if (w.split_kv_b()) {
      matmul(pool, w.v_b, h * dv, dv, lat + h * rkv, H * rkv, T, o + h * dv, H * dv);
    } else {
      matmul(pool, w.kv_b_proj, h * (dn + dv) + dn, dv, lat + h * rkv, H * rkv, T, o + h * dv, H * dv);
    }
  }
}

}  // namespace

void Transformer::attention(int64_t layer, const Batch& b, const float* x, LatentKvCache& cache, float* out) {
  const ModelConfig& c = config_;
  const MlaWeights& w = weights_.layers[layer].attn;
  const int64_t T = b.size(), H = c.num_attention_heads, dq = c.qk_head_dim(), dn = c.qk_nope_head_dim;
  const int64_t dr = c.qk_rope_head_dim, rkv = c.kv_lora_rank, dv = c.v_head_dim, L = c.latent_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);

  // Queries: [T, H, dq] = [q_nope | q_pe] per head.
  std::vector<float> q(static_cast<size_t>(T * H * dq));
  if (c.q_lora_rank == 0) {
    matmul(pool_, w.q_proj, x, T, q.data());
  } else {
    std::vector<float> cq(static_cast<size_t>(T * c.q_lora_rank));  // [T, rq]
    matmul(pool_, w.q_a_proj, x, T, cq.data());
    rms_norm(cq.data(), c.q_lora_rank, w.q_a_norm.data(), eps, T, c.q_lora_rank, cq.data(), c.q_lora_rank);
    matmul(pool_, w.q_b_proj, cq.data(), T, q.data());
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      rope_interleaved(q.data() + (t * H + h) * dq + dn, dr, b.positions[t], inv_freq_.data(), rope_amplitude_);

  // Latent row of each new token: [RMSNorm(c_kv) | RoPE(k_pe)] written to the cache.
  std::vector<float> kv(static_cast<size_t>(T * L));  // [T, rkv + dr]
  matmul(pool_, w.kv_a_proj, x, T, kv.data());
  for (int64_t t = 0; t < T; ++t) {
    float* row = kv.data() + t * L;
    rms_norm(row, L, w.kv_a_norm.data(), eps, 1, rkv, row, L);
    rope_interleaved(row + rkv, dr, b.positions[t], inv_freq_.data(), rope_amplitude_);
    if (b.positions[t] >= cache.capacity(b.seq_ids[t]))
      fail("KV cache: position ", b.positions[t], " of sequence ", b.seq_ids[t], " was not reserved");
    std::copy_n(row, L, cache.row(layer, b.seq_ids[t], b.positions[t]));
  }

  std::vector<float> o(static_cast<size_t>(T * H * dv));  // [T, H, dv]
  if (form_ == AttentionForm::kNaive) {
    attention_naive(layer, b, q.data(), cache, o.data());
  } else {
    std::vector<float> q_abs(static_cast<size_t>(T * H * rkv)), q_pe(static_cast<size_t>(T * H * dr));
    absorb_queries(pool_, c, w, q.data(), H * dq, T, q_abs.data());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) std::copy_n(q.data() + (t * H + h) * dq + dn, dr, q_pe.data() + (t * H + h) * dr);
    std::vector<float> lat(static_cast<size_t>(T * H * rkv));  // [T, H, rkv]
    attention_scores_absorbed(layer, b, q_abs.data(), q_pe.data(), cache, lat.data());
    expand_values(pool_, c, w, lat.data(), T, o.data());
  }
  matmul(pool_, w.o_proj, o.data(), T, out);  // [T, D]
}

// lat[t, h] = sum_j softmax_j(scale * (q_abs[t,h]·c_j + q_pe[t,h]·kpe_j)) c_j over keys j <= pos_t.
void Transformer::attention_scores_absorbed(int64_t layer, const Batch& b, const float* q_abs, const float* q_pe,
                                            const LatentKvCache& cache, float* lat) {
  const ModelConfig& c = config_;
  const int64_t T = b.size(), H = c.num_attention_heads, rkv = c.kv_lora_rank, dr = c.qk_rope_head_dim;
  pool_.parallel_for(T * H, [&](int64_t i0, int64_t i1, int) {
    std::vector<float> p;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / H, h = i % H, n_keys = b.positions[t] + 1;
      const float* qa = q_abs + i * rkv;
      const float* qp = q_pe + i * dr;
      p.resize(static_cast<size_t>(n_keys));
      for (int64_t j = 0; j < n_keys; ++j) {
        const float* key = cache.row(layer, b.seq_ids[t], j);
        p[j] = (dot_f32(qa, key, rkv) + dot_f32(qp, key + rkv, dr)) * softmax_scale_;
      }
      softmax(p.data(), n_keys);
      float* out = lat + i * rkv;
      std::fill(out, out + rkv, 0.0f);
      for (int64_t j = 0; j < n_keys; ++j) axpy_f32(p[j], cache.row(layer, b.seq_ids[t], j), out, rkv);
    }
  });
}

// Reference form: per-head keys k = [W_UK_h c_j | kpe_j] and values v = W_UV_h c_j, decompressed for
// every cached key of each sequence in the batch, then standard attention.
void Transformer::attention_naive(int64_t layer, const Batch& b, const float* q, const LatentKvCache& cache,
                                  float* o) {
  const ModelConfig& c = config_;
  const MlaWeights& w = weights_.layers[layer].attn;
  const int64_t T = b.size(), H = c.num_attention_heads, dq = c.qk_head_dim(), dn = c.qk_nope_head_dim;
  const int64_t dr = c.qk_rope_head_dim, rkv = c.kv_lora_rank, dv = c.v_head_dim, L = c.latent_dim();

  std::map<int32_t, int64_t> keys_of_seq;  // sequence -> number of keys needed
  for (int64_t t = 0; t < T; ++t) keys_of_seq[b.seq_ids[t]] = std::max(keys_of_seq[b.seq_ids[t]], b.positions[t] + 1);
  for (const auto& [seq, S] : keys_of_seq) {
    std::vector<float> latent(static_cast<size_t>(S * L));
    for (int64_t j = 0; j < S; ++j) std::copy_n(cache.row(layer, seq, j), L, latent.data() + j * L);
    std::vector<float> k_nope(static_cast<size_t>(S * H * dn)), v(static_cast<size_t>(S * H * dv));
    for (int64_t h = 0; h < H; ++h) {
      if (w.split_kv_b()) {
        matmul_transposed(w.k_b, h * rkv, rkv, latent.data(), L, S, k_nope.data() + h * dn, H * dn);
        matmul(pool_, w.v_b, h * dv, dv, latent.data(), L, S, v.data() + h * dv, H * dv);
      } else {
        matmul(pool_, w.kv_b_proj, h * (dn + dv), dn, latent.data(), L, S, k_nope.data() + h * dn, H * dn);
        matmul(pool_, w.kv_b_proj, h * (dn + dv) + dn, dv, latent.data(), L, S, v.data() + h * dv, H * dv);
      }
    }
    std::vector<float> p;
    for (int64_t t = 0; t < T; ++t) {
      if (b.seq_ids[t] != seq) continue;
      const int64_t n_keys = b.positions[t] + 1;
      p.resize(static_cast<size_t>(n_keys));
      for (int64_t h = 0; h < H; ++h) {
        const float* qh = q + (t * H + h) * dq;
        for (int64_t j = 0; j < n_keys; ++j) {
          p[j] = (dot_f32(qh, k_nope.data() + (j * H + h) * dn, dn) +
                  dot_f32(qh + dn, latent.data() + j * L + rkv, dr)) * softmax_scale_;
        }
        softmax(p.data(), n_keys);
        float* out = o + (t * H + h) * dv;
        std::fill(out, out + dv, 0.0f);
        for (int64_t j = 0; j < n_keys; ++j) axpy_f32(p[j], v.data() + (j * H + h) * dv, out, dv);
      }
    }
  }
}

}  // namespace dsinfer
