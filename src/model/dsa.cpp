// DeepSeek Sparse Attention (DeepSeek-V3.2; transformers' DeepseekV32Indexer, llama.cpp's deepseek32): the
// lightning indexer's key of every token is cached after its latent row, and a query whose context is
// longer than index_topk attends only to the index_topk keys the indexer scores highest. Up to index_topk
// keys every key is kept, so there the model is exactly V3's dense MLA and no score is computed.

#include <algorithm>
#include <cmath>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"
#include "model/linear.h"
#include "model/transformer.h"
#include "util/error.h"

namespace dsinfer {

void Transformer::indexer_keys(int64_t layer, const Batch& b, const float* x, float* k) {
  const ModelConfig& c = config_;
  const IndexerWeights& w = weights_.layers[layer].attn.indexer;
  const int64_t T = b.size(), Di = c.index_head_dim;
  linear(pool_, w.wk, x, T, k);  // [T, Di]
  for_token_ranges(pool_, T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* row = k + t * Di;
      layer_norm(row, w.k_norm.data(), w.k_norm_bias.data(), 1e-6f, Di, row);
      rope_neox(row, c.qk_rope_head_dim, b.positions[t], inv_freq_.data(), rope_amplitude_);
    }
  });
}

KeySelection Transformer::select_keys(int64_t layer, const Batch& b, const float* x, const float* cq,
                                      const LatentKvCache& cache) {
  const ModelConfig& c = config_;
  const IndexerWeights& w = weights_.layers[layer].attn.indexer;
  const int64_t T = b.size(), Hi = c.index_n_heads, Di = c.index_head_dim, topk = c.index_topk;
  const int64_t D = c.hidden_size, rq = c.q_lora_rank, L = c.latent_dim();
  KeySelection sel(static_cast<size_t>(T));
  std::vector<int64_t> rows;  // the batch tokens that see more than topk keys
  for (int64_t t = 0; t < T; ++t)
    if (b.positions[t] + 1 > topk) rows.push_back(t);
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return sel;

  // Queries [n, Hi, Di] = RoPE(wq_b c_q) and head weights [n, Hi] = weights_proj x / sqrt(Hi Di) (the
  // indexer's softmax scale Di^-0.5 folded in: relu(a s) = s relu(a) for s > 0).
  std::vector<float> xs(static_cast<size_t>(n * D)), cqs(static_cast<size_t>(n * rq));
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(x + rows[i] * D, D, xs.data() + i * D);
    std::copy_n(cq + rows[i] * rq, rq, cqs.data() + i * rq);
  }
  std::vector<float> q(static_cast<size_t>(n * Hi * Di)), hw(static_cast<size_t>(n * Hi));
  linear(pool_, w.wq_b, cqs.data(), n, q.data());
  linear(pool_, w.weights_proj, xs.data(), n, hw.data());
  const float wscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Hi * Di)));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t h = 0; h < Hi; ++h)
      rope_neox(q.data() + (i * Hi + h) * Di, c.qk_rope_head_dim, b.positions[rows[i]], inv_freq_.data(),
                rope_amplitude_);
    for (int64_t h = 0; h < Hi; ++h) hw[i * Hi + h] *= wscale;
  }

  // score_j = sum_h hw_h relu(q_h . k_j) over the cached keys j <= pos; keep the topk best (ties: the
  // earlier position), ascending, as the dense path reads them.
  auto run = [&]<class K>() {
    // Scores of keys [j0, j1) of query i into out, 512 keys at a time (the per-head scores of a whole long
    // context would be Hi x context floats).
    auto score_keys = [&](int64_t i, int64_t j0, int64_t j1, std::vector<const K*>& keys, std::vector<float>& s,
                          float* out) {
      constexpr int64_t kBlock = 512;
      const int64_t t = rows[i];
      const float* wt = hw.data() + i * Hi;
      keys.resize(static_cast<size_t>(kBlock));
      s.resize(static_cast<size_t>(Hi * kBlock));
      for (int64_t jb = j0; jb < j1; jb += kBlock) {
        const int64_t m = std::min(kBlock, j1 - jb);
        for (int64_t j = 0; j < m; ++j)
          keys[j] = static_cast<const K*>(cache.row_data(layer, b.seq_ids[t], jb + j)) + L;
        mla_scores(q.data() + i * Hi * Di, Hi, Di, keys.data(), m, 1.0f, s.data(), m);
        for (int64_t j = 0; j < m; ++j) {
          float acc = 0;
          for (int64_t h = 0; h < Hi; ++h) acc += wt[h] * std::max(0.0f, s[h * m + j]);
          out[jb - j0 + j] = acc;
        }
      }
    };
    auto choose = [&](int64_t i, const std::vector<float>& score) {
      const int64_t nk = b.positions[rows[i]] + 1;
      std::vector<int32_t> idx(static_cast<size_t>(nk));
      for (int64_t j = 0; j < nk; ++j) idx[j] = static_cast<int32_t>(j);
      std::nth_element(idx.begin(), idx.begin() + topk, idx.end(), [&](int32_t a, int32_t c2) {
        return score[a] > score[c2] || (score[a] == score[c2] && a < c2);
      });
      idx.resize(static_cast<size_t>(topk));
      std::sort(idx.begin(), idx.end());
      sel[rows[i]] = std::move(idx);
    };
    if (n == 1) {  // decode: the keys split across the threads
      const int64_t nk = b.positions[rows[0]] + 1;
      std::vector<float> score(static_cast<size_t>(nk));
      pool_.parallel_for(nk, [&](int64_t j0, int64_t j1, int) {
        std::vector<const K*> keys;
        std::vector<float> s;
        score_keys(0, j0, j1, keys, s, score.data() + j0);
      }, 256);
      choose(0, score);
      return;
    }
    pool_.run_on_all([&](int tid) {  // prefill: the queries interleaved across the threads
      std::vector<const K*> keys;
      std::vector<float> s, score;
      for (int64_t i = tid; i < n; i += pool_.size()) {
        const int64_t nk = b.positions[rows[i]] + 1;
        score.resize(static_cast<size_t>(nk));
        score_keys(i, 0, nk, keys, s, score.data());
        choose(i, score);
      }
    });
  };
  if (cache.dtype() == DType::F16)
    run.template operator()<uint16_t>();
  else
    run.template operator()<float>();
  return sel;
}

}  // namespace dsinfer
