#pragma once
// Generated token ids -> the text pieces an OpenAI response carries: UTF-8-safe detokenization
// (StreamDecoder), stop sequences matched on the text (held back only while they may still be starting),
// then for chat the reasoning / tool-call parser (ChatOutputParser). Feeding tokens one at a time gives
// the same final text as feeding them all at once.

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/output_parser.h"
#include "tokenizer/stream_decoder.h"

namespace dsinfer::server {

// Finds the first of several stop strings in a growing text. push() returns the text that can no longer
// be part of a stop sequence (never splitting a UTF-8 character); once a stop matched, the text before it
// is returned and everything after is dropped.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  std::string push(const std::string& text);
  std::string flush();  // end of stream: the held-back text
  bool matched() const { return matched_; }
  const std::string& matched_stop() const { return matched_stop_; }  // which one ("" = none yet)

 private:
  std::vector<std::string> stops_;
  std::string matched_stop_;
  size_t hold_ = 0;  // longest stop - 1
  std::string pending_;
  bool matched_ = false;
};

// The prompt as a completion with echo repeats it: the tokens' text with control tokens (BOS) as nothing,
// and where each token's text starts in it (bytes).
struct EchoText {
  std::string text;
  std::vector<int64_t> starts;
};
EchoText echo_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids);

class TextOutput {
 public:
  // chat: run the reasoning / tool-call parser; otherwise everything is content.
  TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stops, bool chat, ChatOutputOptions parser_options);

  ChatDelta push(int32_t token);
  ChatDelta finish();
  // A stop sequence was found: the caller should cancel generation.
  bool stopped() const { return stop_.matched(); }
  const std::string& stop_sequence() const { return stop_.matched_stop(); }  // the one found, else ""
  // Bytes of generated text decoded so far (where the next token's text starts), and how many of them have
  // come out of the stop matcher (content, reasoning or tool calls; never the stop sequence).
  int64_t decoded_bytes() const { return decoded_; }
  int64_t released_bytes() const { return released_; }

  // Everything so far (chat: as parsed).
  const std::string& content() const { return chat_ ? parser_.content() : content_; }
  const std::string& reasoning() const { return parser_.reasoning(); }
  const std::vector<ParsedToolCall>& tool_calls() const { return parser_.tool_calls(); }
  bool in_tool_calls() const { return chat_ && parser_.in_tool_calls(); }
  // Tokens pushed while reasoning was open, the one that closed it included (usage's reasoning_tokens).
  int64_t reasoning_tokens() const { return reasoning_tokens_; }

 private:
  StreamDecoder decoder_;
  StopMatcher stop_;
  bool chat_;
  ChatOutputParser parser_;
  std::string content_;
  int64_t decoded_ = 0, released_ = 0;
  int64_t reasoning_tokens_ = 0;
  ChatDelta route(const std::string& text, bool final);
};

}  // namespace dsinfer::server
