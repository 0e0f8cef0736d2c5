#include "model/v4_config.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/json_file.h"
#include "model/config_checks.h"
#include "util/error.h"

namespace dsinfer {

const char* v4_attention_name(V4Attention a) {
  switch (a) {
    case V4Attention::kSliding: return "sliding_attention";
    case V4Attention::kCompressedSparse: return "compressed_sparse_attention";
    case V4Attention::kHeavilyCompressed: return "heavily_compressed_attention";
  }
  return "?";
}

bool is_v4_model_type(const nlohmann::json& config) {
  auto it = config.find("model_type");
  return it != config.end() && it->is_string() && it->get<std::string>() == "deepseek_v4";
}

int64_t V4Config::compress_rate(int64_t layer) const {
  switch (layer_types[static_cast<size_t>(layer)]) {
    case V4Attention::kSliding: return 0;
    case V4Attention::kCompressedSparse: return compress_rate_csa;
    case V4Attention::kHeavilyCompressed: return compress_rate_hca;
  }
  return 0;
}

namespace {

// One rope: `p` (a rope_parameters / rope_scaling object, or null) over the default theta.
V4Rope parse_rope(const nlohmann::json* p, double theta, const std::string& src) {
  V4Rope r;
  r.theta = theta;
  if (!p) return r;
  if (auto t = json_opt<double>(*p, "rope_theta", src)) r.theta = *t;
  const std::string type =
      json_opt<std::string>(*p, "rope_type", src).value_or(json_opt<std::string>(*p, "type", src).value_or("default"));
  if (type == "yarn") {
    r.yarn = true;
    r.factor = json_req<double>(*p, "factor", src);
    r.original_max_position = json_req<int64_t>(*p, "original_max_position_embeddings", src);
    r.beta_fast = json_opt<double>(*p, "beta_fast", src).value_or(32.0);
    r.beta_slow = json_opt<double>(*p, "beta_slow", src).value_or(1.0);
    // transformers' V4 config pins attention_factor to 1: the reference does not scale cos/sin.
    r.amplitude = json_opt<double>(*p, "attention_factor", src).value_or(1.0);
  } else if (type != "default" && type != "none") {
    fail(src, ": rope type '", type, "' is not supported (yarn or default)");
  }
  return r;
}

const nlohmann::json* object_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? &*it : nullptr;
}

}  // namespace

V4Config v4_config_from_hf_json(const nlohmann::json& j, const std::string& src) {
  if (!j.is_object()) fail(src, ": not a JSON object");
  if (!is_v4_model_type(j)) fail(src, ": model_type is not 'deepseek_v4'");
  V4Config c;
  c.vocab_size = json_req<int64_t>(j, "vocab_size", src);
  c.hidden_size = json_req<int64_t>(j, "hidden_size", src);
  c.num_hidden_layers = json_req<int64_t>(j, "num_hidden_layers", src);
  c.num_attention_heads = json_req<int64_t>(j, "num_attention_heads", src);
  c.head_dim = json_req<int64_t>(j, "head_dim", src);
  if (auto kv = json_opt<int64_t>(j, "num_key_value_heads", src); kv && *kv != 1)
    fail(src, ": num_key_value_heads is ", *kv, "; DeepSeek-V4 attention has one shared key/value head");
  if (auto r = json_opt<int64_t>(j, "qk_rope_head_dim", src)) {
    c.rope_dim = *r;
  } else {
    const double f = json_opt<double>(j, "partial_rotary_factor", src).value_or(64.0 / 512.0);
    c.rope_dim = static_cast<int64_t>(static_cast<double>(c.head_dim) * f);
  }
  c.q_lora_rank = json_req<int64_t>(j, "q_lora_rank", src);
  c.o_groups = json_req<int64_t>(j, "o_groups", src);
  c.o_lora_rank = json_req<int64_t>(j, "o_lora_rank", src);
  c.sliding_window = json_req<int64_t>(j, "sliding_window", src);
  if (const auto* rates = object_field(j, "compress_rates")) {
    c.compress_rate_csa = json_opt<int64_t>(*rates, "compressed_sparse_attention", src).value_or(4);
    c.compress_rate_hca = json_opt<int64_t>(*rates, "heavily_compressed_attention", src).value_or(128);
  }
  c.compress_rate_csa = json_opt<int64_t>(j, "compress_rate_csa", src).value_or(c.compress_rate_csa);
  c.compress_rate_hca = json_opt<int64_t>(j, "compress_rate_hca", src).value_or(c.compress_rate_hca);
  c.index_n_heads = json_opt<int64_t>(j, "index_n_heads", src).value_or(64);
  c.index_head_dim = json_opt<int64_t>(j, "index_head_dim", src).value_or(128);
  c.index_topk = json_opt<int64_t>(j, "index_topk", src).value_or(512);
  c.hc_mult = json_opt<int64_t>(j, "hc_mult", src).value_or(4);
  c.hc_sinkhorn_iters = json_opt<int64_t>(j, "hc_sinkhorn_iters", src).value_or(20);
  c.hc_eps = json_opt<double>(j, "hc_eps", src).value_or(1e-6);

  c.moe_intermediate_size = json_req<int64_t>(j, "moe_intermediate_size", src);
  c.n_routed_experts = json_req<int64_t>(j, "n_routed_experts", src);
  c.n_shared_experts = json_opt<int64_t>(j, "n_shared_experts", src).value_or(1);
  c.num_experts_per_tok = json_req<int64_t>(j, "num_experts_per_tok", src);
  const std::string scoring = json_opt<std::string>(j, "scoring_func", src).value_or("sqrtsoftplus");
  if (scoring == "sqrtsoftplus") c.scoring = V4Scoring::kSqrtSoftplus;
  else if (scoring == "sigmoid") c.scoring = V4Scoring::kSigmoid;
  else fail(src, ": field 'scoring_func' = '", scoring, "' is not supported for DeepSeek-V4 (sqrtsoftplus, sigmoid)");
  c.routed_scaling_factor = json_opt<double>(j, "routed_scaling_factor", src).value_or(1.5);
  c.swiglu_limit = json_opt<double>(j, "swiglu_limit", src).value_or(10.0);
  c.rms_norm_eps = json_opt<double>(j, "rms_norm_eps", src).value_or(1e-6);
  c.max_position_embeddings = json_opt<int64_t>(j, "max_position_embeddings", src).value_or(0);
  c.num_nextn_predict_layers = json_opt<int64_t>(j, "num_nextn_predict_layers", src).value_or(0);
  c.bos_token_id = json_token_id(j, "bos_token_id");
  c.eos_token_id = json_token_id(j, "eos_token_id");

  // RoPE: nested {"main": {...}, "compress": {...}} (transformers), or rope_theta for the sliding layers
  // and compress_rope_theta + a flat rope_scaling / rope_parameters (YaRN) for the compressed ones.
  const double theta = json_opt<double>(j, "rope_theta", src).value_or(10000.0);
  const double compress_theta = json_opt<double>(j, "compress_rope_theta", src).value_or(160000.0);
  const nlohmann::json* rp = object_field(j, "rope_parameters");
  if (!rp) rp = object_field(j, "rope_scaling");
  if (rp && object_field(*rp, "main") && object_field(*rp, "compress")) {
    c.rope_main = parse_rope(object_field(*rp, "main"), theta, src + " rope_parameters.main");
    c.rope_compress = parse_rope(object_field(*rp, "compress"), compress_theta, src + " rope_parameters.compress");
  } else {
    c.rope_main = parse_rope(nullptr, theta, src);
    c.rope_compress = parse_rope(rp, compress_theta, src + " rope_scaling");
    c.rope_compress.theta = compress_theta;  // a flat object's rope_theta is the sliding layers' one
  }

  // Layer schedules: explicit lists, else the release's compress_ratios / num_hash_layers, else
  // transformers' defaults (2 HCA layers, then CSA / HCA alternating; 3 hash-routed layers).
  const int64_t L = c.num_hidden_layers;
  if (L < 1 || L > 1024) fail(src, ": num_hidden_layers is ", L, "; must be in [1, 1024]");
  if (auto it = j.find("layer_types"); it != j.end() && !it->is_null()) {
    for (const auto& name : json_req<std::vector<std::string>>(j, "layer_types", src)) {
      if (name == "sliding_attention") c.layer_types.push_back(V4Attention::kSliding);
      else if (name == "compressed_sparse_attention") c.layer_types.push_back(V4Attention::kCompressedSparse);
      else if (name == "heavily_compressed_attention") c.layer_types.push_back(V4Attention::kHeavilyCompressed);
      else fail(src, ": layer_types entry '", name, "' is not a DeepSeek-V4 attention type");
    }
  } else if (auto ratios = json_opt<std::vector<int64_t>>(j, "compress_ratios", src)) {
    for (int64_t r : *ratios) {
      if (r == 0) c.layer_types.push_back(V4Attention::kSliding);
      else if (r == c.compress_rate_csa) c.layer_types.push_back(V4Attention::kCompressedSparse);
      else if (r == c.compress_rate_hca) c.layer_types.push_back(V4Attention::kHeavilyCompressed);
      else fail(src, ": compress_ratios entry ", r, " is neither 0, the CSA rate ", c.compress_rate_csa,
                " nor the HCA rate ", c.compress_rate_hca);
    }
  } else {
    for (int64_t l = 0; l < L; ++l)
      c.layer_types.push_back(l < 2 || l % 2 == 0 ? V4Attention::kHeavilyCompressed : V4Attention::kCompressedSparse);
  }
  c.layer_types.resize(std::min<size_t>(c.layer_types.size(), static_cast<size_t>(L)));
  if (auto it = j.find("mlp_layer_types"); it != j.end() && !it->is_null()) {
    for (const auto& name : json_req<std::vector<std::string>>(j, "mlp_layer_types", src)) {
      if (name == "hash_moe") c.mlp_layer_types.push_back(V4Router::kHash);
      else if (name == "moe") c.mlp_layer_types.push_back(V4Router::kTopK);
      else fail(src, ": mlp_layer_types entry '", name, "' is not 'hash_moe' or 'moe'");
    }
  } else {
    const int64_t n_hash = json_opt<int64_t>(j, "num_hash_layers", src).value_or(3);
    for (int64_t l = 0; l < L; ++l) c.mlp_layer_types.push_back(l < n_hash ? V4Router::kHash : V4Router::kTopK);
  }
  c.mlp_layer_types.resize(std::min<size_t>(c.mlp_layer_types.size(), static_cast<size_t>(L)));
  with_context(src, [&] { c.validate(); });
  return c;
}

void V4Config::validate() const {
  check_field_in(vocab_size, 1, int64_t{1} << 24, "vocab_size");
  check_field_in(hidden_size, 1, 1 << 16, "hidden_size");
  check_field_in(num_attention_heads, 1, 1024, "num_attention_heads");
  check_field_in(head_dim, 2, 4096, "head_dim");
  check_field_in(rope_dim, 2, head_dim, "qk_rope_head_dim");
  check_field(rope_dim % 2 == 0, "qk_rope_head_dim", cat("is ", rope_dim, "; must be even"));
  check_field_in(q_lora_rank, 1, 1 << 16, "q_lora_rank");
  check_field_in(o_groups, 1, num_attention_heads, "o_groups");
  check_field(num_attention_heads % o_groups == 0, "o_groups",
              cat("is ", o_groups, "; must divide num_attention_heads = ", num_attention_heads));
  check_field_in(o_lora_rank, 1, 1 << 16, "o_lora_rank");
  // Bounded so a sequence's fixed state (a window ring and two windows of compressor rows per layer) stays
  // sane for any config a file can claim; the releases use 128, 4 and 128.
  check_field_in(sliding_window, 1, 1 << 16, "sliding_window");
  check_field_in(compress_rate_csa, 1, 4096, "compress_rates.compressed_sparse_attention");
  check_field_in(compress_rate_hca, 1, 4096, "compress_rates.heavily_compressed_attention");
  check_field_in(index_n_heads, 1, 4096, "index_n_heads");
  check_field_in(index_head_dim, rope_dim, 4096, "index_head_dim");
  check_field_in(index_topk, 1, int64_t{1} << 24, "index_topk");
  check_field_in(hc_mult, 1, 64, "hc_mult");
  check_field_in(hc_sinkhorn_iters, 1, 1000, "hc_sinkhorn_iters");
  check_field_in(moe_intermediate_size, 1, 1 << 20, "moe_intermediate_size");
  check_field_in(n_routed_experts, 1, 1 << 16, "n_routed_experts");
  check_field_in(n_shared_experts, 0, 64, "n_shared_experts");
  check_field_in(num_experts_per_tok, 1, n_routed_experts, "num_experts_per_tok");
  check_field(swiglu_limit >= 0, "swiglu_limit", "must not be negative");
  check_field(static_cast<int64_t>(layer_types.size()) == num_hidden_layers, "layer_types",
              cat("has ", layer_types.size(), " entries for ", num_hidden_layers, " layers"));
  check_field(static_cast<int64_t>(mlp_layer_types.size()) == num_hidden_layers, "mlp_layer_types",
              cat("has ", mlp_layer_types.size(), " entries for ", num_hidden_layers, " layers"));
  for (const V4Rope* r : {&rope_main, &rope_compress}) {
    check_field(r->theta > 0, "rope_theta", "must be positive");
    if (r->yarn) {
      check_field(r->factor >= 1, "rope factor", cat("is ", r->factor, "; must be >= 1"));
      check_field(r->original_max_position > 0, "original_max_position_embeddings", "must be positive");
    }
  }
}

std::string V4Config::summary() const {
  std::ostringstream o;
  o << "architecture: DeepSeek-V4 (deepseek_v4)\n"
    << "vocab_size: " << vocab_size << "\nhidden_size: " << hidden_size << "\nnum_hidden_layers: " << num_hidden_layers
    << "\nnum_attention_heads: " << num_attention_heads << " (one shared key/value head of " << head_dim
    << ", rope on the last " << rope_dim << ")\nq_lora_rank: " << q_lora_rank << "\noutput projection: " << o_groups
    << " groups x " << o_lora_rank << "\nsliding_window: " << sliding_window << "\ncompress rates: CSA "
    << compress_rate_csa << ", HCA " << compress_rate_hca << "\nindexer: " << index_n_heads << " heads x "
    << index_head_dim << ", top " << index_topk << "\nhyper-connections: " << hc_mult << " streams, "
    << hc_sinkhorn_iters << " Sinkhorn iterations\nexperts: " << n_routed_experts << " routed (" << num_experts_per_tok
    << " per token, " << (scoring == V4Scoring::kSqrtSoftplus ? "sqrtsoftplus" : "sigmoid") << ", scale "
    << routed_scaling_factor << ") + " << n_shared_experts << " shared, width " << moe_intermediate_size
    << ", swiglu_limit " << swiglu_limit << "\nlayers:";
  for (int64_t l = 0; l < num_hidden_layers; ++l)
    o << "\n  " << l << ": " << v4_attention_name(layer_types[static_cast<size_t>(l)])
      << (mlp_layer_types[static_cast<size_t>(l)] == V4Router::kHash ? ", hash-routed MoE" : ", MoE");
  return o.str();
}

}  // namespace dsinfer
