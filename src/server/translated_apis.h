#pragma once
// The Responses API and Anthropic's Messages API started without HTTP: the body translated into a chat
// completions body (responses_request.h, messages_request.h), planned — with `truncation: "auto"`, the
// oldest turns dropped until it fits —, queued through start_generation, and paired with the writer that
// turns its chat chunks into that API's answer. Errors are ApiErrors named in that API's terms.

#include <chrono>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/answer_writer.h"
#include "server/response_store.h"
#include "server/start_generation.h"

namespace dsinfer::server {

struct StartedAnswer {
  StartedGeneration started;
  std::unique_ptr<AnswerWriter> writer;
};

// POST /v1/responses; `store` holds the responses that previous_response_id continues.
StartedAnswer start_response(const GenerationContext& ctx, std::string_view body, ResponseStore& store,
                             std::chrono::steady_clock::time_point arrival);

// POST /v1/messages.
StartedAnswer start_message(const GenerationContext& ctx, std::string_view body, std::chrono::steady_clock::time_point arrival);

// POST /api/chat, POST /api/generate (Ollama).
StartedAnswer start_ollama(const GenerationContext& ctx, std::string_view body, bool generate,
                           std::chrono::steady_clock::time_point arrival);

// POST /v1/messages/count_tokens: {"input_tokens": N}, the prompt the request would have (no context limit).
nlohmann::json count_message_tokens(const GenerationContext& ctx, std::string_view body);

}  // namespace dsinfer::server
