#pragma once
// The Anthropic Messages API (POST /v1/messages, POST /v1/messages/count_tokens), which DeepSeek's own
// API also serves, so that clients written for it (Claude Code, the `anthropic` package) can use a local
// model: a Messages body — `system`, `messages` with content blocks (text, tool_use, tool_result; thinking
// blocks are accepted and, as the DeepSeek templates do, left out), `tools` with `input_schema`,
// `tool_choice`, `stop_sequences`, `output_config.format` — becomes the /v1/chat/completions body that
// computes its answer; messages_output.h turns the chat chunks back into Messages events. Anything
// malformed throws ApiError naming the Messages field; errors go out in Anthropic's shape.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/api_request.h"

namespace dsinfer::server {

struct MessagesRequest {
  std::string chat_body;  // JSON text of the equivalent chat completions request (n = 1)
  bool stream = false;
  std::string model;      // as the request named it ("" = the server's)
};

// count_tokens: the body of POST /v1/messages/count_tokens (no max_tokens; never generates).
MessagesRequest parse_messages_request(std::string_view body, const RequestLimits& limits, bool count_tokens = false);

// A chat-request error as the Messages request's: its param renamed (stop -> stop_sequences,
// response_format -> output_config.format, ...).
ApiError messages_error(const ApiError& chat_error);

// {"type": "error", "error": {"type", "message"}}: Anthropic's error object, its type from the HTTP status
// and its message naming the field ("stop_sequences: ...") where the message does not already.
nlohmann::ordered_json anthropic_error_json(const ApiError& e);

}  // namespace dsinfer::server
