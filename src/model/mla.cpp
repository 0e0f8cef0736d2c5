// Multi-head Latent Attention (spec 5, 6; model.py MLA.forward). Both forms read the same latent cache:
// the absorbed form scores queries against the cached latent directly, the naive form first decompresses
// per-head keys and values from it.

#include <algorithm>
#include <cmath>
#include <map>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec.h"
#include "model/linear.h"
#include "model/transformer.h"
#include "util/error.h"

namespace dsinfer {
namespace {

// y[t, h * rph + i] = W[h * head_stride + head_offset + i] · x[t * ldx + h * x_head_stride + :] for i < rph:
// one matmul per head, all heads in ONE parallel sweep (threads take contiguous slices of the H * rph
// rows), so a decode step pays one wake-up instead of H.
void per_head_matmul(ThreadPool& pool, const TensorView& w, int64_t H, int64_t rph, int64_t head_stride,
                     int64_t head_offset, const float* x, int64_t x_head_stride, int64_t ldx, int64_t T, float* y,
                     int64_t ldy) {
  // Per K (the absorbed queries' and the values' heads differ): each input keeps its layout from one
  // decode step to the next, so nothing is re-grown or re-zeroed.
  thread_local std::map<int64_t, std::vector<MatmulInput>> inputs_by_k;
  std::vector<MatmulInput>* inputs = &inputs_by_k[w.cols()];  // the caller's, also inside the workers
  if (static_cast<int64_t>(inputs->size()) < H) inputs->resize(static_cast<size_t>(H));
  auto prepare_heads = [&](int64_t h0, int64_t h1, int) {
    for (int64_t h = h0; h < h1; ++h) (*inputs)[h].prepare(x + h * x_head_stride, ldx, T, w.cols(), w.dtype);
  };
  parallel_for_if(pool, T >= kParallelPrepareTokens, H, prepare_heads);
  const int64_t total = H * rph;
  pool.parallel_for(total, [&](int64_t v0, int64_t v1, int) {
    for (int64_t v = v0; v < v1;) {
      const int64_t h = v / rph, i0 = v % rph, n = std::min(v1 - v, rph - i0);
      matmul_rows(w, h * head_stride + head_offset + i0, n, (*inputs)[h], y + h * rph + i0, ldy);
      v += n;
    }
  }, kMatmulRowGrain);
}

// q_abs[t, h, :] = W_UK_h^T q_nope[t, h, :]   ([T, H, rkv] from [T, H, dn] with stride ldq)
void absorb_queries(ThreadPool& pool, const ModelConfig& c, const MlaWeights& w, const float* q, int64_t ldq,
                    int64_t T, float* q_abs) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
  if (w.split_kv_b()) {  // k_b[h]: [rkv, dn]
    per_head_matmul(pool, w.k_b, H, rkv, rkv, 0, q, c.qk_head_dim(), ldq, T, q_abs, H * rkv);
    return;
  }
  for (int64_t h = 0; h < H; ++h)  // W_UK_h: [dn, rkv]
    matmul_transposed(w.kv_b_proj, h * (dn + dv), dn, q + h * c.qk_head_dim(), ldq, T, q_abs + h * rkv, H * rkv);
}

// o[t, h, :] = W_UV_h lat[t, h, :]   ([T, H, dv] from [T, H, rkv])
void expand_values(ThreadPool& pool, const ModelConfig& c, const MlaWeights& w, const float* lat, int64_t T,
                   float* o) {
  const int64_t H = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim, rkv = c.kv_lora_rank;
  if (w.split_kv_b()) {
    per_head_matmul(pool, w.v_b, H, dv, dv, 0, lat, rkv, H * rkv, T, o, H * dv);
  } else {
    per_head_matmul(pool, w.kv_b_proj, H, dv, dn + dv, dn, lat, rkv, H * rkv, T, o, H * dv);
  }
}

}  // namespace

void Transformer::attention(int64_t layer, const Batch& b, const float* x, LatentKvCache& cache, float* out,
                            ForwardTrace* trace) {
  const ModelConfig& c = config_;
  const MlaWeights& w = weights_.layers[layer].attn;
  const int64_t T = b.size(), H = c.num_attention_heads, dq = c.qk_head_dim(), dn = c.qk_nope_head_dim;
  const int64_t dr = c.qk_rope_head_dim, rkv = c.kv_lora_rank, dv = c.v_head_dim, L = c.latent_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);

  // Queries: [T, H, dq] = [q_nope | q_pe] per head.
  // Both projections of x run in one parallel sweep: q (or its LoRA down-projection) and kv_a.
  std::vector<float> q(static_cast<size_t>(T * H * dq));
  std::vector<float> kv(static_cast<size_t>(T * L));  // [T, rkv + dr]
  std::vector<float> cq;                               // [T, rq] the normed compressed query
  if (c.q_lora_rank == 0) {
    linear_shared_input(pool_, {&w.q_proj, &w.kv_a_proj}, x, c.hidden_size, T, {q.data(), kv.data()});
  } else {
    cq.resize(static_cast<size_t>(T * c.q_lora_rank));
    linear_shared_input(pool_, {&w.q_a_proj, &w.kv_a_proj}, x, c.hidden_size, T, {cq.data(), kv.data()});
    rms_norm(cq.data(), c.q_lora_rank, w.q_a_norm.data(), eps, T, c.q_lora_rank, cq.data(), c.q_lora_rank);
    linear(pool_, w.q_b_proj, cq.data(), T, q.data());
  }
  for (int64_t t = 0; t < T; ++t)
    if (b.positions[t] >= cache.capacity(b.seq_ids[t]))
      fail("KV cache: position ", b.positions[t], " of sequence ", b.seq_ids[t], " was not reserved");
  // DSA: the indexer's key of each new token is cached after its latent row.
  const bool dsa = c.has_dsa() && w.indexer.present();
  const int64_t Di = dsa ? c.index_head_dim : 0;
  std::vector<float> index_k(static_cast<size_t>(T * Di));  // [T, Di]
  if (dsa) indexer_keys(layer, b, x, index_k.data());
  // RoPE of the queries; the latent row of each new token, [RMSNorm(c_kv) | RoPE(k_pe)] (| indexer key),
  // into the cache. (A DSA model's MTP block may have no indexer: its rows' key part stays zero.)
  const int64_t row_dim = cache.latent_dim();
  if (row_dim != L + Di && !(row_dim > L && !dsa))
    fail("KV cache rows of ", row_dim, " values do not fit layer ", layer, " (", L + Di, ")");
  for_token_ranges(pool_, T, [&](int64_t t0, int64_t t1) {
    std::vector<float> full(static_cast<size_t>(row_dim > L ? row_dim : 0));
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t h = 0; h < H; ++h)
        rope_interleaved(q.data() + (t * H + h) * dq + dn, dr, b.positions[t], inv_freq_.data(), rope_amplitude_);
      float* row = kv.data() + t * L;
      rms_norm(row, L, w.kv_a_norm.data(), eps, 1, rkv, row, L);
      rope_interleaved(row + rkv, dr, b.positions[t], inv_freq_.data(), rope_amplitude_);
      if (row_dim > L) {
        std::copy_n(row, L, full.data());
        if (dsa) std::copy_n(index_k.data() + t * Di, Di, full.data() + L);
        row = full.data();
      }
      cache.write_row(layer, b.seq_ids[t], b.positions[t], row);
    }
  });
  const KeySelection sel = dsa ? select_keys(layer, b, x, cq.data(), cache) : KeySelection{};
  if (trace && dsa && layer < static_cast<int64_t>(trace->selected_keys.size())) trace->selected_keys[layer] = sel;

  std::vector<float> o(static_cast<size_t>(T * H * dv));  // [T, H, dv]
  bool naive = form_ == AttentionForm::kNaive;
  if (form_ == AttentionForm::kAuto && T >= kNaiveMinTokens)
    naive = std::all_of(b.seq_ids.begin(), b.seq_ids.end(), [&](int32_t s) { return s == b.seq_ids[0]; });
  // DSA: the naive form scores every key and masks, the absorbed form reads only the index_topk kept ones;
  // per query H (dq + dv) per key against H (2 rkv + dr) per kept key, so past ~3.4 x index_topk keys
  // (V3's shapes) the absorbed form is cheaper.
  if (form_ == AttentionForm::kAuto && dsa && *std::max_element(b.positions.begin(), b.positions.end()) + 1 >
                                                   3 * c.index_topk)
    naive = false;
  if (naive) {
    attention_naive(layer, b, q.data(), cache, sel, o.data());
  } else {
    std::vector<float> q_abs(static_cast<size_t>(T * H * rkv)), q_pe(static_cast<size_t>(T * H * dr));
    absorb_queries(pool_, c, w, q.data(), H * dq, T, q_abs.data());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) std::copy_n(q.data() + (t * H + h) * dq + dn, dr, q_pe.data() + (t * H + h) * dr);
    std::vector<float> lat(static_cast<size_t>(T * H * rkv));  // [T, H, rkv]
    attention_scores_absorbed(layer, b, q_abs.data(), q_pe.data(), cache, sel, lat.data());
    expand_values(pool_, c, w, lat.data(), T, o.data());
  }
  linear(pool_, w.o_proj, o.data(), T, out);  // [T, D]
}

// lat[t, h] = sum_j softmax_j(scale * (q_abs[t,h]·c_j + q_pe[t,h]·kpe_j)) c_j over keys j <= pos_t (or
// over the positions sel[t] lists, DSA).
// Every cached row is read once per query token for all H heads (mla_scores / mla_values). Decode
// (one token) splits the keys, then the latent columns, across threads; prefill splits the tokens.
void Transformer::attention_scores_absorbed(int64_t layer, const Batch& b, const float* q_abs, const float* q_pe,
                                            const LatentKvCache& cache, const KeySelection& sel, float* lat) {
  const ModelConfig& c = config_;
  const int64_t T = b.size(), H = c.num_attention_heads, rkv = c.kv_lora_rank, dr = c.qk_rope_head_dim;
  const int64_t L = rkv + dr;
  std::vector<float> q(static_cast<size_t>(T * H * L));  // [T, H, L] = [q_abs | q_pe] per head
  for (int64_t i = 0; i < T * H; ++i) {
    std::copy_n(q_abs + i * rkv, rkv, q.data() + i * L);
    std::copy_n(q_pe + i * dr, dr, q.data() + i * L + rkv);
  }
  // Keys are float32 or f16 rows, as the cache stores them; the kernels convert f16 on load.
  auto run = [&]<class K>() {
    auto keys_of = [&](int64_t t, std::vector<const K*>& keys) {
      if (!sel.empty() && !sel[t].empty()) {
        keys.resize(sel[t].size());
        for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<const K*>(cache.row_data(layer, b.seq_ids[t], sel[t][i]));
        return;
      }
      const int64_t n = b.positions[t] + 1;
      keys.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) keys[j] = static_cast<const K*>(cache.row_data(layer, b.seq_ids[t], j));
    };
    const int nth = pool_.size();
    if (T == 1) {
      std::vector<const K*> keys;
      keys_of(0, keys);
      const int64_t n = static_cast<int64_t>(keys.size());
      std::vector<float> p(static_cast<size_t>(H * n));  // [H, n]
      // Keys, then heads, then latent columns split across the threads (claimed ranges: a thread slowed
      // down hands the rest of its share over); below 64 keys one thread is faster than the wake-ups.
      const bool split = nth > 1 && n >= 64;
      auto scores = [&](int64_t j0, int64_t j1, int) {
        mla_scores(q.data(), H, L, keys.data() + j0, j1 - j0, softmax_scale_, p.data() + j0, n);
      };
      auto normalize = [&](int64_t h0, int64_t h1, int) {  // H * n exps, no longer negligible
        for (int64_t h = h0; h < h1; ++h) attention_softmax(p.data() + h * n, n);
      };
      auto values = [&](int64_t c0, int64_t c1, int) { mla_values(p.data(), n, H, keys.data(), n, c0, c1, lat, rkv); };
      if (!split) {
        scores(0, n, 0);
        normalize(0, H, 0);
        values(0, rkv, 0);
        return;
      }
      pool_.parallel_for(n, scores, 48);
      pool_.parallel_for(H, normalize);
      parallel_for_if(pool_, rkv % 32 == 0, rkv, values, 32);
      return;
    }
    pool_.run_on_all([&](int tid) {
      std::vector<const K*> keys;
      std::vector<float> p;
      for (int64_t t = tid; t < T; t += nth) {  // interleaved: causal rows grow, so this balances the work
        keys_of(t, keys);
        const int64_t n = static_cast<int64_t>(keys.size());
        p.resize(static_cast<size_t>(H * n));
        mla_scores(q.data() + t * H * L, H, L, keys.data(), n, softmax_scale_, p.data(), n);
        for (int64_t h = 0; h < H; ++h) attention_softmax(p.data() + h * n, n);
        mla_values(p.data(), n, H, keys.data(), n, 0, rkv, lat + t * H * rkv, rkv);
      }
    });
  };
  if (cache.dtype() == DType::F16)
    run.template operator()<uint16_t>();
  else
    run.template operator()<float>();
}

}  // namespace dsinfer
