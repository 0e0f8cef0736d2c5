#pragma once
// Ollama's native API (POST /api/chat, POST /api/generate, GET /api/tags, POST /api/show, GET /api/ps,
// GET /api/version), for the clients written against a local Ollama (the `ollama` packages, editor
// plugins, Open WebUI's Ollama connection). A chat or generate body — `messages` (tool calls with object
// arguments, tool results), `system` / `prompt` / `raw`, `tools`, `format` ("json" or a JSON Schema),
// `options` (temperature, top_p, top_k, min_p, seed, num_predict, stop, repeat_penalty,
// presence_penalty, frequency_penalty; the rest, which tune Ollama's own runner, are accepted and have
// no effect), `think`, `stream` (true unless false, as Ollama) — becomes the /v1/chat/completions (or,
// raw, /v1/completions) body that computes its answer; OllamaOutput turns the chunks back into Ollama's
// newline-delimited JSON objects (`message` / `response`, `thinking`, `tool_calls`, the final `done`
// object with token counts and nanosecond durations). Errors are {"error": "..."}.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api_request.h"

namespace dsinfer::server {

struct OllamaRequest {
  std::string body;      // JSON text of the equivalent chat (or, raw generate, text) completions request
  bool chat = true;      // the body is a chat completions request
  bool generate = false; // /api/generate (the answer is `response`), else /api/chat (`message`)
  bool stream = true;
  std::string model;     // as the request named it ("" = the server's)
};

OllamaRequest parse_ollama_request(std::string_view body, const RequestLimits& limits, bool generate);

class OllamaOutput {
 public:
  using json = nlohmann::ordered_json;
  OllamaOutput(std::string model, bool generate);

  // The lines (objects) one chat.completion(.chunk) adds: content and thinking as they come; tool calls
  // when the answer ends (their arguments are whole objects then).
  std::vector<json> on_chunk(const json& chunk);
  // The last object: done, done_reason, token counts (usage: the chat usage object) and durations. The
  // calls, if any, ride on it when not streaming; streamed, they come in a line just before it.
  std::vector<json> finish(const json& usage, bool streamed);
  // Not streamed: the whole answer in one object (after finish()).
  const json& whole() const { return whole_; }

 private:
  std::string model_;
  bool generate_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), first_token_{};
  std::string content_, thinking_, finish_reason_;
  json calls_ = json::array();       // [{"function": {"name", "arguments" (text so far)}}]
  json whole_;

  json line(const std::string& content, const std::string& thinking) const;
};

// GET /api/tags, POST /api/show, GET /api/ps: the one model this server runs, as Ollama describes models.
struct OllamaModelInfo {
  std::string name;           // the served model id
  int64_t size_bytes = 0;     // weights
  int64_t parameters = 0;
  std::string quantization;   // the most common weight type ("Q4_0", "F16", ...)
  int64_t context_length = 0;
  nlohmann::json model_info;  // the config's fields
};
nlohmann::ordered_json ollama_tags(const OllamaModelInfo& m, bool running);
nlohmann::ordered_json ollama_show(const OllamaModelInfo& m, bool tools, bool thinking);

// {"error": "message"} (the field named where the message does not already), and a chat request's error
// in Ollama's terms (max_tokens -> options.num_predict, response_format -> format, ...).
nlohmann::ordered_json ollama_error_json(const ApiError& e);
ApiError ollama_error(const ApiError& chat_error);

// The Ollama API version this server follows (GET /api/version; clients check it).
inline constexpr const char* kOllamaApiVersion = "0.12.0";

// RFC 3339 UTC time with nanoseconds, as Ollama writes `created_at`.
std::string rfc3339_now();

}  // namespace dsinfer::server
