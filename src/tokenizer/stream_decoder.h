#pragma once
// Incremental detokenization for streaming: tokens arrive one at a time and a token may end in the middle
// of a UTF-8 character (byte-level BPE splits them freely). StreamDecoder returns only complete
// characters and keeps the rest for the next token.

#include <cstdint>
#include <string>
#include <string_view>

namespace dsinfer {

class Tokenizer;

class StreamDecoder {
 public:
  // skip_special: control tokens (BOS, EOS, ...) produce no text.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = true);

  // The text that is complete after this token: valid UTF-8, possibly empty. Bytes that can never become a
  // character (a stray continuation byte, an overlong lead) come out as U+FFFD.
  std::string push(int32_t id);
  // At the end of the stream: whatever is still held, an unfinished character as U+FFFD.
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

// Valid UTF-8 prefix of `bytes`: returns the length that is complete; invalid bytes are appended to `out`
// as U+FFFD, valid ones as they are. An incomplete but so-far valid sequence at the end is left unconsumed
// unless `final` is set.
size_t utf8_take_complete(std::string_view bytes, bool final, std::string& out);

// Length of the longest valid UTF-8 prefix of `bytes` (== bytes.size() if it is all valid).
size_t utf8_valid_length(std::string_view bytes);

// Replaces every invalid UTF-8 sequence with U+FFFD (for JSON output of arbitrary bytes).
std::string utf8_sanitize(std::string_view bytes);

}  // namespace dsinfer
