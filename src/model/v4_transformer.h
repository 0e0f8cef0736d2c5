#pragma once
// DeepSeek-V4's forward pass (transformers' DeepseekV4ForCausalLM), one sequence at a time.
//
//   X = [embed(t)] * n streams                                         X: [n, D] per token
//   per layer: pre, post, comb = hc_attn(X); y = attn(RMSNorm(sum_i pre_i X_i))
//              X_k = post_k y + sum_j comb[j][k] X_j                     (then the same with hc_ffn / MoE)
//   logits = head(RMSNorm(sum_i pre_i X_i))  with pre from hc_head
//
// Attention (v4_attention.cpp) is multi-query with one key = value row per token (Dh wide, RoPE on its
// last dr values), a per-head sink logit, over the last sliding_window tokens plus, in compressed layers,
// entries that each summarize compress_rate tokens: every entry so far (HCA) or the index_topk best by a
// lightning indexer (CSA). The output's rope tail is rotated back by the query position, then a grouped
// low-rank projection (wo_a per group, wo_b) maps heads to D.
//
// V4State is what a sequence carries between calls: the last sliding_window key/value rows, each
// compressor's rows of the window being filled (and, for overlapping windows, the previous one), and
// the compressed entries. Feeding a sequence in any chunking gives the same logits.

#include <cstdint>
#include <vector>

#include "model/v4_weights.h"
#include "util/thread_pool.h"

namespace dsinfer {

struct V4CompressorState {
  int64_t width = 0;          // w: values per entry
  int64_t copies = 1;         // c: 2 for overlapping windows (Ca for the next entry, Cb for this one)
  int64_t rate = 0;           // tokens per entry
  std::vector<float> kv;      // [2 * rate, c * w]: rows [0, rate) the previous window, [rate, 2 rate) this one
  std::vector<float> gate;    // the same, position bias (ape) added
  int64_t filled = 0;         // tokens of this window so far
  bool has_previous = false;  // rows [0, rate) hold a complete window
  std::vector<float> entries; // [n_entries, w]: normed, rotated at their window's first position
  int64_t n_entries = 0;
};

struct V4LayerState {
  std::vector<float> window;  // [sliding_window, Dh]: key/value row of position p at row p % sliding_window
  V4CompressorState compressor, indexer;
};

struct V4State {
  int64_t n_past = 0;  // tokens already fed
  std::vector<V4LayerState> layers;
};

struct V4Trace {
  std::vector<std::vector<std::vector<int32_t>>> experts;       // [layer][token] routed experts, ascending
  std::vector<std::vector<std::vector<int32_t>>> index_entries;  // [layer][token] CSA entries kept, ascending
};

class V4Transformer {
 public:
  V4Transformer(const V4Config& config, const V4Weights& weights, ThreadPool& pool);

  V4State new_state() const;
  // Feeds tokens [T] at positions state.n_past.. and returns the logits of every token [T, V] (all_logits)
  // or of the last one [V].
  std::vector<float> forward(const std::vector<int32_t>& tokens, V4State& state, bool all_logits = false,
                             V4Trace* trace = nullptr);

  const V4Config& config() const { return c_; }

 private:
  const V4Config& c_;
  const V4Weights& w_;
  ThreadPool& pool_;
  std::vector<float> inv_freq_main_, inv_freq_compress_;  // [dr/2]

  // X [T, n, D] -> the block input [T, D] (RMSNorm of the collapsed streams with `norm`), post [T, n] and
  // comb [T, n, n].
  void hyper_in(const V4HyperWeights& hc, const std::vector<float>& X, int64_t T, const std::vector<float>& norm,
                std::vector<float>& x, std::vector<float>& post, std::vector<float>& comb);
  // X_k = post_k y + sum_j comb[j][k] X_j, in place.
  void hyper_out(std::vector<float>& X, int64_t T, const std::vector<float>& y, const std::vector<float>& post,
                 const std::vector<float>& comb) const;
  void attention(int64_t layer, const float* x, int64_t T, int64_t pos0, V4LayerState& st, float* out,
                 V4Trace* trace);
  void moe(int64_t layer, const float* x, const std::vector<int32_t>& tokens, float* out, V4Trace* trace);
  // SwiGLU with the swiglu_limit clamps: out [T, D] = down(silu(min(gate x, l)) * clamp(up x, -l, l)).
  void clamped_mlp(const MlpWeights& m, const float* x, int64_t T, float* out);
};

}  // namespace dsinfer
