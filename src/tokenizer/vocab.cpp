// Loading VocabData from Hugging Face tokenizer.json / tokenizer_config.json.

#include "tokenizer/vocab.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "tokenizer/pretokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {

namespace {

using nlohmann::json;

// GPT-2's pre-tokenizer regex, used when a ByteLevel pre-tokenizer says use_regex.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string quote_regex(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

void read_pre_tokenizer(const json& pt, VocabData& v, const std::string& where) {
  if (pt.is_null()) fail(where, ": no pre_tokenizer (a byte-level BPE needs one)");
  const std::string type = pt.value("type", "");
  if (type == "Sequence") {
    for (size_t i = 0; i < pt.at("pretokenizers").size(); ++i)
      read_pre_tokenizer(pt["pretokenizers"][i], v, cat(where, ".pretokenizers[", i, "]"));
  } else if (type == "Split") {
    if (pt.value("behavior", "") != "Isolated" || pt.value("invert", false))
      fail(where, ": Split with behavior '", pt.value("behavior", ""), "' / invert is not supported");
    const json& pattern = pt.at("pattern");
    if (pattern.contains("Regex")) {
      v.pre_patterns.push_back(pattern["Regex"].get<std::string>());
    } else if (pattern.contains("String")) {
      v.pre_patterns.push_back(quote_regex(pattern["String"].get<std::string>()));
    } else {
      fail(where, ": Split pattern is neither Regex nor String");
    }
  } else if (type == "Digits") {
    v.pre_patterns.push_back(pt.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "ByteLevel") {
    if (pt.value("add_prefix_space", false)) fail(where, ": ByteLevel add_prefix_space is not supported");
    if (pt.value("use_regex", true)) v.pre_patterns.push_back(kGpt2Pattern);
  } else {
    fail(where, ": pre-tokenizer type '", type, "' is not supported");
  }
}

std::string token_content(const json& t) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content")) return t["content"].get<std::string>();
  return {};
}

int32_t find_token(const VocabData& v, const std::string& content) {
  for (const AddedToken& a : v.added)
    if (a.content == content) return a.id;
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i] == content) return static_cast<int32_t>(i);
  return -1;
}

}  // namespace

VocabData vocab_from_json_text(const std::string& tokenizer_json, const std::string& config_json,
                               const std::string& source) {
  VocabData v;
  v.source = source;
  v.pre_name = "custom";
  json j;
  try {
    j = json::parse(tokenizer_json);
  } catch (const json::exception& e) {
    fail(source, ": not valid JSON: ", e.what());
  }
  try {
    const json& model = j.at("model");
    if (model.value("type", "BPE") != "BPE") fail(source, ": model.type '", model.value("type", ""), "' is not BPE");
    if (model.value("byte_fallback", false)) fail(source, ": model.byte_fallback is not supported");
    const json& norm = j.value("normalizer", json());
    if (!norm.is_null() && !(norm.value("type", "") == "Sequence" && norm.value("normalizers", json::array()).empty()))
      fail(source, ": normalizer '", norm.value("type", ""), "' is not supported");

    // model.vocab: {"token": id}. Ids must be dense; added tokens may extend past the end.
    const json& vocab = model.at("vocab");
    int64_t max_id = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
    for (const json& t : j.value("added_tokens", json::array())) max_id = std::max<int64_t>(max_id, t.at("id").get<int64_t>());
    if (max_id < 0 || max_id > (int64_t(1) << 24)) fail(source, ": model.vocab is empty or has ids up to ", max_id);
    v.tokens.resize(size_t(max_id) + 1);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      int64_t id = it.value().get<int64_t>();
      if (id < 0) fail(source, ": model.vocab['", it.key(), "'] has a negative id");
      v.tokens[size_t(id)] = it.key();
    }
    // model.merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
    const json& merges = model.at("merges");
    v.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const json& m = merges[i];
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) fail(source, ": model.merges[", i, "] '", s, "' has no space");
        v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2) {
        v.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        fail(source, ": model.merges[", i, "] is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
    for (const json& t : j.value("added_tokens", json::array())) {
      AddedToken a;
      a.id = t.at("id").get<int32_t>();
      a.content = t.at("content").get<std::string>();
      a.special = t.value("special", false);
      a.normalized = t.value("normalized", !a.special);
      if (a.content.empty()) fail(source, ": added token ", a.id, " is empty");
      if (v.tokens[size_t(a.id)].empty()) v.tokens[size_t(a.id)] = a.content;
      v.added.push_back(std::move(a));
    }
    read_pre_tokenizer(j.value("pre_tokenizer", json()), v, source + ": pre_tokenizer");
    for (const char* name : {"deepseek-v3", "deepseek-llm", "deepseek-coder"})
      if (v.pre_patterns == pretokenizer_patterns(name)) v.pre_name = name;

    // BOS: tokenizer_config.json when present, else a TemplateProcessing post-processor's first token.
    const json& post = j.value("post_processor", json());
    if (!config_json.empty()) {
      json c = json::parse(config_json);
      v.bos_id = find_token(v, token_content(c.value("bos_token", json())));
      v.eos_id = find_token(v, token_content(c.value("eos_token", json())));
      // transformers' LlamaTokenizerFast adds BOS unless add_bos_token is false.
      v.add_bos = c.value("add_bos_token", c.value("tokenizer_class", "") == "LlamaTokenizerFast") && v.bos_id >= 0;
      const json& tmpl = c.value("chat_template", json());
      if (tmpl.is_string()) {
        v.chat_template = tmpl.get<std::string>();
      } else if (tmpl.is_array()) {
        for (const json& t : tmpl)
          if (t.value("name", "") == "default") v.chat_template = t.value("template", "");
      }
    } else if (post.is_object() && post.value("type", "") == "TemplateProcessing") {
      const json& single = post.value("single", json::array());
      if (!single.empty() && single[0].contains("SpecialToken")) {
        v.bos_id = find_token(v, single[0]["SpecialToken"].value("id", ""));
        v.add_bos = v.bos_id >= 0;
      }
    }
  } catch (const json::exception& e) {
    fail(source, ": unexpected tokenizer.json layout: ", e.what());
  }
  return v;
}

VocabData vocab_from_tokenizer_json(const std::string& path) {
  namespace fs = std::filesystem;
  std::string config_path = (fs::path(path).parent_path() / "tokenizer_config.json").string();
  std::string config = file_exists(config_path) ? read_text_file(config_path) : std::string();
  try {
    return vocab_from_json_text(read_text_file(path), config, path);
  } catch (const json::exception& e) {
    fail(config_path, ": ", e.what());
  }
}

}  // namespace dsinfer
