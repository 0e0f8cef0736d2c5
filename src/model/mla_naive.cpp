// MLA in the naive form: per-head keys k_j = [W_UK_h c_j | kpe_j] and values v_j = W_UV_h c_j are
// decompressed from the latent cache for every key of each sequence, then standard attention runs as two
// float GEMMs per head (scores = Q K^T, out = P V). Per query token it costs H (dq + dv) per key instead
// of the absorbed form's H (rkv + dr + rkv), plus the decompression (S H (dn + dv) rkv) once per call — so
// it wins for long prompt chunks, and the absorbed form wins for decode (transformer.h, AttentionForm).

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/transformer.h"

namespace dsinfer {
namespace {

constexpr int64_t kQueryBlock = 64;  // queries per causal block: each sees only the keys up to its last

TensorView f32_span_view(const float* data, int64_t rows, int64_t cols) {
  TensorView v;
  v.name = "mla.naive.scratch";
  v.dtype = DType::F32;
  v.shape = {rows, cols};
  v.data = data;
  v.nbytes = static_cast<size_t>(rows * cols) * sizeof(float);
  return v;
}

TensorView f32_view(const std::vector<float>& data, int64_t rows, int64_t cols) {
  return f32_span_view(data.data(), rows, cols);
}

}  // namespace

void Transformer::attention_naive(int64_t layer, const Batch& b, const float* q, const LatentKvCache& cache,
                                  float* o) {
  const ModelConfig& c = config_;
  const MlaWeights& w = weights_.layers[layer].attn;
  const int64_t T = b.size(), H = c.num_attention_heads, dq = c.qk_head_dim(), dn = c.qk_nope_head_dim;
  const int64_t dr = c.qk_rope_head_dim, rkv = c.kv_lora_rank, dv = c.v_head_dim, L = c.latent_dim();

  std::map<int32_t, int64_t> keys_of_seq;  // sequence -> number of keys needed
  for (int64_t t = 0; t < T; ++t)
    keys_of_seq[b.seq_ids[t]] = std::max(keys_of_seq[b.seq_ids[t]], b.positions[t] + 1);
  for (const auto& [seq, S] : keys_of_seq) {
    std::vector<int64_t> toks;  // this sequence's tokens in the batch
    for (int64_t t = 0; t < T; ++t)
      if (b.seq_ids[t] == seq) toks.push_back(t);
    const int64_t n = static_cast<int64_t>(toks.size());
    std::vector<float> latent(static_cast<size_t>(S * L));  // [S, rkv + dr]
    for (int64_t j = 0; j < S; ++j) cache.read_row(layer, seq, j, latent.data() + j * L);

    // Decompression: k_nope [S, H, dn], v [S, H, dv].
    std::vector<float> k_nope(static_cast<size_t>(S * H * dn)), v(static_cast<size_t>(S * H * dv));
    std::vector<float> wk(static_cast<size_t>(rkv * dn)), wk_t(static_cast<size_t>(dn * rkv));
    for (int64_t h = 0; h < H; ++h) {
      if (w.split_kv_b()) {
        // k_b[h] is W_UK_h^T [rkv, dn]: transposed once into a float [dn, rkv] matrix for the GEMM.
        dequantize_rows(w.k_b, h * rkv, rkv, wk.data());
        for (int64_t r = 0; r < rkv; ++r)
          for (int64_t k = 0; k < dn; ++k) wk_t[k * rkv + r] = wk[r * dn + k];
        matmul(pool_, f32_view(wk_t, dn, rkv), 0, dn, latent.data(), L, S, k_nope.data() + h * dn, H * dn);
        matmul(pool_, w.v_b, h * dv, dv, latent.data(), L, S, v.data() + h * dv, H * dv);
      } else {
        matmul(pool_, w.kv_b_proj, h * (dn + dv), dn, latent.data(), L, S, k_nope.data() + h * dn, H * dn);
        matmul(pool_, w.kv_b_proj, h * (dn + dv) + dn, dv, latent.data(), L, S, v.data() + h * dv, H * dv);
      }
    }

    // Per head (heads split across threads), per block of kQueryBlock queries: scores [nq, kb] = Q_h K_h^T
    // over the kb keys the block can see (causal; kb rounded up to 8 lanes), masked softmax, out = P V_h.
    // Skipped keys have probability 0, so the products are those of the full [n, S] computation.
    pool_.run_on_all([&](int tid) {
      const int nth = pool_.size();
      std::vector<float> kc(static_cast<size_t>(S * dq)), vt(static_cast<size_t>(dv * S)),
          vb(static_cast<size_t>(dv * S));
      std::vector<float> qh(static_cast<size_t>(n * dq)), p(static_cast<size_t>(kQueryBlock * S)),
          out(static_cast<size_t>(kQueryBlock * dv));
      MatmulInput in;
      for (int64_t h = tid; h < H; h += nth) {
        for (int64_t j = 0; j < S; ++j) {
          std::copy_n(k_nope.data() + (j * H + h) * dn, dn, kc.data() + j * dq);
          std::copy_n(latent.data() + j * L + rkv, dr, kc.data() + j * dq + dn);
          for (int64_t k = 0; k < dv; ++k) vt[k * S + j] = v[(j * H + h) * dv + k];
        }
        for (int64_t i = 0; i < n; ++i) std::copy_n(q + (toks[i] * H + h) * dq, dq, qh.data() + i * dq);
        for (int64_t i0 = 0; i0 < n; i0 += kQueryBlock) {
          const int64_t nq = std::min(kQueryBlock, n - i0);
          int64_t seen = 0;
          for (int64_t i = i0; i < i0 + nq; ++i) seen = std::max(seen, b.positions[toks[i]] + 1);
          const int64_t kb = std::min(S, (seen + 7) / 8 * 8);
          in.prepare(qh.data() + i0 * dq, dq, nq, dq, DType::F32);
          matmul_rows(f32_view(kc, S, dq), 0, kb, in, p.data(), kb);
          for (int64_t i = 0; i < nq; ++i) {
            float* pi = p.data() + i * kb;
            const int64_t n_keys = b.positions[toks[i0 + i]] + 1;
            for (int64_t j = 0; j < n_keys; ++j) pi[j] *= softmax_scale_;
            attention_softmax(pi, n_keys);
            std::fill(pi + n_keys, pi + kb, 0.0f);  // causal: later keys get no weight
          }
          const float* vk = vt.data();  // V_h^T restricted to the kb keys: [dv, kb]
          if (kb < S) {
            for (int64_t k = 0; k < dv; ++k) std::copy_n(vt.data() + k * S, kb, vb.data() + k * kb);
            vk = vb.data();
          }
          in.prepare(p.data(), kb, nq, kb, DType::F32);
          matmul_rows(f32_span_view(vk, dv, kb), 0, dv, in, out.data(), dv);
          for (int64_t i = 0; i < nq; ++i) std::copy_n(out.data() + i * dv, dv, o + (toks[i0 + i] * H + h) * dv);
        }
      }
    });
  }
}

}  // namespace dsinfer
