#include "model/synth_tokenizer.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/json_file.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

}  // namespace

SynthTokenizer synth_tokenizer_from_gguf(const GgufFile& gguf) {
  const GgufFile* g = &gguf;
  SynthTokenizer t;
  const auto* tokens = g->get_string_array("tokenizer.ggml.tokens");
  if (!tokens) fail(g->path(), ": no tokenizer.ggml.tokens");
  t.tokens = *tokens;
  t.n_tokens = static_cast<int64_t>(t.tokens.size());
  if (auto types = g->get_int_array("tokenizer.ggml.token_type"))
    for (int64_t v : *types) t.token_types.push_back(static_cast<int32_t>(v));
  if (auto sc = g->get_float_array("tokenizer.ggml.scores")) t.scores = *sc;
  for (const auto& [k, v] : g->metadata()) {
    if (k.rfind("tokenizer.", 0) != 0) continue;
    if (k == "tokenizer.ggml.tokens" || k == "tokenizer.ggml.token_type" || k == "tokenizer.ggml.scores") continue;
    t.gguf_keys.emplace_back(k, v);
  }
  if (auto v = g->get_uint("tokenizer.ggml.bos_token_id")) t.bos = static_cast<int64_t>(*v);
  if (auto v = g->get_uint("tokenizer.ggml.eos_token_id")) t.eos = static_cast<int64_t>(*v);
  return t;
}

namespace {

std::optional<std::string> special_content(const nlohmann::json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

SynthTokenizer from_hf(const std::string& dir) {
  const std::string file = dir + "/tokenizer.json";
  const nlohmann::json j = read_json_file(file);
  SynthTokenizer t;
  t.hf_dir = dir;
  const auto& model = j.at("model");
  if (model.value("type", "") != "BPE") fail(file, ": model.type is not BPE");
  std::vector<std::pair<int64_t, std::string>> entries;
  for (const auto& [tok, id] : model.at("vocab").items()) entries.emplace_back(id.get<int64_t>(), tok);
  std::vector<std::pair<int64_t, std::pair<std::string, bool>>> added;
  for (const auto& a : j.value("added_tokens", nlohmann::json::array()))
    added.push_back({a.at("id").get<int64_t>(), {a.at("content").get<std::string>(), a.value("special", false)}});
  int64_t n = 0;
  for (const auto& e : entries) n = std::max(n, e.first + 1);
  for (const auto& a : added) n = std::max(n, a.first + 1);
  t.tokens.assign(static_cast<size_t>(n), "");
  t.token_types.assign(static_cast<size_t>(n), 5);
  for (int64_t i = 0; i < n; ++i) t.tokens[i] = cat("[PAD", i, "]");
  for (const auto& [id, tok] : entries) {
    t.tokens[id] = tok;
    t.token_types[id] = 1;
  }
  for (const auto& [id, a] : added) {
    t.tokens[id] = a.first;
    t.token_types[id] = a.second ? 3 : 4;
  }
  t.n_tokens = n;
  std::vector<std::string> merges;
  for (const auto& m : model.at("merges")) {
    if (m.is_string()) merges.push_back(m.get<std::string>());
    else merges.push_back(m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
  }
  // DeepSeek-V3's pre-tokenizer splits digits in groups of 1-3; DeepSeek-LLM (V2) does not.
  const std::string pre = j.dump().find("\\\\p{N}{1,3}") != std::string::npos ? "deepseek-v3" : "deepseek-llm";
  t.gguf_keys.emplace_back("tokenizer.ggml.model", GgufValue::string("gpt2"));
  t.gguf_keys.emplace_back("tokenizer.ggml.pre", GgufValue::string(pre));
  t.gguf_keys.emplace_back("tokenizer.ggml.merges", GgufValue::string_array(std::move(merges)));
  nlohmann::json cfg = nlohmann::json::object();
  if (file_exists(dir + "/tokenizer_config.json")) cfg = read_json_file(dir + "/tokenizer_config.json");
  auto id_of = [&](const std::optional<std::string>& content) -> std::optional<int64_t> {
    if (!content) return std::nullopt;
    for (int64_t i = 0; i < n; ++i)
      if (t.tokens[i] == *content) return i;
    return std::nullopt;
  };
  t.bos = id_of(special_content(cfg, "bos_token"));
  t.eos = id_of(special_content(cfg, "eos_token"));
  if (t.bos) t.gguf_keys.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::uint32(static_cast<uint32_t>(*t.bos)));
  if (t.eos) t.gguf_keys.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::uint32(static_cast<uint32_t>(*t.eos)));
  t.gguf_keys.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(cfg.value("add_bos_token", true)));
  t.gguf_keys.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(cfg.value("add_eos_token", false)));
  if (cfg.contains("chat_template") && cfg["chat_template"].is_string())
    t.gguf_keys.emplace_back("tokenizer.chat_template", GgufValue::string(cfg["chat_template"].get<std::string>()));
  return t;
}

}  // namespace

SynthTokenizer load_synth_tokenizer(const std::string& path) {
  if (path.ends_with(".gguf")) return synth_tokenizer_from_gguf(*GgufFile::open(path));
  if (is_directory(path)) {
    if (!file_exists(path + "/tokenizer.json")) fail(path, ": no tokenizer.json");
    return from_hf(path);
  }
  if (path.ends_with("tokenizer.json")) return from_hf(std::filesystem::path(path).parent_path().string());
  fail(path, ": not a tokenizer.json, a directory holding one, or a GGUF file");
}

std::vector<std::pair<std::string, GgufValue>> synth_tokenizer_gguf_keys(const SynthTokenizer& t, int64_t vocab_size) {
  if (t.n_tokens == 0) return {};
  if (vocab_size < t.n_tokens) fail("vocab_size ", vocab_size, " is smaller than the tokenizer's ", t.n_tokens, " tokens");
  std::vector<std::string> tokens = t.tokens;
  std::vector<int32_t> types = t.token_types;
  types.resize(tokens.size(), 1);
  for (int64_t i = t.n_tokens; i < vocab_size; ++i) {  // llama.cpp's converter pads the same way
    tokens.push_back(cat("[PAD", i, "]"));
    types.push_back(5);
  }
  std::vector<std::pair<std::string, GgufValue>> keys = t.gguf_keys;
  keys.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array(std::move(tokens)));
  keys.emplace_back("tokenizer.ggml.token_type", GgufValue::array_of(types));
  if (!t.scores.empty()) {
    std::vector<float> scores = t.scores;
    scores.resize(static_cast<size_t>(vocab_size), 0.0f);
    keys.emplace_back("tokenizer.ggml.scores", GgufValue::array_of(scores));
  }
  return keys;
}

std::vector<std::string> copy_synth_tokenizer_files(const SynthTokenizer& t, const std::string& dir) {
  if (t.n_tokens == 0) return {};
  if (t.hf_dir.empty()) fail("a Hugging Face directory needs a tokenizer.json tokenizer, not a GGUF vocabulary");
  std::vector<std::string> out;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    const std::string from = t.hf_dir + "/" + f;
    if (!file_exists(from)) continue;
    const std::string text = read_text_file(from);
    write_file(dir + "/" + f, text.data(), text.size());
    out.push_back(dir + "/" + f);
  }
  return out;
}

}  // namespace dsinfer
