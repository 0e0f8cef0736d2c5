#pragma once
// A chat completion's chunks as the Responses API's output: items (reasoning, the assistant's message,
// function calls) opened and closed as the answer moves between them, the streaming events
// (response.created … response.completed, each with its sequence_number) and the response object. The
// streamed and the plain answer are built by this one class from the same chunks, so they cannot differ.
// No network code: tests feed it chunks.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsinfer::server {

class ResponsesOutput {
 public:
  using json = nlohmann::ordered_json;
  // settings: ResponsesRequest::settings with "model" filled in.
  ResponsesOutput(std::string id, json settings, int64_t created_at);

  std::vector<json> start();                       // response.created, response.in_progress
  std::vector<json> on_chunk(const json& chunk);   // the events of one chat.completion.chunk
  // The end: closes the open item and gives response.completed (finish_reason "stop" / "tool_calls"),
  // response.incomplete ("length": max_output_tokens) or, when `error` is set, an error event and
  // response.failed. usage: the chat usage object.
  std::vector<json> finish(const json& usage, const std::string& error = {});

  const json& response() const { return response_; }  // after finish(): the final response object
  const json& output() const { return response_["output"]; }
  const std::string& id() const { return id_; }

 private:
  enum class Kind { kNone, kReasoning, kMessage, kCall };
  std::string id_;
  json response_;
  int64_t sequence_ = 0;
  Kind open_ = Kind::kNone;
  std::string finish_reason_;
  std::vector<json> events_;  // being built by the current call

  json& item() { return response_["output"].back(); }
  int output_index() const { return static_cast<int>(response_["output"].size()) - 1; }
  void emit(json event);
  json snapshot() const;  // the response object as the lifecycle events carry it
  void open(Kind kind, json item);
  void close(const char* status);
  void text(Kind kind, const std::string& delta, const json& logprobs);
};

}  // namespace dsinfer::server
