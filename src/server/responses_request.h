#pragma once
// The Responses API (POST /v1/responses) on top of chat completions: a Responses body — `input` as a string
// or as items (messages, function calls and their outputs), `instructions`, flat function `tools`,
// `text.format`, `max_output_tokens`, `previous_response_id` — becomes the /v1/chat/completions body that
// computes its answer, so both endpoints share every check, the chat template, tool-call markup and the
// structured-output constraints. responses_output.h turns the chat chunks back into Responses events.
// Anything malformed throws ApiError naming the Responses field.

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/api_request.h"
#include "server/response_store.h"

namespace dsinfer::server {

struct ResponsesRequest {
  std::string chat_body;                // JSON text of the equivalent chat completions request (n = 1)
  nlohmann::ordered_json chat;          // that request without its messages (they come from the conversation)
  nlohmann::ordered_json conversation;  // every input item, a continued response's conversation first
  size_t input_begin = 0;               // where this request's own input items begin in it (each has an "id")
  // The request's settings as the response object repeats them: instructions, max_output_tokens, model,
  // parallel_tool_calls, previous_response_id, reasoning, store, temperature, text, tool_choice, tools,
  // top_logprobs, top_p, truncation, user, metadata.
  nlohmann::ordered_json settings;
  bool stream = false;
  bool store = true;
};

ResponsesRequest parse_responses_request(std::string_view body, const RequestLimits& limits, const ResponseStore& store);

// r.chat with the messages of r's instructions and conversation, as JSON text.
std::string chat_body_of(const ResponsesRequest& r);

// truncation "auto": drops the conversation's oldest turns (whole turns: up to a later user message) until
// `fits` accepts the chat body — as few as possible — and updates r. False (r unchanged) when even the
// last turn alone does not fit.
bool truncate_to_fit(ResponsesRequest& r, const std::function<bool(const std::string& chat_body)>& fits);

// The chat messages of a conversation: `instructions` (a string, or null) as the system message first.
nlohmann::ordered_json chat_messages(const nlohmann::ordered_json& instructions, const nlohmann::ordered_json& conversation);

// The chat messages (chat completions form) of Responses input items; ApiError names `where`[i].
nlohmann::ordered_json chat_messages_from_items(const nlohmann::ordered_json& items, const std::string& where);

// A chat-request error as the Responses request's: its param renamed (messages -> input, response_format
// -> text.format, max_completion_tokens -> max_output_tokens, ...).
ApiError responses_error(const ApiError& chat_error);

}  // namespace dsinfer::server
