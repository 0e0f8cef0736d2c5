#include "model/model_config.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/json_file.h"
#include "model/config_checks.h"
#include "util/error.h"

namespace dsinfer {

const char* scoring_func_name(ScoringFunc f) { return f == ScoringFunc::kSigmoid ? "sigmoid" : "softmax"; }

const char* topk_method_name(TopkMethod m) {
  switch (m) {
    case TopkMethod::kGreedy: return "greedy";
    case TopkMethod::kGroupLimitedGreedy: return "group_limited_greedy";
    case TopkMethod::kNoauxTc: return "noaux_tc";
  }
  return "?";
}

double yarn_get_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

double ModelConfig::softmax_scale() const {
  double s = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  if (rope.yarn && rope.mscale_all_dim != 0.0) {
    const double m = yarn_get_mscale(rope.factor, rope.mscale_all_dim);
    s *= m * m;
  }
  return s;
}

double ModelConfig::rope_amplitude() const {
  if (!rope.yarn) return 1.0;
  // HF remote code: get_mscale(s, mscale) / get_mscale(s, mscale_all_dim); mscale_all_dim 0 gives 1.
  return yarn_get_mscale(rope.factor, rope.mscale) / yarn_get_mscale(rope.factor, rope.mscale_all_dim);
}

ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& src) {
  if (!j.is_object()) fail(src, ": not a JSON object");
  ModelConfig c;
  c.model_type = json_opt<std::string>(j, "model_type", src).value_or("");
  if (c.model_type == "deepseek_v4")
    fail(src, ": a DeepSeek-V4 model (a new architecture: model/v4_transformer.h); so far it runs one sequence at a "
         "time with `dsinfer run`, `dsinfer logits` and `dsinfer info`, not yet with this command");
  if (c.model_type != "deepseek_v3" && c.model_type != "deepseek_v32" && c.model_type != "deepseek_v2" &&
      c.model_type != "kimi_k2") {
    fail(src, ": field 'model_type' is '", c.model_type,
         "'; dsinfer runs DeepSeek-V2/V3-architecture models (deepseek_v2, deepseek_v3, deepseek_v32)");
  }
  const bool v3 = c.model_type != "deepseek_v2";
  c.vocab_size = json_req<int64_t>(j, "vocab_size", src);
  c.hidden_size = json_req<int64_t>(j, "hidden_size", src);
  c.intermediate_size = json_req<int64_t>(j, "intermediate_size", src);
  c.moe_intermediate_size = json_opt<int64_t>(j, "moe_intermediate_size", src).value_or(0);
  c.num_hidden_layers = json_req<int64_t>(j, "num_hidden_layers", src);
  c.first_k_dense_replace = json_opt<int64_t>(j, "first_k_dense_replace", src).value_or(0);
  c.moe_layer_freq = json_opt<int64_t>(j, "moe_layer_freq", src).value_or(1);
  c.num_attention_heads = json_req<int64_t>(j, "num_attention_heads", src);
  c.q_lora_rank = json_opt<int64_t>(j, "q_lora_rank", src).value_or(0);
  c.kv_lora_rank = json_req<int64_t>(j, "kv_lora_rank", src);
  c.qk_nope_head_dim = json_req<int64_t>(j, "qk_nope_head_dim", src);
  c.qk_rope_head_dim = json_req<int64_t>(j, "qk_rope_head_dim", src);
  c.v_head_dim = json_req<int64_t>(j, "v_head_dim", src);
  c.n_routed_experts = json_opt<int64_t>(j, "n_routed_experts", src).value_or(0);
  c.n_shared_experts = json_opt<int64_t>(j, "n_shared_experts", src).value_or(0);
  c.num_experts_per_tok = json_opt<int64_t>(j, "num_experts_per_tok", src).value_or(0);
  c.n_group = json_opt<int64_t>(j, "n_group", src).value_or(1);
  c.topk_group = json_opt<int64_t>(j, "topk_group", src).value_or(1);
  c.routed_scaling_factor = json_opt<double>(j, "routed_scaling_factor", src).value_or(1.0);
  c.rms_norm_eps = json_opt<double>(j, "rms_norm_eps", src).value_or(1e-6);
  c.max_position_embeddings = json_opt<int64_t>(j, "max_position_embeddings", src).value_or(0);
  c.num_nextn_predict_layers = json_opt<int64_t>(j, "num_nextn_predict_layers", src).value_or(0);
  c.tie_word_embeddings = json_opt<bool>(j, "tie_word_embeddings", src).value_or(false);
  if (c.model_type == "deepseek_v32") {  // the indexer's sizes (transformers' defaults when left out)
    c.index_n_heads = json_opt<int64_t>(j, "index_n_heads", src).value_or(64);
    c.index_head_dim = json_opt<int64_t>(j, "index_head_dim", src).value_or(128);
    c.index_topk = json_opt<int64_t>(j, "index_topk", src).value_or(2048);
  }
  c.bos_token_id = json_token_id(j, "bos_token_id");
  c.eos_token_id = json_token_id(j, "eos_token_id");

  // Router behaviour. The remote-code configs of the releases carry scoring_func/topk_method; the
  // transformers-library classes hard-wire them per model_type (V3: sigmoid + noaux_tc, V2: softmax with
  // topk_method defaulting to greedy), so a missing field takes the value that class would use.
  const std::string scoring = json_opt<std::string>(j, "scoring_func", src).value_or(v3 ? "sigmoid" : "softmax");
  if (scoring == "softmax") c.scoring_func = ScoringFunc::kSoftmax;
  else if (scoring == "sigmoid") c.scoring_func = ScoringFunc::kSigmoid;
  else fail(src, ": field 'scoring_func' = '", scoring, "' is not supported (softmax, sigmoid)");
  std::string method = json_opt<std::string>(j, "topk_method", src).value_or(v3 ? "noaux_tc" : "greedy");
  if (method == "gready") method = "greedy";  // typo in some V2 remote-code copies (spec 13.13)
  if (method == "greedy") c.topk_method = TopkMethod::kGreedy;
  else if (method == "group_limited_greedy") c.topk_method = TopkMethod::kGroupLimitedGreedy;
  else if (method == "noaux_tc") c.topk_method = TopkMethod::kNoauxTc;
  else fail(src, ": field 'topk_method' = '", method, "' is not supported (greedy, group_limited_greedy, noaux_tc)");
  c.norm_topk_prob = json_opt<bool>(j, "norm_topk_prob", src).value_or(v3);

  // RoPE: `rope_scaling` (remote code, transformers 4) or `rope_parameters` (transformers 5, which may
  // also hold rope_theta).
  c.rope_theta = json_opt<double>(j, "rope_theta", src).value_or(10000.0);
  const nlohmann::json* rs = nullptr;
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    auto it = j.find(key);
    if (it != j.end() && it->is_object()) rs = &*it;
  }
  if (rs) {
    const std::string rsrc = src + " rope_scaling";
    if (auto t = json_opt<double>(*rs, "rope_theta", rsrc)) c.rope_theta = *t;
    std::string type = json_opt<std::string>(*rs, "type", rsrc).value_or(json_opt<std::string>(*rs, "rope_type", rsrc).value_or("default"));
    if (type == "yarn") {
      c.rope.yarn = true;
      c.rope.factor = json_req<double>(*rs, "factor", rsrc);
      c.rope.original_max_position = json_req<int64_t>(*rs, "original_max_position_embeddings", rsrc);
      c.rope.beta_fast = json_opt<double>(*rs, "beta_fast", rsrc).value_or(32.0);
      c.rope.beta_slow = json_opt<double>(*rs, "beta_slow", rsrc).value_or(1.0);
      c.rope.mscale = json_opt<double>(*rs, "mscale", rsrc).value_or(1.0);
      c.rope.mscale_all_dim = json_opt<double>(*rs, "mscale_all_dim", rsrc).value_or(0.0);
    } else if (type != "default" && type != "none") {
      fail(src, ": rope_scaling type '", type, "' is not supported (yarn or none)");
    }
  }
  c.validate();
  return c;
}

namespace {

// The DSA indexer's fields (part of ModelConfig::validate).
void validate_dsa(const ModelConfig& c) {
  const int64_t index_n_heads = c.index_n_heads, index_head_dim = c.index_head_dim, index_topk = c.index_topk;
  const int64_t qk_rope_head_dim = c.qk_rope_head_dim, q_lora_rank = c.q_lora_rank;
  check_field(index_n_heads >= 1 && index_n_heads <= 4096, "index_n_heads",
              cat("is ", index_n_heads, "; must be in [1, 4096]"));
  check_field(index_head_dim >= qk_rope_head_dim && index_head_dim <= 4096, "index_head_dim",
              cat("is ", index_head_dim, "; must be in [qk_rope_head_dim=", qk_rope_head_dim, ", 4096]"));
  check_field(index_topk >= 1 && index_topk <= int64_t{1} << 24, "index_topk",
              cat("is ", index_topk, "; must be in [1, 2^24]"));
  check_field(q_lora_rank > 0, "q_lora_rank",
              "the DSA indexer's queries come from the compressed query (q_lora_rank > 0)");
}

}  // namespace

void ModelConfig::validate() const {
  // Upper bounds far above any release (V3: 61 layers, 128 heads, 256 experts, hidden 7168, vocabulary
  // 129 280) keep a corrupt or hostile file from asking for billions of layers or int64-overflowing
  // tensor sizes before a single tensor is checked.
  check_field_in(vocab_size, 1, int64_t{1} << 24, "vocab_size");
  check_field_in(hidden_size, 1, int64_t{1} << 20, "hidden_size");
  check_field_in(num_hidden_layers, 1, 1024, "num_hidden_layers");
  check_field_in(num_nextn_predict_layers, 0, 16, "num_nextn_predict_layers");
  check_field_in(num_attention_heads, 1, 4096, "num_attention_heads");
  check_field_in(kv_lora_rank, 1, int64_t{1} << 16, "kv_lora_rank");
  check_field_in(q_lora_rank, 0, int64_t{1} << 16, "q_lora_rank");
  check_field_in(qk_nope_head_dim, 1, 4096, "qk_nope_head_dim");
  check_field_in(qk_rope_head_dim, 1, 4096, "qk_rope_head_dim");
  check_field(qk_rope_head_dim % 2 == 0, "qk_rope_head_dim", "must be even (RoPE rotates pairs)");
  check_field_in(v_head_dim, 1, 4096, "v_head_dim");
  check_field_in(intermediate_size, 0, int64_t{1} << 22, "intermediate_size");
  check_field_in(moe_intermediate_size, 0, int64_t{1} << 22, "moe_intermediate_size");
  check_field_in(n_routed_experts, 0, 65536, "n_routed_experts");
  check_field_in(n_shared_experts, 0, 256, "n_shared_experts");
  check_field(rms_norm_eps > 0, "rms_norm_eps", "must be positive");
  check_field(rope_theta > 0, "rope_theta", "must be positive");
  check_field(moe_layer_freq > 0, "moe_layer_freq", "must be positive");
  check_field(first_k_dense_replace >= 0 && first_k_dense_replace <= num_hidden_layers,
              "first_k_dense_replace", cat("must be in [0, num_hidden_layers=", num_hidden_layers, "]"));
  check_field(first_k_dense_replace == 0 || intermediate_size > 0, "intermediate_size",
              "dense layers need a width");
  check_field(tie_word_embeddings == false, "tie_word_embeddings",
              "tied embeddings are not a DeepSeek layout");
  if (rope.yarn) {
    check_field(rope.factor >= 1.0, "rope_scaling.factor", "must be >= 1");
    check_field(rope.original_max_position > 0, "rope_scaling.original_max_position_embeddings",
                "must be positive");
    check_field(rope.beta_fast > rope.beta_slow && rope.beta_slow > 0, "rope_scaling.beta_fast",
                "must be > beta_slow > 0");
  }
  if (index_topk != 0 || index_n_heads != 0 || index_head_dim != 0) validate_dsa(*this);
  bool any_moe = false;
  for (int64_t l = 0; l < num_hidden_layers && !any_moe; ++l) any_moe = is_moe_layer(l);
  if (!any_moe) return;
  check_field(moe_intermediate_size > 0, "moe_intermediate_size", "MoE layers need a width");
  check_field(num_experts_per_tok > 0 && num_experts_per_tok <= n_routed_experts, "num_experts_per_tok",
              cat("must be in [1, n_routed_experts=", n_routed_experts, "]"));
  check_field(n_group >= 1 && n_routed_experts % n_group == 0, "n_group",
              cat("must divide n_routed_experts=", n_routed_experts));
  check_field(topk_group >= 1 && topk_group <= n_group, "topk_group",
              cat("must be in [1, n_group=", n_group, "]"));
  if (topk_method != TopkMethod::kGreedy) {
    check_field(num_experts_per_tok <= topk_group * (n_routed_experts / n_group), "num_experts_per_tok",
                "exceeds the experts in the kept groups (topk_group * n_routed_experts / n_group)");
  }
  if (topk_method == TopkMethod::kNoauxTc) {
    check_field(scoring_func == ScoringFunc::kSigmoid, "scoring_func",
                "noaux_tc routing needs sigmoid scores");
    check_field(n_routed_experts / n_group >= 2, "n_group", "noaux_tc scores groups by their top-2 experts");
  }
  check_field(routed_scaling_factor > 0, "routed_scaling_factor", "must be positive");
}

nlohmann::json ModelConfig::to_json() const {
  nlohmann::json j = {
      {"model_type", model_type},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"moe_intermediate_size", moe_intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"first_k_dense_replace", first_k_dense_replace},
      {"moe_layer_freq", moe_layer_freq},
      {"num_attention_heads", num_attention_heads},
      {"q_lora_rank", q_lora_rank},
      {"kv_lora_rank", kv_lora_rank},
      {"qk_nope_head_dim", qk_nope_head_dim},
      {"qk_rope_head_dim", qk_rope_head_dim},
      {"v_head_dim", v_head_dim},
      {"n_routed_experts", n_routed_experts},
      {"n_shared_experts", n_shared_experts},
      {"num_experts_per_tok", num_experts_per_tok},
      {"n_group", n_group},
      {"topk_group", topk_group},
      {"scoring_func", scoring_func_name(scoring_func)},
      {"topk_method", topk_method_name(topk_method)},
      {"norm_topk_prob", norm_topk_prob},
      {"routed_scaling_factor", routed_scaling_factor},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"max_position_embeddings", max_position_embeddings},
      {"num_nextn_predict_layers", num_nextn_predict_layers},
      {"tie_word_embeddings", tie_word_embeddings},
  };
  if (has_dsa()) {
    j["index_n_heads"] = index_n_heads;
    j["index_head_dim"] = index_head_dim;
    j["index_topk"] = index_topk;
  }
  if (rope.yarn) {
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", rope.factor},
                         {"original_max_position_embeddings", rope.original_max_position},
                         {"beta_fast", rope.beta_fast},
                         {"beta_slow", rope.beta_slow},
                         {"mscale", rope.mscale},
                         {"mscale_all_dim", rope.mscale_all_dim}};
  }
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_id) j["eos_token_id"] = *eos_token_id;
  return j;
}

std::string ModelConfig::summary() const {
  std::ostringstream s;
  const nlohmann::json j = to_json();
  for (const auto& [k, v] : j.items()) s << "  " << k << " = " << v.dump() << "\n";
  s << "  (derived) softmax_scale = " << softmax_scale() << ", rope_amplitude = " << rope_amplitude() << "\n";
  return s.str();
}

}  // namespace dsinfer
