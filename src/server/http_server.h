#pragma once
// The OpenAI-compatible HTTP server (cpp-httplib, a thread per connection from a fixed pool):
//   POST /v1/chat/completions, POST /v1/completions, POST /v1/responses (+ GET / DELETE of a stored one),
//   GET /v1/models, GET /health, GET /metrics, llama-server's POST /tokenize and POST /detokenize, and
//   Anthropic's POST /v1/messages and POST /v1/messages/count_tokens, and Ollama's /api/chat, /api/generate,
//   /api/tags, /api/show, /api/ps, /api/version.
// Generation goes through the Scheduler (continuous batching); this layer turns requests into prompt
// token ids (chat template + tokenizer) and the token streams back into OpenAI JSON / Server-Sent Events.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/scheduler.h"
#include "server/api_request.h"
#include "server/ollama_api.h"
#include "tokenizer/chat_template.h"

namespace dsinfer {
class Tokenizer;
}

namespace dsinfer::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0 = any free port (see HttpServer::bind)
  std::string api_key;             // "" = no authentication
  std::string model_name = "dsinfer";
  RequestLimits limits;
  int http_threads = 64;           // connections served at once
  std::optional<ChatFormat> chat_format;  // unset: detected from the tokenizer's chat template
  std::vector<int32_t> stop_token_ids;    // end-of-sequence ids of the model
  // Browser origins allowed to call the API (CORS: "scheme://host[:port]", or "*" for any). Empty = no
  // CORS headers and no preflight answers, so web pages cannot read the responses.
  std::vector<std::string> cors_origins;
  // Testing aid: every answer is this text (its tokens replace the sampled ones; the model still runs),
  // so that tests can drive tool calls and reasoning through a random-weight model. "" = off.
  std::string scripted_answer;
  // The Responses API's stored responses (previous_response_id): at most this many bytes (0 = none kept).
  size_t responses_store_bytes = 64u << 20;
  // How Ollama's /api/tags and /api/show describe the model (its name is model_name).
  OllamaModelInfo model_info;
};

class HttpServer {
 public:
  HttpServer(const ServerOptions& options, Scheduler& scheduler, const Tokenizer& tokenizer);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int bind();  // binds host:port and returns the port; Error if it cannot
  void run();  // serves until stop(); call bind() first
  // Stops accepting connections and returns once run() is winding down; safe from any thread. Running
  // generations are the scheduler's business (shut it down first to end streams promptly).
  void stop();
  void set_shutting_down();  // /health answers 503 from now on
  // Waits until every streamed response has been written out (finish chunk and [DONE]) or `seconds`
  // passed; call after the scheduler's shutdown and before stop(), which cuts unfinished streams.
  void drain(double seconds);

  ChatFormat chat_format() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsinfer::server
