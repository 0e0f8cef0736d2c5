#pragma once
// How a running generation's chunks become the bytes of its HTTP answer. Chat and text completions send
// their chunks as Server-Sent Events ("data: {…}" lines ending with "data: [DONE]") or one JSON object;
// the Responses API translates the same chunks into its typed events ("event: response.output_text.delta")
// and its response object, and stores the response for `previous_response_id`; the Messages API into
// Anthropic's events ("event: content_block_delta") and message object. http_server.cpp drives a
// writer; the writer knows nothing of sockets.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "server/generation_group.h"
#include "server/messages_output.h"
#include "server/ollama_api.h"
#include "server/response_store.h"
#include "server/responses_output.h"

namespace dsinfer::server {

class AnswerWriter {
 public:
  virtual ~AnswerWriter() = default;
  virtual std::string begin(const GenerationGroup& g) = 0;    // streaming: what precedes the first chunk
  virtual std::string chunk(const ResponseJson& chunk) = 0;   // one chunk (also called when not streaming: the text is dropped)
  virtual std::string end(const GenerationGroup& g) = 0;      // streaming: what follows the last chunk
  virtual std::string body(const GenerationGroup& g) = 0;     // not streaming: the whole answer, after the last chunk
  // Streaming: the body's media type, and what is written while nothing happens (how a gone client is
  // noticed; it must leave the stream valid).
  virtual const char* stream_type() const { return "text/event-stream"; }
  virtual std::string keep_alive() const { return ": keep-alive\n\n"; }
};

// /v1/chat/completions (chat) and /v1/completions.
std::unique_ptr<AnswerWriter> completion_writer(bool chat, bool include_usage, bool stream);

// /v1/responses. With `store`, the finished response and its conversation (the request's items, then the
// output's) go into `store` (which must outlive the writer).
// `conversation`: the request's items, its own input from `input_begin` on.
std::unique_ptr<AnswerWriter> responses_writer(std::unique_ptr<ResponsesOutput> output, ResponseStore& store,
                                               nlohmann::ordered_json conversation, size_t input_begin, bool store_it);

// /v1/messages (Anthropic's Messages API).
std::unique_ptr<AnswerWriter> messages_writer(std::unique_ptr<MessagesOutput> output);

// /api/chat and /api/generate (Ollama): newline-delimited JSON objects.
std::unique_ptr<AnswerWriter> ollama_writer(std::unique_ptr<OllamaOutput> output);

}  // namespace dsinfer::server
