#pragma once
// JSON mode (OpenAI's and DeepSeek's response_format {"type": "json_object"}): the answer is one JSON
// object. Each step, every token whose bytes cannot continue the answer so far as such a document gets a
// logit of -inf before sampling, and so do added and control tokens (chat markup, end of sequence): the
// scheduler ends the answer when the object is complete.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/json_prefix.h"

namespace dsinfer {

class Tokenizer;

// The vocabulary as JSON mode sees it, built once per tokenizer and shared by every request.
struct JsonTokenTable {
  std::vector<std::string> bytes;  // [n_vocab] a token's bytes ("" for the banned ones)
  std::vector<uint8_t> banned;     // added and control tokens, and tokens without bytes
  std::vector<uint8_t> plain;      // every byte >= 0x20 and none is '"' or '\': continues any open string

  static std::shared_ptr<const JsonTokenTable> from(const Tokenizer& tokenizer);
};

class JsonConstraint {
 public:
  explicit JsonConstraint(std::shared_ptr<const JsonTokenTable> table) : table_(std::move(table)) {}

  // -inf for every token that cannot come next (ids past the table's vocabulary too). Returns how many
  // tokens remain allowed.
  int64_t mask(float* logits, int64_t n_vocab) const;
  // The token that was chosen; false if it cannot continue the document (the state is then unchanged).
  bool accept(int32_t token);
  bool complete() const { return state_.complete(); }

 private:
  std::shared_ptr<const JsonTokenTable> table_;
  JsonPrefix state_;
};

}  // namespace dsinfer
