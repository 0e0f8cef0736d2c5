#include "server/start_generation.h"

#include <optional>
#include <random>

#include "server/api_request.h"
#include "server/tool_prompt.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace dsinfer::server {

using nlohmann::json;

namespace {

// The HTTP error for a request the scheduler refused (counted in the metrics when it is about load).
ApiError refusal(const SubmitResult& sub, ServerMetrics& metrics) {
  switch (sub.status) {
    case SubmitStatus::kTooLong: return ApiError(400, sub.message, "max_tokens", "context_length_exceeded");
    case SubmitStatus::kQueueFull: {
      metrics.count_rejection(sub.status);
      ApiError e(429, "The server is busy: " + sub.message + ". Retry later.", "", "rate_limit_exceeded", "rate_limit_error");
      e.retry_after = 1;
      return e;
    }
    case SubmitStatus::kShuttingDown: {
      metrics.count_rejection(sub.status);
      ApiError e(503, sub.message, "", "unavailable", "server_error");
      e.retry_after = 5;
      return e;
    }
    default: return ApiError(400, sub.message);  // kInvalid
  }
}

// The chat prompt: the template over the messages, the tools described in the system message (from
// ordered_tools: the same as r.tools, keys in the client's order).
std::vector<int32_t> chat_prompt(const GenerationContext& ctx, const ChatRequest& r, const nlohmann::ordered_json& ordered_tools,
                                 bool* starts_in_reasoning) {
  const Tokenizer& tokenizer = ctx.tokenizer;
  ChatRenderOptions ro;
  ro.bos_token = ctx.bos_text;
  ro.add_generation_prompt = true;
  ro.tools = r.tools;
  std::vector<ChatMessage> messages = r.messages;
  if (r.tool_choice != "none" && r.tools.is_array() && !r.tools.empty())
    add_tools_to_messages(messages, tool_system_text(ordered_tools, r.tool_choice, r.tool_choice_name));
  std::string text;
  try {
    text = render_chat(ctx.format, messages, ro);
  } catch (const Error& e) {
    throw ApiError(400, cat("messages: ", e.what()), "messages");
  }
  *starts_in_reasoning = text.size() >= 8 && text.ends_with("<think>\n");
  EncodeOptions eo;
  eo.add_bos = false;  // the template writes the BOS text itself
  return tokenizer.encode(text, eo);
}

// What each choice's answer is held to, if anything: JSON (after the reasoning, for a reasoning format), or
// tool calls (forced, or once begun: calls_trigger).
ConstraintFactory answer_constraint(std::shared_ptr<const ConstraintVocab> v, std::shared_ptr<const JsonSchema> schema,
                                    bool after_reasoning, std::shared_ptr<const ToolCallPattern> calls, int32_t calls_trigger) {
  if (schema && after_reasoning) return [v, schema] { return std::make_unique<ReasoningThenJsonConstraint>(v, schema); };
  if (schema) return [v, schema] { return std::make_unique<JsonSchemaConstraint>(v, schema); };
  if (calls && calls_trigger >= 0)
    return [v, calls, calls_trigger] {
      return std::make_unique<TriggeredConstraint>(v, calls_trigger, std::make_unique<ToolCallConstraint>(v, calls));
    };
  if (calls) return [v, calls] { return std::make_unique<ToolCallConstraint>(v, calls); };
  return {};
}

}  // namespace

std::vector<int32_t> fill_in_the_middle(const Tokenizer& tokenizer, const std::string& prefix, const std::string& suffix) {
  const auto begin = tokenizer.find_token("<｜fim▁begin｜>"), hole = tokenizer.find_token("<｜fim▁hole｜>"),
             end = tokenizer.find_token("<｜fim▁end｜>");
  if (!begin || !hole || !end) throw ApiError(400, "this model's tokenizer has no fill-in-the-middle tokens", "suffix");
  EncodeOptions plain;  // (as a plain completions prompt is encoded, without its BOS)
  plain.add_bos = false;
  std::vector<int32_t> ids;
  if (tokenizer.add_bos() && tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  ids.push_back(*begin);
  for (int32_t id : tokenizer.encode(prefix, plain)) ids.push_back(id);
  ids.push_back(*hole);
  for (int32_t id : tokenizer.encode(suffix, plain)) ids.push_back(id);
  ids.push_back(*end);
  return ids;
}

StartedGeneration start_generation(const GenerationContext& ctx, std::string_view raw_body, bool chat,
                                   std::chrono::steady_clock::time_point arrival) {
  const ServerOptions& options = ctx.options;
  const Tokenizer& tokenizer = ctx.tokenizer;
  const RequestLimits& limits = options.limits;
  const json body = parse_json_body(raw_body, limits);
  std::optional<nlohmann::ordered_json> ordered_body;  // read again, in order, when schemas or tools need it
  const auto ordered = [&]() -> const nlohmann::ordered_json& {
    if (!ordered_body) ordered_body = parse_ordered_body(raw_body);
    return *ordered_body;
  };
  CommonRequest common;
  std::vector<std::vector<int32_t>> prompts;  // the request's prompts (chat: one), each answered n times
  ChatOutputOptions parse_opts;
  bool echo = false;
  std::shared_ptr<const ToolCallPattern> calls;  // the markup of the calls the answer makes, or may make
  int32_t calls_trigger = -1;                     // tool_choice "auto": the token that begins calls
  if (chat) {
    ChatRequest r = parse_chat_request(body, limits);
    bool in_reasoning = false;
    const bool tools = r.tools.is_array() && !r.tools.empty();
    prompts.push_back(chat_prompt(ctx, r, tools ? ordered().at("tools") : nlohmann::ordered_json(), &in_reasoning));
    parse_opts.starts_in_reasoning = in_reasoning;
    parse_opts.parse_tool_calls = r.tool_choice != "none" && r.tools.is_array() && !r.tools.empty();
    if (parse_opts.parse_tool_calls && (r.tool_choice == "required" || r.tool_choice == "function")) {
      if (r.response_format != ResponseFormat::kText)
        throw ApiError(400, "a JSON response_format cannot be combined with a forced tool_choice", "response_format");
      if (in_reasoning)
        throw ApiError(400, "a forced tool_choice cannot be used with a reasoning chat format (the answer starts in <think>)",
                       "tool_choice");
      calls = std::make_shared<const ToolCallPattern>(
          forced_tool_calls(r.tools, ordered().at("tools"), r.tool_choice, r.tool_choice_name, r.parallel_tool_calls));
    } else if (parse_opts.parse_tool_calls && r.response_format == ResponseFormat::kText) {
      // "auto": text, or calls that are held to the markup and their schemas once the model begins them.
      if (const auto begin = tokenizer.find_token(kToolCallsBegin)) {
        calls = std::make_shared<const ToolCallPattern>(
            forced_tool_calls(r.tools, ordered().at("tools"), "required", "", r.parallel_tool_calls));
        calls_trigger = *begin;
      }
    }
    common = std::move(r);
  } else {
    CompletionRequest r = parse_completion_request(body, limits);
    for (const CompletionRequest::Prompt& q : r.prompts) {
      if (q.is_ids)
        for (int32_t id : q.ids)
          if (id >= tokenizer.n_vocab()) throw ApiError(400, cat("token id ", id, " is outside the vocabulary"), "prompt");
      prompts.push_back(q.is_ids ? q.ids : tokenizer.encode(q.text));
    }
    if (!r.suffix.empty()) prompts[0] = fill_in_the_middle(tokenizer, r.prompts[0].text, r.suffix);
    echo = r.echo;
    common = std::move(r);
  }
  const int64_t context = ctx.scheduler.options().max_context;
  std::vector<int64_t> max_tokens;  // per prompt (the default depends on the prompt's length)
  for (const auto& prompt : prompts) {
    const int64_t n_prompt = static_cast<int64_t>(prompt.size());
    if (n_prompt >= context)
      throw ApiError(400, cat("This model's maximum context length is ", context, " tokens. However, your prompt has ", n_prompt, " tokens."),
                     chat ? "messages" : "prompt", "context_length_exceeded");
    max_tokens.push_back(common.max_tokens.value_or(chat ? context - n_prompt : std::min<int64_t>(16, context - n_prompt)));
    if (n_prompt + max_tokens.back() > context)
      throw ApiError(400, cat("This model's maximum context length is ", context, " tokens. However, you requested ", n_prompt + max_tokens.back(),
                              " tokens (", n_prompt, " in the prompt, ", max_tokens.back(), " for the completion)."),
                     "max_tokens", "context_length_exceeded");
  }

  for (const auto& [id, bias] : common.sampling.logit_bias)
    if (id >= tokenizer.n_vocab()) throw ApiError(400, cat("logit_bias: token id ", id, " is outside the vocabulary"), "logit_bias");
  std::shared_ptr<const JsonSchema> schema;  // what the answer follows (JSON mode: any object)
  if (common.response_format == ResponseFormat::kJsonObject) schema = JsonSchema::any_object();
  if (common.response_format == ResponseFormat::kJsonSchema) {
    try {
      schema = JsonSchema::compile(response_schema(ordered()));
    } catch (const Error& e) {
      throw ApiError(400, cat("response_format.json_schema.", e.what()), "response_format");
    }
  }
  // With --scripted-answer the text is not the sampled tokens', so their logprobs would describe other text.
  const bool logprobs = common.top_logprobs >= 0 && ctx.scripted_tokens.empty();

  // One scheduler request per choice (choice i * n + j: prompt i's j-th answer, seeded seed + its index);
  // if one is refused, those already queued are cancelled.
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (int64_t j = 0; j < common.n; ++j) {
      GenerationRequest g;
      g.prompt = prompts[i];
      g.sampling = common.sampling;
      g.sampling.seed = common.seed_given ? common.sampling.seed + static_cast<uint64_t>(streams.size())
                                          : std::random_device{}() * 0x100000001ull ^ std::random_device{}();
      g.top_logprobs = logprobs ? common.top_logprobs : -1;
      g.prompt_logprobs = logprobs && echo;
      g.max_tokens = max_tokens[i];
      g.constraint = answer_constraint(ctx.constraint_vocab, schema, parse_opts.starts_in_reasoning, calls, calls_trigger);
      if (!common.ignore_eos) g.stop_tokens = options.stop_token_ids;
      SubmitResult sub = ctx.scheduler.submit(std::move(g));
      if (sub.status != SubmitStatus::kOk) {
        for (auto& s : streams) s->cancel();
        throw refusal(sub, ctx.metrics);
      }
      streams.push_back(sub.stream);
    }
  }

  GenerationInfo info;
  info.chat = chat;
  info.id = random_id(chat ? "chatcmpl-" : "cmpl-");
  info.created = unix_now();
  info.model = common.model.empty() ? options.model_name : common.model;
  info.include_usage = common.stream && common.include_usage;
  info.arrival = arrival;
  info.scripted_tokens = ctx.scripted_tokens;
  info.echo = echo;
  std::vector<std::unique_ptr<Generation>> choices;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const EchoText echoed = echo ? echo_text(tokenizer, prompts[i]) : EchoText{};
    info.echo_text = echoed.text;
    info.prompt_tokens = static_cast<int64_t>(prompts[i].size());
    for (int64_t j = 0; j < common.n; ++j) {
      info.index = static_cast<int>(choices.size());
      info.counts_prompt = j == 0;  // usage counts each prompt once
      std::unique_ptr<LogprobTrail> trail;
      if (logprobs) {
        trail = std::make_unique<LogprobTrail>(tokenizer, chat);
        if (echo) trail->set_prompt(prompts[i], echoed.starts, echoed.text);
      }
      choices.push_back(std::make_unique<Generation>(info, streams[choices.size()],
                                                     std::make_unique<TextOutput>(tokenizer, common.stop, chat, parse_opts),
                                                     &ctx.metrics, std::move(trail)));
    }
  }
  StartedGeneration started;
  started.group = std::make_shared<GenerationGroup>(std::move(choices));
  started.stream = common.stream;
  started.include_usage = info.include_usage;
  return started;
}

}  // namespace dsinfer::server
