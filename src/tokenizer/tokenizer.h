#pragma once
// The text <-> token ids interface the rest of dsinfer uses: added/special tokens split out of the text,
// pre-tokenizer, byte-level BPE, BOS as the model says; decode back to bytes.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab.h"

namespace dsinfer {

struct EncodeOptions {
  std::optional<bool> add_bos;  // unset: as the model says (tokenizer_config / GGUF add_bos_token)
  // false: special (control) tokens in the text are encoded as plain text, like Hugging Face's
  // encode_special_tokens / llama.cpp's parse_special=false. Non-special added tokens (e.g. DeepSeek's
  // <｜User｜>, <｜tool▁calls▁begin｜>) are still split out, as both of those do.
  bool parse_special = true;
};

class Tokenizer {
 public:
  explicit Tokenizer(VocabData vocab);
  ~Tokenizer();

  // Throws Error if the text is not valid UTF-8 (naming the byte offset).
  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Concatenates the tokens' bytes. The result is valid UTF-8 when the ids came from encode(); partial
  // sequences are returned as they are (see StreamDecoder for streaming). Throws Error for an id out of
  // range.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  int32_t n_vocab() const { return int32_t(token_bytes_.size()); }
  // The raw bytes a token stands for (an added token's content, a BPE token byte-level decoded).
  const std::string& token_bytes(int32_t id) const;
  // The token as the vocabulary spells it ("Ġthe").
  const std::string& token_text(int32_t id) const;
  bool is_special(int32_t id) const;  // a control token (BOS, EOS, ...)
  bool is_added(int32_t id) const;    // an added token: control tokens and markup (<｜User｜>, <think>, ...)
  bool is_unused(int32_t id) const;   // a padding token (GGUF type UNUSED, "[PAD128815]")
  std::optional<int32_t> find_token(std::string_view text) const;  // exact vocabulary / added-token text

  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  bool add_bos() const { return vocab_.add_bos; }
  const std::string& chat_template() const { return vocab_.chat_template; }
  const std::string& pre_name() const { return vocab_.pre_name; }
  const std::string& source() const { return vocab_.source; }

 private:
  struct Trie;
  struct Segment {
    size_t begin, end;  // bytes of the text
    int32_t token;      // an added token, or -1 for plain text
  };
  void split_added(std::string_view text, const Trie& trie, bool parse_special, std::vector<Segment>& segs) const;

  VocabData vocab_;
  std::vector<std::string> token_bytes_;
  std::vector<uint8_t> special_;
  std::vector<uint8_t> added_;
  std::vector<uint8_t> unused_;
  std::unique_ptr<PreTokenizer> pre_;
  std::unique_ptr<BpeModel> bpe_;
  std::unique_ptr<Trie> trie_raw_;         // non-normalized added tokens, matched first
  std::unique_ptr<Trie> trie_normalized_;  // then these, in the text between
};

// Loads the tokenizer of a model: a GGUF file (also vocab-only), a Hugging Face model directory with
// tokenizer.json, or a tokenizer.json file. Returns nullptr if the model carries no tokenizer (a GGUF
// without tokenizer.ggml.tokens, a directory without tokenizer.json); throws Error for a broken one.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path);

}  // namespace dsinfer
