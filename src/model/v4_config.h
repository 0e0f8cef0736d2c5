#pragma once
// DeepSeek-V4's configuration (model_type "deepseek_v4"; transformers' DeepseekV4Config). V4 is not the
// V2/V3 architecture with a new part: attention is shared-key/value multi-query attention (one head_dim-wide
// row per token serves as key and value) over a sliding window plus, per layer type, compressed entries of
// the older tokens; the residual stream is hc_mult parallel streams mixed by hyper-connections; the first
// MoE layers route by a fixed token -> experts table. So it has its own config, weights and forward pass
// (model/v4_*.h) rather than switches in ModelConfig.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace dsinfer {

enum class V4Attention {
  kSliding,             // "sliding_attention": the last sliding_window tokens only
  kCompressedSparse,    // "compressed_sparse_attention" (CSA): + the index_topk best of the entries that
                        //   compress each compress_rate_csa tokens (overlapping windows), chosen by an indexer
  kHeavilyCompressed,   // "heavily_compressed_attention" (HCA): + every entry compressing compress_rate_hca tokens
};
enum class V4Router { kHash, kTopK };  // "hash_moe": experts from tid2eid[token]; "moe": top-k of the scores
enum class V4Scoring { kSqrtSoftplus, kSigmoid };

const char* v4_attention_name(V4Attention a);

// One RoPE of V4 (interleaved pairs on the LAST rope_dim values of a head): "main" for sliding-window
// layers, "compress" (usually YaRN) for the compressed layers and their compressors and indexer.
struct V4Rope {
  double theta = 10000.0;
  bool yarn = false;
  double factor = 1.0;
  int64_t original_max_position = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double amplitude = 1.0;  // cos/sin scale ("attention_factor"; V4 keeps 1)
};

struct V4Config {
  int64_t vocab_size = 0;               // V
  int64_t hidden_size = 0;              // D
  int64_t num_hidden_layers = 0;        // L
  int64_t num_attention_heads = 0;      // H
  int64_t head_dim = 0;                 // Dh: query/key/value width per head (keys = values, one KV head)
  int64_t rope_dim = 0;                 // dr: the rotated tail of every head (qk_rope_head_dim)
  int64_t q_lora_rank = 0;              // rq
  int64_t o_groups = 0;                 // g: output projection groups (H*Dh/g values each)
  int64_t o_lora_rank = 0;              // dg: per-group output width
  int64_t sliding_window = 0;           // W: keys a query sees uncompressed, itself included
  int64_t compress_rate_csa = 4;        // m
  int64_t compress_rate_hca = 128;      // m'
  int64_t index_n_heads = 0;            // Hi
  int64_t index_head_dim = 0;           // Di
  int64_t index_topk = 0;               // compressed entries a CSA query keeps
  int64_t hc_mult = 0;                  // n: residual streams
  int64_t hc_sinkhorn_iters = 0;
  double hc_eps = 1e-6;

  int64_t moe_intermediate_size = 0;    // Ie (experts and the shared expert)
  int64_t n_routed_experts = 0;         // E
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;      // K
  V4Scoring scoring = V4Scoring::kSqrtSoftplus;
  double routed_scaling_factor = 1.0;
  double swiglu_limit = 0.0;            // gate <= limit, |up| <= limit (0: no clamp)

  double rms_norm_eps = 1e-6;
  V4Rope rope_main, rope_compress;
  int64_t max_position_embeddings = 0;
  int64_t num_nextn_predict_layers = 0;  // MTP modules in the checkpoint (not run)
  std::vector<V4Attention> layer_types;  // [L]
  std::vector<V4Router> mlp_layer_types; // [L]

  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> eos_token_id;

  int64_t compress_rate(int64_t layer) const;  // 0 for sliding layers
  void validate() const;                        // Error naming the first bad field
  std::string summary() const;                  // for `dsinfer info`
};

bool is_v4_model_type(const nlohmann::json& config);  // model_type "deepseek_v4"

// From a config.json as transformers writes it (layer_types, mlp_layer_types, compress_rates, nested
// rope_parameters {"main", "compress"}) or as DeepSeek's release ships it (compress_ratios per layer,
// num_hash_layers, qk_rope_head_dim, a flat rope_scaling for the compressed layers).
V4Config v4_config_from_hf_json(const nlohmann::json& j, const std::string& source);

}  // namespace dsinfer
