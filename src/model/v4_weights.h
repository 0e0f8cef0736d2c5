#pragma once
// DeepSeek-V4's weights as its forward pass (model/v4_transformer.h) reads them, and loading them from a
// Hugging Face checkpoint directory. Names follow DeepSeek's release (`layers.N.attn.wq_a.weight`,
// `layers.N.ffn.experts.E.w1.weight`, `layers.N.hc_attn_fn`, `hc_head_fn`, `head.weight`), which is also
// what transformers' save_pretrained writes (behind a `model.` prefix). Matrices stay in the file mapping
// (any dtype matmul() reads); vectors are copied to float32.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/v4_config.h"
#include "model/weights.h"
#include "tensor/tensor.h"

namespace dsinfer {

class SafetensorsModel;

// One compressor: per token c*w projections kv and gate (c = 2 for the overlapping windows of CSA and of
// its indexer, 1 for HCA); each window of `rate` tokens becomes one entry of width w:
// RMSNorm(sum_slots softmax_slots(gate + ape) * kv), rotated at the window's first position.
struct V4CompressorWeights {
  TensorView wkv;            // [c*w, D]
  TensorView wgate;          // [c*w, D]
  std::vector<float> ape;    // [rate, c*w]  position bias of the gate
  std::vector<float> norm;   // [w]
  bool present() const { return wkv.data != nullptr; }
};

// CSA's lightning indexer: keys from its own compressor (width Di), queries q = wq_b c_q (Hi heads of Di),
// head weights weights_proj x; entry score sum_h w_h Hi^-0.5 relu(q_h . k) Di^-0.5.
struct V4IndexerWeights {
  V4CompressorWeights keys;
  TensorView wq_b;           // [Hi*Di, rq]
  TensorView weights_proj;   // [Hi, D]
};

struct V4AttentionWeights {
  TensorView wq_a;              // [rq, D]
  std::vector<float> q_norm;    // [rq]
  TensorView wq_b;              // [H*Dh, rq]
  TensorView wkv;               // [Dh, D]   the one key/value head
  std::vector<float> kv_norm;   // [Dh]
  TensorView wo_a;              // [g*dg, H*Dh/g]  group i's rows [i*dg, (i+1)*dg) read group i's heads
  TensorView wo_b;              // [D, g*dg]
  std::vector<float> sinks;     // [H]  per-head logit of the "attend to nothing" slot
  V4CompressorWeights compressor;  // CSA / HCA layers
  V4IndexerWeights indexer;        // CSA layers
};

// A hyper-connection: from the n normed streams, pre (n), post (n) and comb (n x n) mixing weights.
struct V4HyperWeights {
  TensorView fn;              // [(2+n)*n, n*D]  (the head's: [n, n*D])
  std::vector<float> base;    // [(2+n)*n]       ([n])
  std::vector<float> scale;   // [3]             ([1])
};

struct V4MoeWeights {
  TensorView router;                 // [E, D]
  std::vector<float> bias;           // [E] score correction (top-k layers)
  std::vector<int32_t> tid2eid;      // [V, K] experts per token id (hash layers)
  std::vector<MlpWeights> experts;   // E x (w1 = gate [Ie, D], w3 = up [Ie, D], w2 = down [D, Ie])
  MlpWeights shared;                 // width Ie * n_shared_experts
};

struct V4LayerWeights {
  std::vector<float> attn_norm;  // [D]
  std::vector<float> ffn_norm;   // [D]
  V4HyperWeights hc_attn, hc_ffn;
  V4AttentionWeights attn;
  V4MoeWeights moe;
};

struct V4Weights {
  TensorView embed;               // [V, D]
  std::vector<V4LayerWeights> layers;
  V4HyperWeights hc_head;
  std::vector<float> norm;        // [D]
  TensorView head;                // [V, D]
};

struct V4Model {
  std::string path;
  V4Config config;
  V4Weights weights;
  std::unique_ptr<SafetensorsModel> files;
  uint64_t weight_bytes = 0;
  V4Model();
  ~V4Model();
};

// Whether `path` is a model directory whose config.json says deepseek_v4.
bool is_v4_model_dir(const std::string& path);

// Config and weights of a DeepSeek-V4 checkpoint directory; every missing or misshapen tensor is an Error
// naming it.
std::unique_ptr<V4Model> load_v4_model(const std::string& path);

}  // namespace dsinfer
