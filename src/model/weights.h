#pragma once
// The weights of a DeepSeek model as the forward pass sees them: views into the mapped files (any dtype)
// plus small float32 copies of the norm vectors and router bias. Names follow DeepSeek's model.py.

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "tensor/tensor.h"

namespace dsinfer {

namespace gpu {
class Device;  // kernels/cuda/gpu.h
}

struct MlpWeights {           // SwiGLU: down(silu(gate(x)) * up(x))
  TensorView gate;            // [I, D]
  TensorView up;              // [I, D]
  TensorView down;            // [D, I]
  bool present() const { return gate.data != nullptr; }
};

// DeepSeek Sparse Attention's lightning indexer (V3.2; transformers' DeepseekV32Indexer): per token a key
// k = RoPE(LayerNorm(wk x)), per query Hi heads q = RoPE(wq_b c_q) and weights w = weights_proj x; a key's
// score is sum_h w_h * relu(q_h . k) / sqrt(Di Hi), and attention keeps the index_topk best keys.
struct IndexerWeights {
  TensorView wq_b;                    // [Hi*Di, rq]  over the normed compressed query c_q
  TensorView wk;                      // [Di, D]
  std::vector<float> k_norm;          // [Di]  LayerNorm weight ...
  std::vector<float> k_norm_bias;     // [Di]  ... and bias (eps 1e-6)
  TensorView weights_proj;            // [Hi, D]  (kept in a float type, as the releases do)
  bool present() const { return wk.data != nullptr; }
};

struct MlaWeights {
  TensorView q_proj;              // [H*dq, D]       only when q_lora_rank == 0 (V2-Lite)
  TensorView q_a_proj;            // [rq, D]
  std::vector<float> q_a_norm;    // [rq]
  TensorView q_b_proj;            // [H*dq, rq]
  TensorView kv_a_proj;           // [rkv+dr, D]     output = [c_kv | k_pe]
  std::vector<float> kv_a_norm;   // [rkv]
  // Either the HF / legacy-GGUF fused up-projection ...
  TensorView kv_b_proj;           // [H*(dn+dv), rkv]  per head: dn rows W_UK_h, then dv rows W_UV_h
  // ... or llama.cpp's split MLA layout.
  TensorView k_b;                 // [H, rkv, dn]      = W_UK_h^T per head
  TensorView v_b;                 // [H, dv, rkv]      = W_UV_h per head
  TensorView o_proj;              // [D, H*dv]
  IndexerWeights indexer;         // DSA models only
  bool split_kv_b() const { return k_b.data != nullptr; }
};

struct MoeWeights {
  TensorView router;                  // [E, D]
  std::vector<float> router_bias;     // [E] e_score_correction_bias (noaux_tc only), else empty
  std::vector<MlpWeights> experts;    // E experts, each [Ie, D] / [D, Ie]
  MlpWeights shared;                  // width Ie * n_shared_experts (absent if n_shared_experts == 0)
  // Hybrid (model/gpu_placement.h): a batch of at least stream_from_tokens tokens runs the routed experts on
  // this GPU, their weights streamed from host memory; null: always on the CPU.
  gpu::Device* stream_gpu = nullptr;
  int64_t stream_from_tokens = 0;
};

struct LayerWeights {
  std::vector<float> attn_norm;  // [D] input_layernorm
  MlaWeights attn;
  std::vector<float> ffn_norm;   // [D] post_attention_layernorm
  MlpWeights dense;              // dense layers (l < first_k_dense_replace)
  MoeWeights moe;                // MoE layers
};

// A multi-token-prediction module (spec 10; V3/R1 ship one): from the main model's final-normed hidden
// state h_i and the embedding of token t_{i+1} it predicts t_{i+2}. Its decoder block is
// ModelWeights::layers[num_hidden_layers + k]; the rest is here.
struct MtpWeights {
  TensorView embed;                   // [V, D]   its own copy of the embedding (or the main one's view)
  std::vector<float> enorm;           // [D]      RMSNorm of the token embedding
  std::vector<float> hnorm;           // [D]      RMSNorm of the incoming hidden state
  TensorView eh_proj;                 // [D, 2D]  over [enorm(embed) | hnorm(h)] (embedding first)
  std::vector<float> head_norm;       // [D]      shared_head.norm
  TensorView head;                    // [V, D]   shared_head.head (or the main lm_head's view)
  bool embed_is_main = false;         // the file has no copies: embed / head are the main model's views
  bool head_is_main = false;          // (and follow them when they are repacked)
};

struct ModelWeights {
  TensorView embed;               // [V, D]
  // num_hidden_layers decoder blocks, then the blocks of the MTP modules when they are loaded
  // (LoadOptions::mtp): mtp[k]'s block is layers[num_hidden_layers + k].
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [D]
  TensorView lm_head;             // [V, D]
  std::vector<MtpWeights> mtp;    // empty unless loaded
};

// How the forward pass reads a weight: kMatmul only through matmul()/matmul_rows() over whole-matrix
// row ranges split at multiples of 16 rows; kPerHead through per-head row slices and transposed
// products (MLA's kv_b / k_b / v_b); kRowLookup one row at a time (the embedding).
enum class WeightUse { kMatmul, kPerHead, kRowLookup };

struct WeightRef {
  TensorView* view;
  WeightUse use;
};

// Every weight matrix of w that is present: embedding first, then the blocks, lm_head, the MTP modules'
// own matrices (a view that aliases the main embedding or lm_head is listed once).
std::vector<WeightRef> weight_views(ModelWeights& w);

// A 64-bit identity of the model's values: its config, every weight's name, type and size and its first and
// last 256 bytes, and the norm vectors — what decides the KV rows a prompt produces (for files of cached
// rows, runtime/prefix_cache_file.h). Reads ~0.5 KB per weight.
uint64_t weights_fingerprint(const ModelConfig& c, ModelWeights& w);

// ---- The weight table: canonical name <-> HF name <-> GGUF name, in ONE place. ----

enum class WeightLayout { kHf, kGguf, kGgufLegacyKvB };

// One tensor of a model file as the layout names and shapes it.
struct WeightSpec {
  std::string canonical;   // e.g. "layers.3.attn.kv_a_proj", "layers.3.moe.experts" (stacked in GGUF)
  std::string file_name;   // name in the file for the layout
  std::vector<int64_t> shape;  // outermost first
  int64_t layer = -1;      // -1 for embed / final_norm / lm_head
  int64_t expert = -1;     // HF per-expert tensors; -1 otherwise
  bool is_vector = false;  // norms and biases: kept float32, never quantized
  bool quantizable = true; // false for the router and vectors (kept in a float dtype by converters)
  bool optional = false;   // may be absent from a file (the MTP module's embedding and head copies in GGUF,
                           // an MTP block's DSA indexer)
};

// Every tensor a model of this config has in the given layout, in file order (embedding first); with_mtp
// adds the config's num_nextn_predict_layers MTP modules (spec 10.1; GGUF: llama.cpp's `blk.N.nextn.*`).
std::vector<WeightSpec> weight_specs(const ModelConfig& c, WeightLayout layout, bool with_mtp = false);

}  // namespace dsinfer
