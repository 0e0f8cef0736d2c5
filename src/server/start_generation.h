#pragma once
// An OpenAI request body turned into running work, without HTTP: the request planned (request_plan.h:
// prompts, checks, what the answer is held to), one scheduler request per choice (n per prompt; refusals
// become ApiErrors, and the choices already queued are cancelled), and the GenerationGroup that turns
// their token streams back into OpenAI JSON.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/output_constraint.h"
#include "runtime/scheduler.h"
#include "server/generation_group.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace dsinfer::server {

// What every request needs from the server, set up once.
struct GenerationContext {
  const ServerOptions& options;
  Scheduler& scheduler;
  const Tokenizer& tokenizer;
  ServerMetrics& metrics;
  ChatFormat format = ChatFormat::kDeepSeekV3;
  std::string bos_text;                                     // the chat template's BOS
  std::vector<int32_t> scripted_tokens;                     // options.scripted_answer, tokenized
  std::shared_ptr<const ConstraintVocab> constraint_vocab;  // the vocabulary as constrained answers see it
};

struct StartedGeneration {
  std::shared_ptr<GenerationGroup> group;
  bool stream = false;         // SSE, else one JSON response
  bool include_usage = false;  // streaming: a last chunk with the usage
};

// Throws ApiError for anything the client must change (or a refusal: 429 / 503).
StartedGeneration start_generation(const GenerationContext& ctx, std::string_view body, bool chat,
                                   std::chrono::steady_clock::time_point arrival);

}  // namespace dsinfer::server
