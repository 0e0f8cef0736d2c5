#include "server/api_request.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace dsinfer::server {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message, std::string code = {}) {
  throw ApiError(400, message, param, std::move(code));
}

// Nesting depth of a JSON text (brackets outside strings), checked before parsing so that a body of a
// million '[' is refused without building it.
int json_depth(std::string_view s) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

bool get_bool(const json& body, const char* name, bool def) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_boolean()) bad(name, cat("'", name, "' must be a boolean"));
  return v->get<bool>();
}

double get_number(const json& body, const char* name, double def, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return def;
  if (!v->is_number()) bad(name, cat("'", name, "' must be a number"));
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) bad(name, cat("'", name, "' must be in [", lo, ", ", hi, "], got ", v->dump()));
  return x;
}

std::optional<int64_t> get_int(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo))) bad(name, cat("'", name, "' must be in [", lo, ", ", hi, "], got ", u));
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) bad(name, cat("'", name, "' must be an integer"));
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) bad(name, cat("'", name, "' must be in [", lo, ", ", hi, "], got ", x));
  return x;
}

void parse_common(const json& body, const RequestLimits& limits, CommonRequest& r) {
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) bad("model", "'model' must be a string");
    r.model = m->get<std::string>();
  }
  r.stream = get_bool(body, "stream", false);
  r.ignore_eos = get_bool(body, "ignore_eos", false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
    r.include_usage = get_bool(*so, "include_usage", false);
  }
  r.n = get_int(body, "n", 1, limits.max_n).value_or(1);
  if (auto n = get_int(body, "best_of", 1, 1); n && *n != 1) bad("best_of", "only best_of = 1 is supported");
  r.sampling.temperature = static_cast<float>(get_number(body, "temperature", 1.0, 0.0, 2.0));
  r.sampling.top_p = static_cast<float>(get_number(body, "top_p", 1.0, 0.0, 1.0));
  if (r.sampling.top_p <= 0.0f) bad("top_p", "'top_p' must be greater than 0");
  // Extensions most local servers accept.
  r.sampling.top_k = get_int(body, "top_k", 0, 1 << 30).value_or(0);
  r.sampling.min_p = static_cast<float>(get_number(body, "min_p", 0.0, 0.0, 1.0));
  r.sampling.repetition_penalty = static_cast<float>(get_number(body, "repetition_penalty", 1.0, 0.01, 100.0));
  r.sampling.presence_penalty = static_cast<float>(get_number(body, "presence_penalty", 0.0, -2.0, 2.0));
  r.sampling.frequency_penalty = static_cast<float>(get_number(body, "frequency_penalty", 0.0, -2.0, 2.0));
  if (const json* lb = field(body, "logit_bias")) {
    if (!lb->is_object()) bad("logit_bias", "'logit_bias' must be an object mapping token ids to biases");
    if (static_cast<int64_t>(lb->size()) > limits.max_logit_bias)
      bad("logit_bias", cat("'logit_bias' may hold at most ", limits.max_logit_bias, " tokens"));
    for (const auto& [key, value] : lb->items()) {
      int32_t id = -1;
      const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
      if (ec != std::errc() || end != key.data() + key.size() || id < 0)
        bad("logit_bias", cat("'logit_bias' keys must be token ids (non-negative integers), got '", key, "'"));
      if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < -100 || value.get<double>() > 100)
        bad("logit_bias", cat("'logit_bias' of token ", id, " must be a number in [-100, 100]"));
      r.sampling.logit_bias.emplace_back(id, static_cast<float>(value.get<double>()));
    }
  }
  if (auto seed = get_int(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    r.seed_given = true;
    r.sampling.seed = static_cast<uint64_t>(*seed);
  }
  // 0 only scores an echoed prompt (completions); the endpoints check that.
  const char* mt_name = "max_completion_tokens";
  auto mt = get_int(body, mt_name, 0, limits.max_tokens);
  if (!mt) mt = get_int(body, mt_name = "max_tokens", 0, limits.max_tokens);
  if (mt && *mt == 0) r.zero_tokens_param = mt_name;
  r.max_tokens = mt;
  if (const json* s = field(body, "stop")) {
    if (s->is_string()) {
      r.stop.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      if (static_cast<int64_t>(s->size()) > limits.max_stop) bad("stop", cat("at most ", limits.max_stop, " stop sequences"));
      for (const json& x : *s) {
        if (!x.is_string()) bad("stop", "'stop' must be a string or an array of strings");
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or an array of strings");
    }
    for (const auto& x : r.stop) {
      if (x.empty()) bad("stop", "stop sequences must not be empty");
      if (x.size() > limits.max_stop_bytes) bad("stop", cat("stop sequences are limited to ", limits.max_stop_bytes, " bytes"));
    }
  }
  if (const json* rf = field(body, "response_format")) {
    const json type = rf->is_object() ? rf->value("type", json()) : json();
    if (type == "json_object") {
      r.response_format = ResponseFormat::kJsonObject;
    } else if (type == "json_schema") {
      r.response_format = ResponseFormat::kJsonSchema;
      const json* js = field(*rf, "json_schema");
      if (!js || !js->is_object()) bad("response_format", "response_format json_schema needs a 'json_schema' object");
      const json* name = field(*js, "name");
      if (!name || !name->is_string() || name->get_ref<const std::string&>().empty() || name->get_ref<const std::string&>().size() > 64 ||
          name->get<std::string>().find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
        bad("response_format", "response_format.json_schema.name must be 1 to 64 letters, digits, '_' or '-'");
      if (const json* s = field(*js, "schema"); s && !s->is_object())
        bad("response_format", "response_format.json_schema.schema must be a JSON Schema object");
      if (const json* s = field(*js, "strict"); s && !s->is_boolean())
        bad("response_format", "response_format.json_schema.strict must be a boolean");
    } else if (type != "text") {
      bad("response_format", "response_format type must be \"text\", \"json_object\" or \"json_schema\"");
    }
  }
}

}  // namespace

json ApiError::to_json() const {
  json e = {{"message", what()}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return json{{"error", e}};
}

json parse_json_body(std::string_view body, const RequestLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    throw ApiError(413, cat("the request body is larger than ", limits.max_body_bytes, " bytes"));
  if (json_depth(body) > limits.max_json_depth)
    bad("", cat("the JSON body is nested deeper than ", limits.max_json_depth, " levels"));
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("", "the request body is not valid JSON");
  if (!j.is_object()) bad("", "the request body must be a JSON object");
  return j;
}

nlohmann::ordered_json parse_ordered_body(std::string_view body) { return nlohmann::ordered_json::parse(body); }

nlohmann::ordered_json response_schema(const nlohmann::ordered_json& body) {
  const auto& js = body.at("response_format").at("json_schema");
  const auto s = js.find("schema");
  return s != js.end() && !s->is_null() ? *s : nlohmann::ordered_json{{"type", "object"}};
}

ChatRequest parse_chat_request(const json& body, const RequestLimits& limits) {
  ChatRequest r;
  parse_common(body, limits, r);
  if (!r.zero_tokens_param.empty()) bad(r.zero_tokens_param, cat("'", r.zero_tokens_param, "' must be >= 1"));
  const bool logprobs = get_bool(body, "logprobs", false);
  const auto top = get_int(body, "top_logprobs", 0, kMaxTopLogprobs);
  if (top && !logprobs) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  if (logprobs) r.top_logprobs = static_cast<int>(top.value_or(0));
  const json* msgs = field(body, "messages");
  if (!msgs) bad("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty()) bad("messages", "'messages' must be a non-empty array");
  if (static_cast<int64_t>(msgs->size()) > limits.max_messages)
    bad("messages", cat("at most ", limits.max_messages, " messages are allowed"));
  json normalized = *msgs;
  for (size_t i = 0; i < normalized.size(); ++i) {
    json& m = normalized[i];
    if (!m.is_object()) bad("messages", cat("messages[", i, "] must be an object"));
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) bad("messages", cat("messages[", i, "].role must be a string"));
    const std::string rs = role->get<std::string>();
    if (rs == "developer") *role = "system";  // the newer OpenAI name of the system role
    else if (rs != "system" && rs != "user" && rs != "assistant" && rs != "tool")
      bad("messages", cat("messages[", i, "].role must be one of system, developer, user, assistant, tool; got '", rs, "'"));
    if ((rs == "user" || rs == "system" || rs == "developer" || rs == "tool") &&
        (!m.contains("content") || m["content"].is_null()))
      bad("messages", cat("messages[", i, "].content is required for role '", rs, "'"));
  }
  try {
    r.messages = chat_messages_from_json(normalized);
  } catch (const Error& e) {
    bad("messages", e.what());
  } catch (const json::exception& e) {
    bad("messages", cat("messages: ", e.what()));
  }
  if (get_bool(body, "continue_final_message", false)) {
    if (r.messages.back().role != "assistant") bad("continue_final_message", "'continue_final_message' needs an assistant message last");
    r.messages.back().prefix = true;
  }
  for (size_t i = 0; i < r.messages.size(); ++i) {
    const ChatMessage& m = r.messages[i];
    if (!m.prefix) continue;
    if (i + 1 != r.messages.size() || m.role != "assistant" || !m.content || m.tool_calls)
      bad("messages", cat("messages[", i, "].prefix: only the last message, an assistant's text without tool calls, can be "
                          "the prefix the answer continues"));
    r.continue_final = true;
  }
  if (const json* tools = field(body, "tools")) {
    if (!tools->is_array()) bad("tools", "'tools' must be an array");
    if (static_cast<int64_t>(tools->size()) > limits.max_tools) bad("tools", cat("at most ", limits.max_tools, " tools"));
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const json* fn = t.is_object() ? field(t, "function") : nullptr;
      if (!t.is_object() || t.value("type", json()) != "function" || !fn || !fn->is_object() || !fn->contains("name") ||
          !(*fn)["name"].is_string() || (*fn)["name"].get<std::string>().empty())
        bad("tools", cat("tools[", i, "] must be {\"type\": \"function\", \"function\": {\"name\": ...}}"));
      if (fn->contains("parameters") && !(*fn)["parameters"].is_object() && !(*fn)["parameters"].is_null())
        bad("tools", cat("tools[", i, "].function.parameters must be an object"));
    }
    r.tools = *tools;
  }
  r.parallel_tool_calls = get_bool(body, "parallel_tool_calls", true);
  if (const json* effort = field(body, "reasoning_effort")) {
    static const char* kEfforts[] = {"none", "minimal", "low", "medium", "high", "xhigh"};
    if (!effort->is_string() || std::none_of(std::begin(kEfforts), std::end(kEfforts), [&](const char* e) { return *effort == e; }))
      bad("reasoning_effort", "'reasoning_effort' must be one of none, minimal, low, medium, high, xhigh");
    r.thinking = *effort != "none" && *effort != "minimal";
  }
  if (const json* th = field(body, "thinking")) {
    const json type = th->is_object() ? th->value("type", json()) : json();
    if (type != "enabled" && type != "disabled") bad("thinking", "'thinking' must be {\"type\": \"enabled\"} or {\"type\": \"disabled\"}");
    r.thinking = type == "enabled";
  }
  if (const json* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (const char* name : {"thinking", "enable_thinking"}) {
      if (const json* v = field(*kw, name)) {
        if (!v->is_boolean()) bad("chat_template_kwargs", cat("chat_template_kwargs.", name, " must be a boolean"));
        r.thinking = v->get<bool>();
      }
    }
  }
  if (const json* tc = field(body, "tool_choice")) {
    if (tc->is_string()) {
      r.tool_choice = tc->get<std::string>();
      if (r.tool_choice != "auto" && r.tool_choice != "none" && r.tool_choice != "required")
        bad("tool_choice", "'tool_choice' must be 'auto', 'none', 'required' or a function");
    } else if (tc->is_object() && tc->value("type", json()) == "function" && tc->contains("function") &&
               (*tc)["function"].is_object() && (*tc)["function"].contains("name") &&
               (*tc)["function"]["name"].is_string()) {
      r.tool_choice = "function";
      r.tool_choice_name = (*tc)["function"]["name"].get<std::string>();
    } else {
      bad("tool_choice", "'tool_choice' must be 'auto', 'none', 'required' or a function");
    }
    if (r.tool_choice != "none" && r.tool_choice != "auto" && (r.tools.is_null() || r.tools.empty()))
      bad("tool_choice", "'tool_choice' needs 'tools'");
    if (r.tool_choice == "function") {
      bool known = false;
      for (const json& t : r.tools) known = known || t["function"]["name"] == r.tool_choice_name;
      if (!known) bad("tool_choice", cat("'tool_choice' names the function '", r.tool_choice_name, "' which is not in 'tools'"));
    }
  }
  return r;
}

CompletionRequest parse_completion_request(const json& body, const RequestLimits& limits) {
  CompletionRequest r;
  parse_common(body, limits, r);
  // The legacy API's logprobs is a count: the sampled token's logprob and that many most likely tokens.
  if (const json* lp = field(body, "logprobs"); lp && !(lp->is_boolean() && !lp->get<bool>()))
    r.top_logprobs = static_cast<int>(*get_int(body, "logprobs", 0, kMaxTopLogprobs));
  r.echo = get_bool(body, "echo", false);
  if (!r.zero_tokens_param.empty() && !r.echo)
    bad(r.zero_tokens_param, cat("'", r.zero_tokens_param, "' must be >= 1 (0 only scores the prompt: with echo)"));
  if (const json* s = field(body, "suffix")) {
    if (!s->is_string()) bad("suffix", "'suffix' must be a string");
    r.suffix = s->get<std::string>();
  }
  const json* p = field(body, "prompt");
  if (!p) bad("prompt", "'prompt' is required");
  auto ids_of = [&](const json& arr) {
    std::vector<int32_t> ids;
    for (const json& x : arr) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > std::numeric_limits<int32_t>::max())
        bad("prompt", "token ids in 'prompt' must be non-negative integers");
      ids.push_back(static_cast<int32_t>(x.get<int64_t>()));
    }
    return ids;
  };
  auto add = [&](CompletionRequest::Prompt q) {
    if (q.is_ids ? q.ids.empty() : q.text.empty()) bad("prompt", "'prompt' must not be empty");
    r.prompts.push_back(std::move(q));
  };
  if (p->is_string()) {
    add({p->get<std::string>(), {}, false});
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
    add({{}, ids_of(*p), true});  // one prompt of token ids
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& x) { return x.is_string(); })) {
    for (const json& x : *p) add({x.get<std::string>(), {}, false});
  } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& x) { return x.is_array(); })) {
    for (const json& x : *p) add({{}, ids_of(x), true});
  } else {
    bad("prompt", "'prompt' must be a string, a list of token ids, or a non-empty list of either");
  }
  if (!r.suffix.empty() && (r.prompts.size() != 1 || r.prompts[0].is_ids))
    bad("suffix", "'suffix' (fill in the middle) needs one text prompt");
  if (!r.suffix.empty() && r.echo) bad("echo", "'echo' cannot be combined with 'suffix'");
  if (static_cast<int64_t>(r.prompts.size()) * r.n > limits.max_choices)
    bad(r.n > 1 ? "n" : "prompt", cat("at most ", limits.max_choices, " choices per request (prompts x n), got ",
                                     static_cast<int64_t>(r.prompts.size()) * r.n));
  return r;
}

TokenizeRequest parse_tokenize_request(const json& body) {
  TokenizeRequest r;
  const json* content = field(body, "content");
  if (!content || !content->is_string()) bad("content", "'content' must be a string");
  r.content = content->get<std::string>();
  r.add_special = get_bool(body, "add_special", false);
  r.with_pieces = get_bool(body, "with_pieces", false);
  return r;
}

std::vector<int32_t> parse_detokenize_request(const json& body, int32_t n_vocab) {
  const json* tokens = field(body, "tokens");
  if (!tokens || !tokens->is_array()) bad("tokens", "'tokens' must be an array of token ids");
  std::vector<int32_t> ids;
  for (const json& t : *tokens) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= n_vocab)
      bad("tokens", cat("'tokens' must hold token ids in [0, ", n_vocab, ")"));
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return ids;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer string is visited whatever the contents, so the time reveals at most the
  // lengths, never the position of the first difference.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

bool authorization_matches(std::string_view header, std::string_view api_key) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() < kBearer.size() || header.substr(0, kBearer.size()) != kBearer) return false;
  return constant_time_equal(header.substr(kBearer.size()), api_key);
}

}  // namespace dsinfer::server
