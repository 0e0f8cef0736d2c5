#include "server/messages_request.h"

#include "server/body_fields.h"
#include "util/error.h"

namespace dsinfer::server {
namespace {

using json = nlohmann::ordered_json;

// The text of a string or of a list of text blocks (system prompts, tool results).
std::string text_of(const json& content, const std::string& where) { return text_of_parts(content, where, {"text"}, "\n"); }

// One Messages message as chat messages: a user turn's tool results become tool messages (before its
// text), an assistant turn's tool_use blocks its tool calls.
void add_message(json& out, const json& m, size_t i) {
  const std::string w = cat("messages[", i, "]");
  if (!m.is_object()) bad_field(w, cat(w, " must be an object"));
  const std::string role = string_field(m, "role", w);
  if (role != "user" && role != "assistant") bad_field(w + ".role", cat(w, ".role must be \"user\" or \"assistant\"; got '", role, "'"));
  const json* content = body_field(m, "content");
  if (!content) bad_field(w + ".content", cat(w, ".content is required"));
  if (content->is_string()) {
    out.push_back({{"role", role}, {"content", *content}});
    return;
  }
  if (!content->is_array()) bad_field(w + ".content", cat(w, ".content must be a string or a list of content blocks"));
  std::string text;
  json calls = json::array();
  for (size_t j = 0; j < content->size(); ++j) {
    const json& b = (*content)[j];
    const std::string bw = cat(w, ".content[", j, "]");
    if (!b.is_object()) bad_field(bw, cat(bw, " must be an object"));
    const std::string type = string_field(b, "type", bw);
    if (type == "text") {
      text += string_field(b, "text", bw);
    } else if (type == "tool_use" && role == "assistant") {
      const json* input = body_field(b, "input");
      if (input && !input->is_object()) bad_field(bw + ".input", cat(bw, ".input must be an object"));
      calls.push_back({{"id", string_field(b, "id", bw)}, {"type", "function"},
                       {"function", {{"name", string_field(b, "name", bw)}, {"arguments", input ? input->dump() : "{}"}}}});
    } else if (type == "tool_result" && role == "user") {
      const json* c = body_field(b, "content");
      out.push_back({{"role", "tool"}, {"tool_call_id", string_field(b, "tool_use_id", bw)},
                     {"content", c ? text_of(*c, bw + ".content") : ""}});
    } else if ((type == "thinking" || type == "redacted_thinking") && role == "assistant") {
      // Earlier turns' reasoning: the DeepSeek chat templates leave it out of the prompt.
    } else {
      bad_field(bw + ".type", cat(bw, ".type '", type, "' is not supported in a ", role, " message (text, ",
                            role == "user" ? "tool_result" : "tool_use, thinking", "; this model reads text only)"));
    }
  }
  if (role == "assistant") {
    json a = {{"role", "assistant"}, {"content", text.empty() && !calls.empty() ? json(nullptr) : json(text)}};
    if (!calls.empty()) a["tool_calls"] = std::move(calls);
    out.push_back(std::move(a));
  } else if (!text.empty() || out.empty() || out.back()["role"] != "tool") {
    out.push_back({{"role", "user"}, {"content", text}});
  }
}

json chat_tool(const json& tool, size_t i) {
  const std::string w = cat("tools[", i, "]");
  if (!tool.is_object()) bad_field(w, cat(w, " must be an object"));
  if (const json* type = body_field(tool, "type"); type && *type != "custom")
    bad_field(w + ".type", cat(w, ".type ", type->dump(), " is not supported: dsinfer calls custom (client) tools only"));
  json fn = {{"name", string_field(tool, "name", w)}};
  if (const json* d = body_field(tool, "description")) {
    if (!d->is_string()) bad_field(w + ".description", cat(w, ".description must be a string"));
    fn["description"] = *d;
  }
  const json* schema = body_field(tool, "input_schema");
  if (!schema || !schema->is_object()) bad_field(w + ".input_schema", cat(w, ".input_schema must be a JSON Schema object"));
  fn["parameters"] = *schema;
  return {{"type", "function"}, {"function", std::move(fn)}};
}

}  // namespace

MessagesRequest parse_messages_request(std::string_view raw, const RequestLimits& limits, bool count_tokens) {
  parse_json_body(raw, limits);  // size, depth, syntax, an object
  const json body = parse_ordered_body(raw);
  MessagesRequest r;
  json chat = json::object();

  json messages = json::array();
  if (const json* system = body_field(body, "system")) messages.push_back({{"role", "system"}, {"content", text_of(*system, "system")}});
  const json* msgs = body_field(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty()) bad_field("messages", "'messages' must be a non-empty array");
  if (static_cast<int64_t>(msgs->size()) > limits.max_messages)
    bad_field("messages", cat("at most ", limits.max_messages, " messages are allowed"));
  for (size_t i = 0; i < msgs->size(); ++i) add_message(messages, (*msgs)[i], i);
  chat["messages"] = std::move(messages);

  if (const json* m = body_field(body, "model")) {
    if (!m->is_string()) bad_field("model", "'model' must be a string");
    r.model = m->get<std::string>();
    chat["model"] = *m;
  }
  if (!count_tokens) {
    const json* mt = body_field(body, "max_tokens");
    if (!mt) bad_field("max_tokens", "'max_tokens' is required");
    if (!mt->is_number_integer() || mt->get<int64_t>() < 1 || mt->get<int64_t>() > limits.max_tokens)
      bad_field("max_tokens", cat("'max_tokens' must be an integer in [1, ", limits.max_tokens, "]"));
    chat["max_tokens"] = *mt;
    r.stream = bool_field(body, "stream", false);
    set_chat_stream(chat, r.stream);
    // Sampling fields (older clients send temperature / top_p / top_k) and the chat endpoint's extensions.
    for (const char* name : {"temperature", "top_p", "top_k", "seed", "min_p", "ignore_eos", "logit_bias", "presence_penalty",
                             "frequency_penalty", "repetition_penalty"})
      if (const json* v = body_field(body, name)) chat[name] = *v;
    if (const json* stops = body_field(body, "stop_sequences")) {
      if (!stops->is_array()) bad_field("stop_sequences", "'stop_sequences' must be an array of strings");
      chat["stop"] = *stops;
    }
  }

  if (json tools = chat_tools_of(body, limits.max_tools, chat_tool); !tools.is_null()) chat["tools"] = std::move(tools);
  if (const json* tc = body_field(body, "tool_choice")) {
    const json type = tc->is_object() ? tc->value("type", json()) : json();
    if (type == "auto" || type == "none") {
      chat["tool_choice"] = type;
    } else if (type == "any") {
      chat["tool_choice"] = "required";
    } else if (type == "tool") {
      chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", string_field(*tc, "name", "tool_choice")}}}};
    } else {
      bad_field("tool_choice", "'tool_choice' must be {\"type\": \"auto\" | \"any\" | \"tool\" | \"none\"}");
    }
    if (const json* d = body_field(*tc, "disable_parallel_tool_use")) {
      if (!d->is_boolean()) bad_field("tool_choice.disable_parallel_tool_use", "tool_choice.disable_parallel_tool_use must be a boolean");
      chat["parallel_tool_calls"] = !d->get<bool>();
    }
  }
  if (const json* oc = body_field(body, "output_config")) {
    if (!oc->is_object()) bad_field("output_config", "'output_config' must be an object");
    if (const json* format = body_field(*oc, "format")) {
      if (!format->is_object() || format->value("type", json()) != "json_schema")
        bad_field("output_config.format", "output_config.format must be {\"type\": \"json_schema\", \"schema\": {...}}");
      const json* schema = body_field(*format, "schema");
      if (!schema || !schema->is_object()) bad_field("output_config.format.schema", "output_config.format.schema must be a JSON Schema object");
      chat["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "output"}, {"strict", true}, {"schema", *schema}}}};
    }
  }
  if (const json* th = body_field(body, "thinking")) {
    // A hybrid model (DeepSeek-V3.1) thinks when asked ("enabled"; "adaptive" leaves it to the model: it thinks).
    const json type = th->is_object() ? th->value("type", json()) : json();
    if (type != "enabled" && type != "disabled" && type != "adaptive")
      bad_field("thinking", "'thinking' must be {\"type\": \"enabled\" | \"adaptive\" | \"disabled\"}");
    chat["thinking"] = {{"type", type == "disabled" ? "disabled" : "enabled"}};
  }
  if (const json* mcp = body_field(body, "mcp_servers"); mcp && !(mcp->is_array() && mcp->empty()))
    bad_field("mcp_servers", "'mcp_servers' is not supported by this server");
  r.chat_body = chat.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

ApiError messages_error(const ApiError& e) {
  static const std::pair<const char*, const char*> kRenamed[] = {
      {"stop", "stop_sequences"}, {"response_format", "output_config.format"}, {"max_completion_tokens", "max_tokens"},
      {"parallel_tool_calls", "tool_choice.disable_parallel_tool_use"}};
  ApiError r = e;
  for (const auto& [from, to] : kRenamed)
    if (r.param == from) r.param = to;
  return r;
}

json anthropic_error_json(const ApiError& e) {
  const char* type = "api_error";
  switch (e.status) {
    case 400: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 413: type = "request_too_large"; break;
    case 429: type = "rate_limit_error"; break;
    case 503: type = "overloaded_error"; break;
    default: type = e.status >= 400 && e.status < 500 ? "invalid_request_error" : "api_error";
  }
  // Anthropic's error object has no "param": the message names the field when it does not already.
  std::string message = e.what();
  if (!e.param.empty() && message.find(e.param) == std::string::npos) message = e.param + ": " + message;
  return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
}

}  // namespace dsinfer::server
