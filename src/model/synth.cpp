#include "model/synth.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "model/gguf_export.h"
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

// Random rows of the Hugging Face-named tensors: a pure function of (seed, name, row).
class RandomRows : public TensorRows {
  inline static const std::string kEmbed = "embed", kLmHead = "lm_head";

 public:
  explicit RandomRows(uint64_t seed) : seed_(seed) {}

  void canonical_rows(const std::string& canonical, bool is_vector, int64_t r0, int64_t n, int64_t cols,
                      float* out) const override {
    // The MTP module's embedding and head are copies of the main ones, as in the released checkpoints.
    const std::string& k = canonical.ends_with(".mtp.embed") ? kEmbed
                           : canonical.ends_with(".mtp.head") ? kLmHead : canonical;
    const Init init = is_vector ? init_for(k, {cols}) : init_for(k, {1, cols});
    for (int64_t r = r0; r < r0 + n; ++r) draw_row(seed_, k, r, init, cols, out + (r - r0) * cols);
  }

 private:
  uint64_t seed_;
};

// The dtype a tensor of a Hugging Face directory gets: vectors F32, the rest the requested float dtype;
// with block-FP8 the tensors the releases keep in BF16 (router, embedding, head, the MTP module's
// eh_proj and copies) BF16. (GGUF: gguf_dtype_for.)
DType hf_dtype_for(const WeightSpec& s, DType want) {
  if (s.is_vector) return DType::F32;
  const bool bf16_in_fp8 = s.canonical == "embed" || s.canonical == "lm_head" || s.canonical.ends_with(".mtp.embed") ||
                           s.canonical.ends_with(".mtp.head") || s.canonical.ends_with(".mtp.eh_proj");
  if (want == DType::F8_E4M3 && (!s.quantizable || bf16_in_fp8)) return DType::BF16;
  return want;
}

void fp8_tensor(const ModelConfig& c, const TensorRows& src, const WeightSpec& s, std::vector<uint8_t>* q,
                std::vector<float>* scales) {
  const int64_t rows = s.shape[0], cols = s.shape[1];
  std::vector<float> w(static_cast<size_t>(rows * cols));
  layout_rows(c, src, s, 0, rows, w.data());
  std::vector<uint8_t> qq;
  std::vector<float> ss;
  fp8_quantize_matrix(w.data(), rows, cols, qq, ss);
  if (q) *q = std::move(qq);
  if (scales) *scales = std::move(ss);
}

nlohmann::json hf_config(const ModelConfig& c) {
  nlohmann::json j = c.to_json();
  j["architectures"] = {c.model_type == "deepseek_v2"  ? "DeepseekV2ForCausalLM"
                        : c.has_dsa()                 ? "DeepseekV32ForCausalLM"
                                                      : "DeepseekV3ForCausalLM"};
  j["model_type"] = c.has_dsa() ? "deepseek_v32" : c.model_type == "deepseek2" ? "deepseek_v3" : c.model_type;
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
  const RandomRows src(opt.seed);
  if (opt.mix != LlamaMix::kNone && !gguf) fail("llama.cpp's tensor mixes are for GGUF files");
  if (gguf) {
    if (opt.dtype == DType::F8_E4M3) fail("GGUF has no block-FP8 type; write FP8 as a Hugging Face directory");
    GgufExportOptions o;
    o.dtype = opt.dtype;
    o.mix = opt.mix;
    o.legacy_kv_b = opt.gguf_legacy_kv_b;
    o.mtp = c.num_nextn_predict_layers > 0;
    o.max_part_bytes = opt.max_shard_bytes;
    o.name = cat("dsinfer synth (random weights, ", dtype_name(opt.dtype), ")");
    o.threads = opt.threads;
    o.random_grid_codes = true;  // random weights either way
    return write_gguf_model(c, src, o, synth_tokenizer_gguf_keys(tok, c.vocab_size), path);
  }

  ThreadPool pool(opt.threads);
  const std::vector<WeightSpec> specs = weight_specs(c, WeightLayout::kHf, true);
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
    const DType t = hf_dtype_for(s, opt.dtype);
    if (t == DType::F8_E4M3) {
      const int64_t br = (s.shape[0] + 127) / 128, bc = (s.shape[1] + 127) / 128;
      w.add_tensor_lazy(s.file_name, t, s.shape, [&c, &src, s](uint8_t* dst) {
        std::vector<uint8_t> q;
        fp8_tensor(c, src, s, &q, nullptr);
        std::memcpy(dst, q.data(), q.size());
      });
      w.add_tensor_lazy(s.file_name + "_scale_inv", DType::F32, {br, bc}, [&c, &src, s](uint8_t* dst) {
        std::vector<float> sc;
        fp8_tensor(c, src, s, nullptr, &sc);
        std::memcpy(dst, sc.data(), sc.size() * sizeof(float));
      });
      continue;
    }
    w.add_tensor_lazy(s.file_name, t, s.shape,
                      [&pool, &c, &src, s, t](uint8_t* dst) { encode_tensor(pool, c, src, s, t, dst); });
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
