#include "model/synth.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "model/synth_tokenizer.h"
#include "model/weights.h"
#include "tensor/fp8.h"
#include "tensor/quant.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"
#include "util/thread_pool.h"

namespace dsinfer {
namespace {

// How a tensor's values are drawn: uniform with the given standard deviation around `mean`.
struct Init {
  double mean = 0, std = 1;
};

Init init_for(const std::string& canonical, const std::vector<int64_t>& shape) {
  const auto has = [&](const char* s) { return canonical.find(s) != std::string::npos; };
  if (shape.size() == 1) return has("router_bias") ? Init{0.0, 0.1} : Init{1.0, 0.1};  // norms: 1 + noise
  if (canonical == "embed") return {0.0, 1.0};
  const double fan_in = static_cast<double>(shape.back());
  return {0.0, (has("router") ? 2.0 : 1.0) / std::sqrt(fan_in)};
}

// Row `row` of the tensor called `key`: n values, a pure function of (seed, key, row).
void draw_row(uint64_t seed, const std::string& key, int64_t row, const Init& init, int64_t n, float* out) {
  uint64_t state = mix64(seed ^ mix64(fnv1a64(key) + static_cast<uint64_t>(row)));
  const double half_width = std::sqrt(3.0) * init.std;
  for (int64_t i = 0; i < n; ++i) {
    state = mix64(state);
    const double u = static_cast<double>(state >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
    out[i] = static_cast<float>(init.mean + (2.0 * u - 1.0) * half_width);
  }
}

// Values of a tensor in its layout's shape, [rows, cols], cut from the HF-named tensors they derive from.
class ValueSource {
  inline static const std::string kEmbed = "embed", kLmHead = "lm_head";

 public:
  ValueSource(const ModelConfig& c, uint64_t seed) : c_(c), seed_(seed) {}

  void rows(const WeightSpec& s, int64_t r0, int64_t n, float* out) const {
    const int64_t cols = s.shape.back();
    // The MTP module's embedding and head are copies of the main ones, as in the released checkpoints.
    const std::string& k = s.canonical.ends_with(".mtp.embed") ? kEmbed
                           : s.canonical.ends_with(".mtp.head") ? kLmHead : s.canonical;
    const Init init = init_for(k, s.shape);
    if (k.find(".moe.experts.") != std::string::npos && s.shape.size() == 3) {  // GGUF stacked [E, rows, cols]
      const int64_t per = s.shape[1];
      const std::string part = k.substr(k.rfind('.'));  // ".gate" / ".up" / ".down"
      const std::string base = k.substr(0, k.rfind('.'));
      for (int64_t r = r0; r < r0 + n; ++r)
        draw_row(seed_, cat(base, ".", r / per, part), r % per, init_for(base, {per, cols}), cols, out + (r - r0) * cols);
      return;
    }
    if (k.size() > 5 && (k.ends_with(".attn.k_b") || k.ends_with(".attn.v_b"))) {
      split_kv_b(s, r0, n, out);
      return;
    }
    for (int64_t r = r0; r < r0 + n; ++r) draw_row(seed_, k, r, init, cols, out + (r - r0) * cols);
  }

 private:
  // k_b [H, rkv, dn] = W_UK_h^T and v_b [H, dv, rkv] = W_UV_h, from kv_b_proj [H*(dn+dv), rkv].
  void split_kv_b(const WeightSpec& s, int64_t r0, int64_t n, float* out) const {
    const int64_t dn = c_.qk_nope_head_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;
    const std::string kv_b = s.canonical.substr(0, s.canonical.rfind('.')) + ".kv_b_proj";
    const Init init = init_for(kv_b, {1, rkv});
    std::vector<float> row(static_cast<size_t>(rkv));
    const bool is_k = s.canonical.ends_with(".k_b");
    for (int64_t r = r0; r < r0 + n; ++r) {
      float* o = out + (r - r0) * s.shape.back();
      if (is_k) {  // row (h, c): values W_UK_h[d, c] for d < dn
        const int64_t h = r / rkv, cidx = r % rkv;
        for (int64_t d = 0; d < dn; ++d) {
          draw_row(seed_, kv_b, h * (dn + dv) + d, init, rkv, row.data());
          o[d] = row[cidx];
        }
      } else {  // row (h, j): W_UV_h[j, :]
        const int64_t h = r / dv, j = r % dv;
        draw_row(seed_, kv_b, h * (dn + dv) + dn + j, init, rkv, o);
      }
    }
  }

  const ModelConfig& c_;
  uint64_t seed_;
};

// The dtype a tensor gets: vectors F32; the router F32 in GGUF (as llama.cpp keeps it) and the float
// dtype in HF; matrices the requested dtype unless their rows do not fit its block, then llama.cpp's
// fallback (llama-quant.cpp): Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K and the rest -> Q8_0, else F16. (Real
// DeepSeek-V2-Lite K-quant GGUFs have such tensors: its 1408-wide expert rows are not 256-multiples.)
// With k_mix (GGUF, want Q4_K or Q5_K): llama.cpp's Q4_K_M / Q5_K_M recipe for deepseek2 files
// (llama_tensor_get_type): output.weight Q6_K, and Q6_K for every ffn_down (dense, routed, shared) of the
// layers use_more_bits picks — the first and last eighth, every third between; the fallback then applies.
DType dtype_for(const WeightSpec& s, DType want, bool gguf, bool k_mix, int64_t n_layers) {
  if (s.is_vector) return DType::F32;
  if (!s.quantizable && gguf) return DType::F32;
  if (!gguf) {
    const bool bf16_in_fp8 = s.canonical == "embed" || s.canonical == "lm_head" || s.canonical.ends_with(".mtp.embed") ||
                             s.canonical.ends_with(".mtp.head") || s.canonical.ends_with(".mtp.eh_proj");
    if (want == DType::F8_E4M3 && (!s.quantizable || bf16_in_fp8)) return DType::BF16;
    return want;
  }
  if (k_mix) {
    const int64_t i = s.layer, n = n_layers;
    const bool more_bits = i >= 0 && (i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2);
    const bool down = s.file_name.find("ffn_down") != std::string::npos;
    if (s.file_name == "output.weight" || (down && more_bits)) want = DType::Q6_K;
  }
  const int64_t cols = s.shape.back();
  if (cols % dtype_block_elems(want) == 0) return want;
  if (cols % 32 != 0 || !dtype_is_block_quant(want)) return DType::F16;
  if (want == DType::Q4_K) return DType::Q5_0;
  if (want == DType::Q5_K) return DType::Q5_1;
  return DType::Q8_0;
}

// Fills dst with the tensor's rows encoded in dtype t, in parallel over rows.
void fill_tensor(ThreadPool& pool, const ValueSource& src, const WeightSpec& s, DType t, uint8_t* dst) {
  const int64_t cols = s.shape.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < s.shape.size(); ++i) rows *= s.shape[i];
  const size_t row_bytes = dtype_row_bytes(t, cols);
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> buf(static_cast<size_t>(cols * 64));
    for (int64_t r = r0; r < r1; r += 64) {
      const int64_t n = std::min<int64_t>(64, r1 - r);
      src.rows(s, r, n, buf.data());
      for (int64_t i = 0; i < n; ++i) quantize_row(t, buf.data() + i * cols, dst + (r + i) * row_bytes, cols);
    }
  }, 64);
}

void fp8_tensor(const ValueSource& src, const WeightSpec& s, std::vector<uint8_t>* q, std::vector<float>* scales) {
  const int64_t rows = s.shape[0], cols = s.shape[1];
  std::vector<float> w(static_cast<size_t>(rows * cols));
  src.rows(s, 0, rows, w.data());
  std::vector<uint8_t> qq;
  std::vector<float> ss;
  fp8_quantize_matrix(w.data(), rows, cols, qq, ss);
  if (q) *q = std::move(qq);
  if (scales) *scales = std::move(ss);
}

void put_kv(GgufWriter& w, const std::string& k, GgufValue v) { w.add_kv(k, std::move(v)); }

void gguf_metadata(GgufWriter& w, const ModelConfig& c, DType dtype, bool legacy_kv_b) {
  const std::string p = "deepseek2.";
  auto u32 = [&](const std::string& k, int64_t v) { put_kv(w, p + k, GgufValue::uint32(static_cast<uint32_t>(v))); };
  auto f32 = [&](const std::string& k, double v) { put_kv(w, p + k, GgufValue::float32(static_cast<float>(v))); };
  put_kv(w, "general.architecture", GgufValue::string("deepseek2"));
  put_kv(w, "general.name", GgufValue::string(cat("dsinfer synth (random weights, ", dtype_name(dtype), ")")));
  u32("block_count", c.num_hidden_layers + c.num_nextn_predict_layers);
  if (c.num_nextn_predict_layers > 0) u32("nextn_predict_layers", c.num_nextn_predict_layers);
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", c.num_attention_heads);
  // Current llama.cpp files store MLA as MQA over the latent (one KV head of 576 = rkv + dr values, the
  // per-head sizes in *_mla); legacy files describe the decompressed per-head K and V.
  u32("attention.head_count_kv", legacy_kv_b ? c.num_attention_heads : 1);
  f32("attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  f32("rope.freq_base", c.rope_theta);
  u32("rope.dimension_count", c.qk_rope_head_dim);
  if (c.rope.yarn) {
    put_kv(w, p + "rope.scaling.type", GgufValue::string("yarn"));
    f32("rope.scaling.factor", c.rope.factor);
    u32("rope.scaling.original_context_length", c.rope.original_max_position);
    f32("rope.scaling.yarn_log_multiplier", 0.1 * c.rope.mscale_all_dim);
    f32("rope.scaling.yarn_beta_fast", c.rope.beta_fast);
    f32("rope.scaling.yarn_beta_slow", c.rope.beta_slow);
  }
  u32("leading_dense_block_count", c.first_k_dense_replace);
  u32("vocab_size", c.vocab_size);
  if (c.q_lora_rank > 0) u32("attention.q_lora_rank", c.q_lora_rank);
  u32("attention.kv_lora_rank", c.kv_lora_rank);
  if (legacy_kv_b) {
    u32("attention.key_length", c.qk_head_dim());
    u32("attention.value_length", c.v_head_dim);
  } else {
    u32("attention.key_length", c.kv_lora_rank + c.qk_rope_head_dim);
    u32("attention.value_length", c.kv_lora_rank);
    u32("attention.key_length_mla", c.qk_head_dim());
    u32("attention.value_length_mla", c.v_head_dim);
  }
  u32("expert_feed_forward_length", c.moe_intermediate_size);
  u32("expert_count", c.n_routed_experts);
  u32("expert_used_count", c.num_experts_per_tok);
  u32("expert_shared_count", c.n_shared_experts);
  f32("expert_weights_scale", c.routed_scaling_factor);
  if (c.norm_topk_prob) put_kv(w, p + "expert_weights_norm", GgufValue::boolean(true));
  u32("expert_gating_func", c.scoring_func == ScoringFunc::kSigmoid ? 2 : 1);
  u32("expert_group_count", c.n_group);
  u32("expert_group_used_count", c.topk_group);
}

nlohmann::json hf_config(const ModelConfig& c) {
  nlohmann::json j = c.to_json();
  j["architectures"] = {c.model_type == "deepseek_v2" ? "DeepseekV2ForCausalLM" : "DeepseekV3ForCausalLM"};
  j["model_type"] = c.model_type == "deepseek2" ? "deepseek_v3" : c.model_type;
  j["num_key_value_heads"] = c.num_attention_heads;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["torch_dtype"] = "float32";
  if (c.q_lora_rank == 0) j["q_lora_rank"] = nullptr;
  return j;
}

}  // namespace

std::vector<std::string> synth_model(const ModelConfig& config, const SynthOptions& opt, const std::string& path) {
  ModelConfig c = config;
  const bool gguf = path.ends_with(".gguf");
  SynthTokenizer tok;
  if (!opt.tokenizer.empty()) {
    tok = load_synth_tokenizer(opt.tokenizer);
    // The embedding must cover every token id; padded to a multiple of 256 as releases are.
    if (tok.n_tokens > c.vocab_size) c.vocab_size = (tok.n_tokens + 255) / 256 * 256;
    if (tok.bos) c.bos_token_id = tok.bos;
    if (tok.eos) c.eos_token_id = tok.eos;
  }
  c.validate();
  ThreadPool pool(opt.threads);
  const ValueSource src(c, opt.seed);
  std::vector<WeightSpec> specs = weight_specs(
      c, gguf ? (opt.gguf_legacy_kv_b ? WeightLayout::kGgufLegacyKvB : WeightLayout::kGguf) : WeightLayout::kHf, true);
  // GGUF leaves out the MTP module's copies of the embedding and head (llama.cpp reads the main ones).
  std::erase_if(specs, [](const WeightSpec& s) { return s.optional; });

  if (opt.k_mix && (!gguf || (opt.dtype != DType::Q4_K && opt.dtype != DType::Q5_K)))
    fail("the *_K_M recipes are GGUF mixes around q4_K or q5_K");
  if (gguf) {
    if (opt.dtype == DType::F8_E4M3) fail("GGUF has no block-FP8 type; write FP8 as a Hugging Face directory");
    GgufWriter w;
    gguf_metadata(w, c, opt.dtype, opt.gguf_legacy_kv_b);
    for (auto& kv : synth_tokenizer_gguf_keys(tok, c.vocab_size)) w.add_kv(kv.first, std::move(kv.second));
    for (const WeightSpec& s : specs) {
      const DType t = dtype_for(s, opt.dtype, true, opt.k_mix, c.num_hidden_layers);
      w.add_tensor_lazy(s.file_name, t, s.shape, [&pool, &src, s, t](uint8_t* dst) { fill_tensor(pool, src, s, t, dst); });
    }
    if (opt.max_shard_bytes > 0) {
      std::string prefix = path.substr(0, path.size() - 5);
      return w.write_split(prefix, opt.max_shard_bytes);
    }
    w.write(path);
    return {path};
  }

  std::filesystem::create_directories(path);
  if (opt.dtype != DType::F32 && opt.dtype != DType::BF16 && opt.dtype != DType::F16 && opt.dtype != DType::F8_E4M3)
    fail("a Hugging Face directory holds f32, f16, bf16 or f8_e4m3 weights, not ", dtype_name(opt.dtype));
  nlohmann::json cfg = hf_config(c);
  if (opt.dtype == DType::F8_E4M3) {
    cfg["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                                  {"weight_block_size", {128, 128}}};
  }
  const std::string cfg_text = cfg.dump(2) + "\n";
  write_file(path + "/config.json", cfg_text.data(), cfg_text.size());
  SafetensorsWriter w;
  for (const WeightSpec& s : specs) {
    const DType t = dtype_for(s, opt.dtype, false, false, c.num_hidden_layers);
    if (t == DType::F8_E4M3) {
      const int64_t br = (s.shape[0] + 127) / 128, bc = (s.shape[1] + 127) / 128;
      w.add_tensor_lazy(s.file_name, t, s.shape, [&src, s](uint8_t* dst) {
        std::vector<uint8_t> q;
        fp8_tensor(src, s, &q, nullptr);
        std::memcpy(dst, q.data(), q.size());
      });
      w.add_tensor_lazy(s.file_name + "_scale_inv", DType::F32, {br, bc}, [&src, s](uint8_t* dst) {
        std::vector<float> sc;
        fp8_tensor(src, s, nullptr, &sc);
        std::memcpy(dst, sc.data(), sc.size() * sizeof(float));
      });
      continue;
    }
    w.add_tensor_lazy(s.file_name, t, s.shape, [&pool, &src, s, t](uint8_t* dst) { fill_tensor(pool, src, s, t, dst); });
  }
  std::vector<std::string> files = {path + "/config.json"};
  if (opt.max_shard_bytes > 0) {
    auto shards = w.write_sharded(path, opt.max_shard_bytes);
    files.insert(files.end(), shards.begin(), shards.end());
  } else {
    w.write(path + "/model.safetensors");
    files.push_back(path + "/model.safetensors");
  }
  for (const auto& f : copy_synth_tokenizer_files(tok, path)) files.push_back(f);
  return files;
}

}  // namespace dsinfer
