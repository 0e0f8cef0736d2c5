#pragma once
// The data a byte-level BPE tokenizer is built from, filled by either loader: a Hugging Face
// tokenizer.json (+ tokenizer_config.json beside it) or the `tokenizer.ggml.*` metadata of a GGUF file.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dsinfer {

class GgufFile;

// A token matched in the raw text before pre-tokenization (Hugging Face "added_tokens"; GGUF token types
// CONTROL and USER_DEFINED).
struct AddedToken {
  std::string content;  // raw text (not byte-level encoded)
  int32_t id = -1;
  bool special = false;     // control token: only split out when parsing special tokens is on
  bool normalized = false;  // Hugging Face matches these after the non-normalized ones
};

struct VocabData {
  std::string source;                                        // file path, for error messages
  std::vector<std::string> tokens;                           // [n_vocab] byte-level form ("Ġthe")
  std::vector<std::pair<std::string, std::string>> merges;   // by rank, byte-level form
  std::vector<AddedToken> added;
  std::vector<int32_t> unused;  // padding tokens (GGUF token type UNUSED): no text a model should write
  std::vector<std::string> pre_patterns;  // Split regexes (Hugging Face dialect), applied in order
  std::string pre_name;                   // "deepseek-v3", ... or "custom" when read from tokenizer.json
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  bool add_bos = false;
  std::string chat_template;  // as the model ships it; empty if none
};

// Reads a Hugging Face tokenizer.json (BPE model with byte-level pre-tokenizer and decoder). BOS/EOS,
// add_bos_token and chat_template come from tokenizer_config.json in the same directory when present.
VocabData vocab_from_tokenizer_json(const std::string& path);
// Same, from the JSON texts (config_json may be empty). `source` names them in errors.
VocabData vocab_from_json_text(const std::string& tokenizer_json, const std::string& config_json,
                               const std::string& source);

// Reads `tokenizer.ggml.*` from a GGUF file (model "gpt2" only). Throws Error naming the key on bad data.
VocabData vocab_from_gguf(const GgufFile& gguf, const std::string& source);

}  // namespace dsinfer
