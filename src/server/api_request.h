#pragma once
// OpenAI request bodies -> plain structs, with every field type- and range-checked. Anything malformed
// throws ApiError (HTTP status + an OpenAI-style error object naming the parameter); these functions are
// the server's whole attack surface for request content, so they are fuzzed in tests/server/.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"

namespace dsinfer::server {

// {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError : std::runtime_error {
  int status;
  std::string type;   // "invalid_request_error", "authentication_error", "rate_limit_error", "server_error", ...
  std::string param;  // the offending field, "" = null
  std::string code;   // "" = null
  double retry_after = 0;  // seconds; > 0 adds a Retry-After header (429, 503)

  ApiError(int status_, std::string message, std::string param_ = {}, std::string code_ = {},
           std::string type_ = "invalid_request_error")
      : std::runtime_error(std::move(message)), status(status_), type(std::move(type_)), param(std::move(param_)),
        code(std::move(code_)) {}
  nlohmann::json to_json() const;
};

struct RequestLimits {
  size_t max_body_bytes = 8u << 20;
  int64_t max_messages = 2048;
  int64_t max_tokens = 1 << 20;   // upper bound for max_tokens (the context bounds it further)
  int64_t max_stop = 4;            // OpenAI allows up to 4 stop sequences
  size_t max_stop_bytes = 256;
  int64_t max_tools = 256;
  int64_t max_logit_bias = 1024;   // tokens in logit_bias
  int64_t max_n = 16;              // choices per prompt
  int64_t max_choices = 64;        // choices per request (prompts x n)
  int max_json_depth = 64;
};

// response_format: {"type": "text"}, {"type": "json_object"} (the answer is one JSON object) or
// {"type": "json_schema", "json_schema": {"name", "schema", "strict"}} (one that follows the schema, which
// response_schema() gives; it is held to whether or not "strict" is set).
enum class ResponseFormat { kText, kJsonObject, kJsonSchema };

// What /v1/chat/completions and /v1/completions have in common.
struct CommonRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage
  SamplingParams sampling;             // temperature defaults to 1 as in the OpenAI API
  bool seed_given = false;
  std::optional<int64_t> max_tokens;   // max_tokens or max_completion_tokens
  std::string zero_tokens_param;       // the one of them that was 0 (allowed with echo only)
  std::vector<std::string> stop;       // stop sequences, matched on the generated text
  bool ignore_eos = false;             // extension (as llama-server): generate past end-of-sequence
  ResponseFormat response_format = ResponseFormat::kText;
  int64_t n = 1;                       // choices, each sampled on its own (seed + i when a seed is given)
  int top_logprobs = -1;               // >= 0: report each token's logprob and this many alternatives
                                       // (chat: logprobs + top_logprobs; completions: logprobs = n)
};

struct ChatRequest : CommonRequest {
  std::vector<ChatMessage> messages;
  nlohmann::json tools;              // array of {"type": "function", "function": {"name", ...}} or null
  std::string tool_choice = "auto";  // "auto", "none", "required" or "function" (a named function)
  std::string tool_choice_name;      // the function's name when tool_choice is "function"
  bool parallel_tool_calls = true;   // false: tool_choice "required" forces exactly one call
  // DeepSeek-V3.1's thinking switch: chat_template_kwargs {"thinking" | "enable_thinking": bool} (as vLLM
  // and SGLang take it), else {"thinking": {"type": "enabled" | "disabled"}} (DeepSeek's API), else
  // reasoning_effort (anything above "minimal" thinks). Other chat formats ignore it.
  bool thinking = false;
  // The answer continues the last message, an assistant's: DeepSeek's chat prefix completion ("prefix":
  // true on it) or vLLM's continue_final_message.
  bool continue_final = false;
};

struct CompletionRequest : CommonRequest {
  struct Prompt {
    std::string text;              // a text prompt, or
    std::vector<int32_t> ids;      // token ids (when is_ids)
    bool is_ids = false;
  };
  std::vector<Prompt> prompts;     // one or more (a list of strings or of token-id lists): n choices each
  bool echo = false;               // the answer starts with the prompt (and its logprobs, with logprobs)
  std::string suffix;              // fill in the middle: the text after the completion ("" = none)
};

// Parses a JSON body; ApiError 400 when it is not a JSON object (too deep, malformed, ...).
nlohmann::json parse_json_body(std::string_view body, const RequestLimits& limits);
// The body again with its objects' keys in the client's order (nlohmann::json sorts them), for what is
// generated in that order: a json_schema's properties, a forced tool's parameters. Only for a body that
// parse_json_body accepted.
nlohmann::ordered_json parse_ordered_body(std::string_view body);
// The json_schema of a body whose response_format parsed as kJsonSchema; {"type": "object"} if the
// json_schema has no "schema".
nlohmann::ordered_json response_schema(const nlohmann::ordered_json& body);

ChatRequest parse_chat_request(const nlohmann::json& body, const RequestLimits& limits);

// llama-server's POST /tokenize {"content", "add_special" = false, "with_pieces" = false} and
// POST /detokenize {"tokens": [id, ...]} (ids checked against the vocabulary's n_vocab).
struct TokenizeRequest {
  std::string content;
  bool add_special = false;  // BOS as the model says
  bool with_pieces = false;  // [{id, piece}] instead of [id]
};
TokenizeRequest parse_tokenize_request(const nlohmann::json& body);
std::vector<int32_t> parse_detokenize_request(const nlohmann::json& body, int32_t n_vocab);
CompletionRequest parse_completion_request(const nlohmann::json& body, const RequestLimits& limits);

// "Bearer KEY" against the configured key, in time independent of where they differ.
bool authorization_matches(std::string_view header, std::string_view api_key);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace dsinfer::server
