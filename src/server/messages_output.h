#pragma once
// A chat completion's chunks as the Anthropic Messages API's output: content blocks (thinking, text,
// tool_use) opened and closed as the answer moves between them, the streaming events (message_start,
// content_block_start / _delta / _stop, message_delta, message_stop) and the message object. The streamed
// and the plain answer are built by this one class from the same chunks. No network code: tests feed it
// chunks.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsinfer::server {

class MessagesOutput {
 public:
  using json = nlohmann::ordered_json;
  MessagesOutput(std::string id, std::string model, int64_t input_tokens);

  std::vector<json> start();                      // message_start
  std::vector<json> on_chunk(const json& chunk);  // the events of one chat.completion.chunk
  // The end: closes the open block; message_delta (stop_reason end_turn / max_tokens / stop_sequence /
  // tool_use, output usage) and message_stop. usage: the chat usage object; stop_sequence: the stop string
  // that ended the answer ("" = none).
  std::vector<json> finish(const json& usage, const std::string& stop_sequence);

  const json& message() const { return message_; }  // after finish(): the whole message

 private:
  enum class Kind { kNone, kThinking, kText, kToolUse };
  json message_;
  Kind open_ = Kind::kNone;
  std::string finish_reason_;
  std::string tool_input_;  // the open tool_use block's arguments (JSON text) so far
  std::vector<json> events_;

  int index() const { return static_cast<int>(message_["content"].size()) - 1; }
  void open(Kind kind, json block);
  void close();
  void delta(Kind kind, const std::string& text);
};

}  // namespace dsinfer::server
