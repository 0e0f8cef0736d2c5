// Ollama request bodies as chat / text completions bodies (server/ollama_api.h).

#include "server/body_fields.h"
#include "server/ollama_api.h"
#include "util/error.h"

namespace dsinfer::server {
namespace {

using json = nlohmann::ordered_json;

// A message's content: Ollama's is a string; images are not for this model.
std::string content_of(const json& m, const std::string& w) {
  if (const json* images = body_field(m, "images"); images && !(images->is_array() && images->empty()))
    bad_field(w + ".images", cat(w, ".images: this model reads text only"));
  return string_field(m, "content", w, false);
}

void add_message(json& out, const json& m, size_t i, int& call_counter, std::vector<std::string>& open_calls) {
  const std::string w = cat("messages[", i, "]");
  if (!m.is_object()) bad_field(w, cat(w, " must be an object"));
  const std::string role = string_field(m, "role", w);
  if (role == "system" || role == "user") {
    out.push_back({{"role", role}, {"content", content_of(m, w)}});
  } else if (role == "assistant") {
    json a = {{"role", "assistant"}, {"content", content_of(m, w)}};  // `thinking` of earlier turns is left out
    if (const json* calls = body_field(m, "tool_calls")) {
      if (!calls->is_array()) bad_field(w + ".tool_calls", cat(w, ".tool_calls must be an array"));
      json chat_calls = json::array();
      open_calls.clear();
      for (size_t j = 0; j < calls->size(); ++j) {
        const std::string cw = cat(w, ".tool_calls[", j, "]");
        const json* fn = (*calls)[j].is_object() ? body_field((*calls)[j], "function") : nullptr;
        if (!fn || !fn->is_object()) bad_field(cw + ".function", cat(cw, ".function must be an object"));
        const json* args = body_field(*fn, "arguments");
        if (args && !args->is_object()) bad_field(cw + ".function.arguments", cat(cw, ".function.arguments must be an object"));
        const std::string id = cat("call_", call_counter++);
        open_calls.push_back(id);
        chat_calls.push_back({{"id", id}, {"type", "function"},
                              {"function", {{"name", string_field(*fn, "name", cw + ".function")},
                                            {"arguments", args ? args->dump() : "{}"}}}});
      }
      if (!chat_calls.empty()) a["tool_calls"] = std::move(chat_calls);
    }
    out.push_back(std::move(a));
  } else if (role == "tool") {
    // Ollama's tool results carry no call id: they answer the last assistant turn's calls in order.
    const size_t k = static_cast<size_t>(std::count_if(out.rbegin(), std::find_if(out.rbegin(), out.rend(), [](const json& x) {
                                                         return x["role"] == "assistant";
                                                       }),
                                                       [](const json& x) { return x["role"] == "tool"; }));
    const std::string id = k < open_calls.size() ? open_calls[k] : cat("call_", call_counter++);
    out.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", content_of(m, w)}});
  } else {
    bad_field(w + ".role", cat(w, ".role must be system, user, assistant or tool; got '", role, "'"));
  }
}

// Ollama's options as chat fields (the ones that shape the answer); the runner's own are ignored.
void add_options(json& chat, const json& body, const RequestLimits& limits) {
  const json* o = body_field(body, "options");
  if (!o) return;
  if (!o->is_object()) bad_field("options", "'options' must be an object");
  for (const auto& [from, to] : std::initializer_list<std::pair<const char*, const char*>>{
           {"temperature", "temperature"}, {"top_p", "top_p"}, {"top_k", "top_k"}, {"min_p", "min_p"}, {"seed", "seed"},
           {"repeat_penalty", "repetition_penalty"}, {"presence_penalty", "presence_penalty"},
           {"frequency_penalty", "frequency_penalty"}}) {
    if (const json* v = body_field(*o, from)) {
      if (!v->is_number()) bad_field(cat("options.", from), cat("options.", from, " must be a number"));
      chat[to] = *v;
    }
  }
  if (const json* n = body_field(*o, "num_predict")) {
    if (!n->is_number_integer()) bad_field("options.num_predict", "options.num_predict must be an integer");
    const int64_t v = n->get<int64_t>();
    if (v == 0 || v > limits.max_tokens || v < -2)
      bad_field("options.num_predict", cat("options.num_predict must be -1 (no limit) or in [1, ", limits.max_tokens, "]"));
    if (v > 0) chat["max_tokens"] = v;  // -1 / -2: until the context is full
  }
  if (const json* stop = body_field(*o, "stop")) {
    if (!stop->is_array() && !stop->is_string()) bad_field("options.stop", "options.stop must be a list of strings");
    chat["stop"] = *stop;
  }
}

}  // namespace

OllamaRequest parse_ollama_request(std::string_view raw, const RequestLimits& limits, bool generate) {
  parse_json_body(raw, limits);  // size, depth, syntax, an object
  const json body = parse_ordered_body(raw);
  OllamaRequest r;
  r.generate = generate;
  json chat = json::object();
  if (const json* m = body_field(body, "model")) {
    if (!m->is_string()) bad_field("model", "'model' must be a string");
    r.model = m->get<std::string>();
    chat["model"] = *m;
  }
  if (generate) {
    for (const char* unsupported : {"suffix", "template", "context"})
      if (const json* v = body_field(body, unsupported); v && !(v->is_string() && v->get<std::string>().empty()) &&
                                                         !(v->is_array() && v->empty()))
        bad_field(unsupported, cat("'", unsupported, "' is not supported by this server"));
    if (const json* images = body_field(body, "images"); images && !(images->is_array() && images->empty()))
      bad_field("images", "'images': this model reads text only");
    const std::string prompt = string_field(body, "prompt", "body", false);
    if (bool_field(body, "raw", false)) {  // the prompt is the model's input as it is
      r.chat = false;
      chat["prompt"] = prompt;
    } else {
      json messages = json::array();
      const std::string system = string_field(body, "system", "body", false);
      if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
      messages.push_back({{"role", "user"}, {"content", prompt}});
      chat["messages"] = std::move(messages);
    }
  } else {
    const json* msgs = body_field(body, "messages");
    if (!msgs || !msgs->is_array() || msgs->empty()) bad_field("messages", "'messages' must be a non-empty array");
    if (static_cast<int64_t>(msgs->size()) > limits.max_messages)
      bad_field("messages", cat("at most ", limits.max_messages, " messages are allowed"));
    json messages = json::array();
    int call_counter = 0;
    std::vector<std::string> open_calls;
    for (size_t i = 0; i < msgs->size(); ++i) add_message(messages, (*msgs)[i], i, call_counter, open_calls);
    chat["messages"] = std::move(messages);
    if (json tools = chat_tools_of(body, limits.max_tools, [](const json& t, size_t) { return t; }); !tools.is_null())
      chat["tools"] = std::move(tools);
  }
  r.stream = bool_field(body, "stream", true);
  set_chat_stream(chat, r.stream);
  add_options(chat, body, limits);
  if (!r.chat && (body_field(body, "format") || body_field(body, "think")))
    bad_field("raw", "a 'raw' prompt takes no 'format' or 'think' (it is the model's input as it is)");
  if (const json* format = body_field(body, "format")) {
    if (*format == "json") chat["response_format"] = {{"type", "json_object"}};
    else if (format->is_object())
      chat["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "format"}, {"strict", true}, {"schema", *format}}}};
    else if (!(format->is_string() && format->get<std::string>().empty()))
      bad_field("format", "'format' must be \"json\" or a JSON Schema object");
  }
  if (const json* think = body_field(body, "think")) {
    // A hybrid model (DeepSeek-V3.1) thinks when asked; "low" / "medium" / "high" ask too.
    if (!think->is_boolean() && !(think->is_string() && (*think == "low" || *think == "medium" || *think == "high")))
      bad_field("think", "'think' must be true, false, \"low\", \"medium\" or \"high\"");
    chat["thinking"] = {{"type", *think == false ? "disabled" : "enabled"}};
  }
  if (const json* k = body_field(body, "keep_alive"); k && !k->is_string() && !k->is_number())
    bad_field("keep_alive", "'keep_alive' must be a duration string or a number of seconds");
  r.body = chat.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

ApiError ollama_error(const ApiError& e) {
  static const std::pair<const char*, const char*> kRenamed[] = {
      {"max_tokens", "options.num_predict"}, {"stop", "options.stop"}, {"response_format", "format"},
      {"repetition_penalty", "options.repeat_penalty"}, {"temperature", "options.temperature"}, {"top_p", "options.top_p"},
      {"top_k", "options.top_k"}, {"min_p", "options.min_p"}, {"seed", "options.seed"}, {"thinking", "think"}};
  ApiError r = e;
  for (const auto& [from, to] : kRenamed)
    if (r.param == from) r.param = to;
  return r;
}

json ollama_error_json(const ApiError& e) {
  std::string message = e.what();
  if (!e.param.empty() && message.find(e.param) == std::string::npos) message = e.param + ": " + message;
  return {{"error", message}};
}

}  // namespace dsinfer::server
