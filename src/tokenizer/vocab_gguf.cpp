// Loading VocabData from GGUF `tokenizer.ggml.*` metadata (as llama.cpp's converter writes it).

#include "formats/gguf.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace dsinfer {

namespace {

// llama.cpp's llama_token_type.
constexpr int64_t kTokenTypeControl = 3;
constexpr int64_t kTokenTypeUserDefined = 4;
constexpr int64_t kTokenTypeUnused = 5;  // padding up to the model's vocabulary ("[PAD128815]")

}  // namespace

VocabData vocab_from_gguf(const GgufFile& gguf, const std::string& source) {
  VocabData v;
  v.source = source;
  return with_context(source, [&] {
    std::string model = gguf.get_string("tokenizer.ggml.model").value_or("");
    if (model != "gpt2")
      fail("tokenizer.ggml.model is '", model, "'; only byte-level BPE ('gpt2') is supported");
    const auto* tokens = gguf.get_string_array("tokenizer.ggml.tokens");
    if (!tokens || tokens->empty()) fail("tokenizer.ggml.tokens is missing or empty");
    v.tokens = *tokens;
    const auto* merges = gguf.get_string_array("tokenizer.ggml.merges");
    if (!merges) fail("tokenizer.ggml.merges is missing");
    v.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string& m = (*merges)[i];
      size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) fail("tokenizer.ggml.merges[", i, "] '", m, "' has no space");
      v.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
    if (auto types = gguf.get_int_array("tokenizer.ggml.token_type")) {
      if (types->size() != v.tokens.size())
        fail("tokenizer.ggml.token_type has ", types->size(), " entries for ", v.tokens.size(), " tokens");
      for (size_t i = 0; i < types->size(); ++i) {
        int64_t t = (*types)[i];
        if ((t == kTokenTypeControl || t == kTokenTypeUserDefined) && !v.tokens[i].empty())
          v.added.push_back({v.tokens[i], int32_t(i), t == kTokenTypeControl, false});
        if (t == kTokenTypeUnused) v.unused.push_back(int32_t(i));
      }
    }
    v.pre_name = gguf.get_string("tokenizer.ggml.pre").value_or("default");
    v.pre_patterns = with_context("tokenizer.ggml.pre", [&] { return pretokenizer_patterns(v.pre_name); });
    auto id_of = [&](const char* key) -> int32_t {
      auto id = gguf.get_uint(key);
      if (!id) return -1;
      if (*id >= v.tokens.size()) fail(key, " = ", *id, " is out of range (", v.tokens.size(), " tokens)");
      return int32_t(*id);
    };
    v.bos_id = id_of("tokenizer.ggml.bos_token_id");
    v.eos_id = id_of("tokenizer.ggml.eos_token_id");
    v.add_bos = gguf.get_bool("tokenizer.ggml.add_bos_token").value_or(false) && v.bos_id >= 0;
    v.chat_template = gguf.get_string("tokenizer.chat_template").value_or("");
    return v;
  });
}

}  // namespace dsinfer
