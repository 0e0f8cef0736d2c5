#include "server/translated_apis.h"

#include <limits>

#include "server/messages_request.h"
#include "server/ollama_api.h"
#include "server/request_plan.h"
#include "server/responses_request.h"

namespace dsinfer::server {
namespace {

PlanContext plan_context(const GenerationContext& ctx, int64_t max_context) {
  return PlanContext{ctx.options.limits, ctx.tokenizer, ctx.format, ctx.bos_text, max_context};
}

}  // namespace

StartedAnswer start_response(const GenerationContext& ctx, std::string_view body, ResponseStore& store,
                             std::chrono::steady_clock::time_point arrival) {
  ResponsesRequest r = parse_responses_request(body, ctx.options.limits, store);
  StartedAnswer a;
  try {
    try {
      a.started = start_generation(ctx, r.chat_body, true, arrival);
    } catch (const ApiError& e) {
      if (e.code != "context_length_exceeded" || r.settings["truncation"] != "auto") throw;
      // truncation "auto": the oldest turns go until the prompt fits (planned without queueing anything).
      const PlanContext plan = plan_context(ctx, ctx.scheduler.options().max_context);
      const bool fits = truncate_to_fit(r, [&plan](const std::string& chat_body) {
        try {
          plan_request(plan, chat_body, true);
          return true;
        } catch (const ApiError& e) {
          if (e.code == "context_length_exceeded") return false;
          throw;
        }
      });
      if (!fits) throw;
      a.started = start_generation(ctx, r.chat_body, true, arrival);
    }
  } catch (const ApiError& e) {
    throw responses_error(e);
  }
  if (r.settings["model"].is_null()) r.settings["model"] = ctx.options.model_name;
  auto output = std::make_unique<ResponsesOutput>(random_id("resp_"), std::move(r.settings), unix_now());
  a.writer = responses_writer(std::move(output), store, std::move(r.conversation), r.input_begin, r.store);
  return a;
}

StartedAnswer start_message(const GenerationContext& ctx, std::string_view body, std::chrono::steady_clock::time_point arrival) {
  const MessagesRequest r = parse_messages_request(body, ctx.options.limits);
  StartedAnswer a;
  try {
    a.started = start_generation(ctx, r.chat_body, true, arrival);
  } catch (const ApiError& e) {
    throw messages_error(e);
  }
  const int64_t input_tokens = a.started.group->usage_chunk()["usage"]["prompt_tokens"].get<int64_t>();
  a.writer = messages_writer(
      std::make_unique<MessagesOutput>(random_id("msg_"), r.model.empty() ? ctx.options.model_name : r.model, input_tokens));
  return a;
}

StartedAnswer start_ollama(const GenerationContext& ctx, std::string_view body, bool generate,
                           std::chrono::steady_clock::time_point arrival) {
  const OllamaRequest r = parse_ollama_request(body, ctx.options.limits, generate);
  StartedAnswer a;
  try {
    a.started = start_generation(ctx, r.body, r.chat, arrival);
  } catch (const ApiError& e) {
    throw ollama_error(e);
  }
  a.writer = ollama_writer(std::make_unique<OllamaOutput>(r.model.empty() ? ctx.options.model_name : r.model, generate));
  return a;
}

nlohmann::json count_message_tokens(const GenerationContext& ctx, std::string_view body) {
  const MessagesRequest r = parse_messages_request(body, ctx.options.limits, /*count_tokens=*/true);
  try {
    const RequestPlan p = plan_request(plan_context(ctx, std::numeric_limits<int64_t>::max() / 2), r.chat_body, true);
    return {{"input_tokens", p.prompts.at(0).size()}};
  } catch (const ApiError& e) {
    throw messages_error(e);
  }
}

}  // namespace dsinfer::server
