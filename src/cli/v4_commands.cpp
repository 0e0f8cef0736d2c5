#include "cli/v4_commands.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/model_session.h"
#include "formats/json_file.h"
#include "model/v4_transformer.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer::cli {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The tokenizer beside the checkpoint, wrapped for ModelSession's encode / decode / streaming.
ModelSession tokenizer_session(const std::string& path, int64_t vocab_size) {
  ModelSession s;
  s.tokenizer = load_tokenizer(path);
  if (s.tokenizer && s.tokenizer->n_vocab() > vocab_size)
    fail(path, ": the tokenizer has ", s.tokenizer->n_vocab(), " tokens but the model's vocabulary is ", vocab_size);
  return s;
}

}  // namespace

int run_v4(const ArgParser& p, const std::string& path) {
  for (const char* o : {"--draft", "--json-schema", "--kv-dtype", "--mtp-from", "--draft-max", "--draft-min-accept"})
    if (p.get(o)) fail(o, " is not supported for DeepSeek-V4 models yet");
  if (p.has("--json")) fail("--json is not supported for DeepSeek-V4 models yet");
  auto m = load_v4_model(path);
  const V4Config& c = m->config;
  ModelSession tok = tokenizer_session(path, c.vocab_size);
  std::vector<int32_t> prompt;
  if (auto ids = p.get("--ids")) prompt = parse_id_list(*ids);
  else prompt = tok.encode(p.require("--prompt"), !p.has("--no-bos"));
  if (prompt.empty()) fail("the prompt has no tokens");
  const int64_t n_predict = p.get_int("--n-predict", 32);
  if (n_predict < 0) fail("-n must be >= 0");
  if (auto ctx = p.get("--ctx"); ctx && static_cast<int64_t>(prompt.size()) + n_predict > p.get_int("--ctx", 0))
    fail("the prompt (", prompt.size(), " tokens) and -n ", n_predict, " do not fit in --ctx ", *ctx);
  Sampler sampler(sampling_from_args(p, SamplingParams{}));
  const bool stop_at_eos = !p.has("--ignore-eos") && c.eos_token_id.has_value();

  ThreadPool pool(static_cast<int>(p.get_int("--threads", 0)));
  V4Transformer tf(c, m->weights, pool);
  V4State state = tf.new_state();
  if (tok.has_tokenizer()) std::cout << tok.decode(prompt) << std::flush;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits = n_predict > 0 ? tf.forward(prompt, state) : std::vector<float>{};
  const double prefill_s = seconds_since(t0);
  std::vector<int32_t> history = prompt;
  auto stream = tok.make_stream();
  const auto t1 = std::chrono::steady_clock::now();
  int64_t generated = 0;
  for (; generated < n_predict; ++generated) {
    const int32_t id = sampler.sample(logits.data(), c.vocab_size, history);
    if (stop_at_eos && id == *c.eos_token_id) break;
    history.push_back(id);
    std::cout << stream(id) << std::flush;
    if (generated + 1 < n_predict) logits = tf.forward({id}, state);
  }
  const double decode_s = seconds_since(t1);
  std::cout << stream(-1) << std::endl;
  std::fprintf(stderr, "prompt: %zu tokens in %.3f s (%.2f tokens/s); generation: %lld tokens in %.3f s (%.2f tokens/s)\n",
               prompt.size(), prefill_s, static_cast<double>(prompt.size()) / std::max(prefill_s, 1e-9),
               static_cast<long long>(generated), decode_s,
               generated > 1 ? static_cast<double>(generated - 1) / std::max(decode_s, 1e-9) : 0.0);
  return 0;
}

int logits_v4(const ArgParser& p, const std::string& path) {
  const std::vector<int32_t> ids = parse_id_list(p.require("--ids"));
  const std::string out = p.require("--out");
  if (p.get("--attention")) fail("--attention: DeepSeek-V4 has one attention form");
  auto m = load_v4_model(path);
  ThreadPool pool(static_cast<int>(p.get_int("--threads", 0)));
  V4Transformer tf(m->config, m->weights, pool);
  V4State st = tf.new_state();
  const std::vector<float> logits = tf.forward(ids, st, /*all_logits=*/true);
  write_file(out, logits.data(), logits.size() * sizeof(float));
  std::fprintf(stderr, "wrote %zu x %lld logits to %s\n", ids.size(), static_cast<long long>(m->config.vocab_size),
               out.c_str());
  return 0;
}

int info_v4(const ArgParser& p, const std::string& path) {
  const bool has_weights = file_exists(path + "/model.safetensors") || file_exists(path + "/model.safetensors.index.json");
  std::unique_ptr<V4Model> m;
  V4Config c;
  const std::string cfg = path + "/config.json";
  if (has_weights) {
    m = load_v4_model(path);
    c = m->config;
  } else {
    c = with_context(cfg, [&] { return v4_config_from_hf_json(read_json_file(cfg), cfg); });
  }
  // What a sequence keeps (float32 values): per layer the last sliding_window key/value rows, and per
  // compress_rate tokens one entry (CSA: + its indexer key).
  const int64_t ctx = p.get_int("--ctx", 4096);
  double per_token = 0, fixed = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    fixed += static_cast<double>(c.sliding_window * c.head_dim);
    const int64_t rate = c.compress_rate(l);
    if (rate == 0) continue;
    const bool csa = c.layer_types[static_cast<size_t>(l)] == V4Attention::kCompressedSparse;
    per_token += static_cast<double>(c.head_dim + (csa ? c.index_head_dim : 0)) / static_cast<double>(rate);
  }
  const double state_bytes = (fixed + per_token * static_cast<double>(ctx)) * 4.0;
  if (p.has("--json")) {
    nlohmann::json j = {{"architecture", "deepseek_v4"},
                        {"vocab_size", c.vocab_size},
                        {"hidden_size", c.hidden_size},
                        {"num_hidden_layers", c.num_hidden_layers},
                        {"cache_values_per_token", per_token},
                        {"cache_fixed_values", fixed},
                        {"ctx", ctx},
                        {"cache_bytes_at_ctx", state_bytes}};
    if (m) j["weight_bytes"] = m->weight_bytes;
    std::cout << j.dump(1) << "\n";
    return 0;
  }
  std::cout << c.summary() << "\n";
  if (m) std::printf("weights: %.2f GiB in %s\n", static_cast<double>(m->weight_bytes) / (1 << 30), path.c_str());
  std::printf("cache per sequence: %.1f values per token (compressed entries) + %.0f fixed (sliding windows); "
              "%.2f MiB at --ctx %lld (float32)\n",
              per_token, fixed, state_bytes / (1 << 20), static_cast<long long>(ctx));
  return 0;
}

}  // namespace dsinfer::cli
