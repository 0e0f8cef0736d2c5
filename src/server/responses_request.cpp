#include "server/responses_request.h"

#include <cmath>
#include <optional>

#include "server/body_fields.h"
#include "server/generation.h"
#include "util/error.h"

namespace dsinfer::server {
namespace {

using json = nlohmann::ordered_json;

// The text of a message's content: a string, or a list of text parts (input_text, output_text, refusal).
std::string content_text(const json& content, const std::string& where) {
  return text_of_parts(content, where, {"input_text", "output_text", "text", "refusal"}, "");
}

// The assistant message that function calls at this point of the conversation belong to: the last message
// if it is the assistant's (its text, or calls before), else a new one with no text.
json& assistant_for_calls(json& messages) {
  if (messages.empty() || messages.back()["role"] != "assistant")
    messages.push_back({{"role", "assistant"}, {"content", nullptr}});
  json& m = messages.back();
  if (!m.contains("tool_calls")) m["tool_calls"] = json::array();
  return m;
}

json chat_tool(const json& tool, size_t i) {
  const std::string where = cat("tools[", i, "]");
  if (!tool.is_object()) bad_field(where, cat(where, " must be an object"));
  const std::string type = string_field(tool, "type", where, true);
  if (type != "function")
    bad_field(where + ".type", cat(where, ".type '", type, "' is not supported: dsinfer calls function tools only"));
  const std::string name = string_field(tool, "name", where, true);
  if (name.empty()) bad_field(where + ".name", cat(where, ".name must not be empty"));
  json fn = {{"name", name}};
  if (const json* d = body_field(tool, "description")) {
    if (!d->is_string()) bad_field(where + ".description", cat(where, ".description must be a string"));
    fn["description"] = *d;
  }
  if (const json* p = body_field(tool, "parameters")) {
    if (!p->is_object()) bad_field(where + ".parameters", cat(where, ".parameters must be an object"));
    fn["parameters"] = *p;
  }
  if (const json* s = body_field(tool, "strict")) {
    if (!s->is_boolean()) bad_field(where + ".strict", cat(where, ".strict must be a boolean"));
    fn["strict"] = *s;
  }
  return {{"type", "function"}, {"function", std::move(fn)}};
}

json chat_tool_choice(const json& tc) {
  if (tc.is_string()) {
    const std::string s = tc.get<std::string>();
    if (s != "auto" && s != "none" && s != "required") bad_field("tool_choice", "'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": ...}");
    return tc;
  }
  if (tc.is_object() && tc.value("type", json()) == "function" && tc.contains("name") && tc["name"].is_string())
    return {{"type", "function"}, {"function", {{"name", tc["name"]}}}};
  bad_field("tool_choice", "'tool_choice' must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": ...}");
}

// text.format -> response_format ({"type": "text"} needs none).
json chat_response_format(const json& format) {
  if (!format.is_object()) bad_field("text.format", "text.format must be an object");
  const std::string type = string_field(format, "type", "text.format", true);  // (param text.format.type)
  if (type == "text") return nullptr;
  if (type == "json_object") return {{"type", "json_object"}};
  if (type != "json_schema") bad_field("text.format.type", "text.format.type must be \"text\", \"json_object\" or \"json_schema\"");
  json js = json::object();
  for (const char* k : {"name", "description", "schema", "strict"})
    if (const json* v = body_field(format, k)) js[k] = *v;
  if (!js.contains("name")) bad_field("text.format.name", "text.format.name is required for a json_schema format");
  return {{"type", "json_schema"}, {"json_schema", std::move(js)}};
}

}  // namespace

// The chat messages of a conversation: the instructions as the system message, then its items'.
json chat_messages(const json& instructions, const json& conversation) {
  json messages = json::array();
  if (instructions.is_string()) messages.push_back({{"role", "system"}, {"content", instructions}});
  for (json& m : chat_messages_from_items(conversation, "input")) messages.push_back(std::move(m));
  return messages;
}

json chat_messages_from_items(const json& items, const std::string& where) {
  json messages = json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    const json& item = items[i];
    const std::string w = cat(where, "[", i, "]");
    if (!item.is_object()) bad_field(w, cat(w, " must be an object"));
    std::string type = string_field(item, "type", w, false);
    if (type.empty()) type = "message";  // the short form {"role", "content"}
    if (type == "message") {
      const std::string role = string_field(item, "role", w, true);
      if (role != "user" && role != "system" && role != "developer" && role != "assistant")
        bad_field(w + ".role", cat(w, ".role must be one of user, system, developer, assistant; got '", role, "'"));
      const json* content = body_field(item, "content");
      if (!content) bad_field(w + ".content", cat(w, ".content is required"));
      messages.push_back({{"role", role == "developer" ? "system" : role}, {"content", content_text(*content, w + ".content")}});
    } else if (type == "function_call") {
      const std::string call_id = string_field(item, "call_id", w, true);
      const std::string name = string_field(item, "name", w, true);
      const std::string arguments = string_field(item, "arguments", w, true);
      assistant_for_calls(messages)["tool_calls"].push_back(
          {{"id", call_id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}});
    } else if (type == "function_call_output") {
      const std::string call_id = string_field(item, "call_id", w, true);
      const json* output = body_field(item, "output");
      if (!output) bad_field(w + ".output", cat(w, ".output is required"));
      messages.push_back({{"role", "tool"}, {"tool_call_id", call_id}, {"content", content_text(*output, w + ".output")}});
    } else if (type == "reasoning") {
      // Earlier turns' reasoning: the DeepSeek chat templates leave it out of the prompt.
    } else {
      bad_field(w + ".type", cat(w, ".type '", type, "' is not supported (message, function_call, function_call_output, reasoning)"));
    }
  }
  return messages;
}

ResponsesRequest parse_responses_request(std::string_view raw, const RequestLimits& limits, const ResponseStore& store) {
  parse_json_body(raw, limits);  // size, depth, syntax, an object
  const json body = parse_ordered_body(raw);
  ResponsesRequest r;
  json chat = json::object();
  json& s = r.settings = json::object();

  for (const char* unsupported : {"background", "conversation", "prompt"}) {
    const json* v = body_field(body, unsupported);
    if (v && !(v->is_boolean() && !v->get<bool>()))
      bad_field(unsupported, cat("'", unsupported, "' is not supported by this server"));
  }
  auto copy_if = [&](const char* name, json& to, const char* as = nullptr) {
    if (const json* v = body_field(body, name)) to[as ? as : name] = *v;
  };

  // The conversation: a continued response's, then instructions (this request's only, as the API says),
  // then the input.
  s["instructions"] = nullptr;
  if (const json* ins = body_field(body, "instructions")) {
    if (!ins->is_string()) bad_field("instructions", "'instructions' must be a string");
    s["instructions"] = *ins;
  }
  s["previous_response_id"] = nullptr;
  r.conversation = json::array();
  if (const json* prev = body_field(body, "previous_response_id")) {
    if (!prev->is_string()) bad_field("previous_response_id", "'previous_response_id' must be a string");
    const auto stored = store.get(prev->get<std::string>());
    if (!stored)
      bad_field("previous_response_id", cat("Previous response with id '", prev->get<std::string>(), "' not found."),
          "previous_response_not_found");
    r.conversation = stored->conversation;
    s["previous_response_id"] = *prev;
  }
  const json* input = body_field(body, "input");
  if (!input) bad_field("input", "'input' is required");
  r.input_begin = r.conversation.size();
  if (input->is_string()) {
    r.conversation.push_back({{"type", "message"}, {"role", "user"}, {"content", *input}});
  } else if (input->is_array()) {
    for (const json& item : *input) r.conversation.push_back(item);
  } else {
    bad_field("input", "'input' must be a string or a list of items");
  }
  if (static_cast<int64_t>(r.conversation.size()) > limits.max_messages)
    bad_field("input", cat("at most ", limits.max_messages, " input items are allowed (a continued conversation's included)"));
  if (chat_messages(s["instructions"], r.conversation).empty()) bad_field("input", "'input' must hold at least one message");
  // Stored input items are listed by id (GET /v1/responses/{id}/input_items): those without one get one.
  for (size_t i = r.input_begin; i < r.conversation.size(); ++i) {
    json& item = r.conversation[i];
    if (item.contains("id") && item["id"].is_string()) continue;
    const std::string type = item.value("type", "message");
    item["id"] = random_id(type == "function_call" ? "fc_" : type == "function_call_output" ? "fco_" : type == "reasoning" ? "rs_" : "msg_");
  }

  s["model"] = nullptr;  // the server's model name when not given (the writer fills it in)
  if (const json* m = body_field(body, "model")) {
    if (!m->is_string()) bad_field("model", "'model' must be a string");
    chat["model"] = *m;
    s["model"] = *m;
  }
  r.stream = bool_field(body, "stream", false);
  set_chat_stream(chat, r.stream);
  r.store = bool_field(body, "store", true);

  s["max_output_tokens"] = nullptr;
  if (const json* m = body_field(body, "max_output_tokens")) {
    if (!m->is_number_integer() || m->get<int64_t>() < 1 || m->get<int64_t>() > limits.max_tokens)
      bad_field("max_output_tokens", cat("'max_output_tokens' must be an integer in [1, ", limits.max_tokens, "]"));
    chat["max_completion_tokens"] = *m;
    s["max_output_tokens"] = *m;
  }
  for (const char* name : {"temperature", "top_p"}) {
    s[name] = 1.0;
    if (const json* v = body_field(body, name)) {
      if (!v->is_number()) bad_field(name, cat("'", name, "' must be a number"));
      chat[name] = *v;
      s[name] = *v;
    }
  }
  // Extensions, as on the chat endpoint.
  for (const char* name : {"seed", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty",
                           "logit_bias", "stop", "ignore_eos"})
    copy_if(name, chat);

  if (json tools = chat_tools_of(body, limits.max_tools, chat_tool); !tools.is_null()) chat["tools"] = std::move(tools);
  s["tools"] = body_field(body, "tools") ? body["tools"] : json::array();
  s["tool_choice"] = "auto";
  if (const json* tc = body_field(body, "tool_choice")) {
    chat["tool_choice"] = chat_tool_choice(*tc);
    s["tool_choice"] = *tc;
  }
  s["parallel_tool_calls"] = bool_field(body, "parallel_tool_calls", true);
  if (body_field(body, "parallel_tool_calls")) chat["parallel_tool_calls"] = s["parallel_tool_calls"];

  s["text"] = {{"format", {{"type", "text"}}}};
  if (const json* text = body_field(body, "text")) {
    if (!text->is_object()) bad_field("text", "'text' must be an object");
    if (const json* format = body_field(*text, "format")) {
      json rf = chat_response_format(*format);
      if (!rf.is_null()) chat["response_format"] = std::move(rf);
      s["text"]["format"] = *format;
    }
  }
  // Logprobs of the answer's text: include "message.output_text.logprobs" (top_logprobs alternatives).
  s["top_logprobs"] = nullptr;
  bool text_logprobs = false;
  if (const json* inc = body_field(body, "include")) {
    if (!inc->is_array()) bad_field("include", "'include' must be an array of strings");
    for (const json& x : *inc) {
      if (!x.is_string()) bad_field("include", "'include' must be an array of strings");
      text_logprobs = text_logprobs || x == "message.output_text.logprobs";
    }
  }
  if (const json* t = body_field(body, "top_logprobs")) {
    if (!t->is_number_integer()) bad_field("top_logprobs", "'top_logprobs' must be an integer");
    chat["top_logprobs"] = *t;
    s["top_logprobs"] = *t;
    text_logprobs = true;
  }
  if (text_logprobs) chat["logprobs"] = true;

  s["reasoning"] = {{"effort", nullptr}, {"summary", nullptr}};
  if (const json* re = body_field(body, "reasoning")) {
    if (!re->is_object()) bad_field("reasoning", "'reasoning' must be an object");
    for (const char* k : {"effort", "summary"})
      if (const json* v = body_field(*re, k)) s["reasoning"][k] = *v;
    // A hybrid model (DeepSeek-V3.1) thinks for any effort above "minimal".
    if (const json* effort = body_field(*re, "effort")) chat["reasoning_effort"] = *effort;
  }
  s["store"] = r.store;
  s["truncation"] = "disabled";
  if (const json* t = body_field(body, "truncation")) {
    if (*t != "disabled" && *t != "auto") bad_field("truncation", "'truncation' must be \"auto\" or \"disabled\"");
    s["truncation"] = *t;
  }
  s["user"] = nullptr;
  copy_if("user", s);
  s["metadata"] = json::object();
  if (const json* md = body_field(body, "metadata")) {
    if (!md->is_object() || md->size() > 16) bad_field("metadata", "'metadata' must be an object of at most 16 keys");
    for (const auto& [k, v] : md->items())
      if (!v.is_string() || k.size() > 64 || v.get_ref<const std::string&>().size() > 512)
        bad_field("metadata", "'metadata' values must be strings of at most 512 characters, keys at most 64");
    s["metadata"] = *md;
  }
  r.chat = std::move(chat);
  r.chat_body = chat_body_of(r);
  return r;
}

std::string chat_body_of(const ResponsesRequest& r) {
  json chat = r.chat;
  chat["messages"] = chat_messages(r.settings["instructions"], r.conversation);
  return chat.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool truncate_to_fit(ResponsesRequest& r, const std::function<bool(const std::string&)>& fits) {
  if (fits(r.chat_body)) return true;
  // Where a turn begins: a user message. Dropping more turns only shortens the prompt, so the fewest
  // that fit are found by bisection (a few tokenizations, whatever the conversation's length).
  std::vector<size_t> starts;
  for (size_t i = 1; i < r.conversation.size(); ++i) {
    const json& item = r.conversation[i];
    if (item.value("type", "message") == "message" && item.value("role", "") == "user") starts.push_back(i);
  }
  auto without = [&](size_t first) {
    ResponsesRequest t = r;
    t.conversation.erase(t.conversation.begin(), t.conversation.begin() + static_cast<std::ptrdiff_t>(first));
    t.input_begin = r.input_begin > first ? r.input_begin - first : 0;
    t.chat_body = chat_body_of(t);
    return t;
  };
  size_t lo = 0, hi = starts.size();  // starts[lo..hi) holds the first that fits, if any
  std::optional<ResponsesRequest> best;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    ResponsesRequest t = without(starts[mid]);
    if (fits(t.chat_body)) {
      best = std::move(t);
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  if (!best) return false;
  r = std::move(*best);
  return true;
}

ApiError responses_error(const ApiError& e) {
  static const std::pair<const char*, const char*> kRenamed[] = {
      {"messages", "input"}, {"response_format", "text.format"}, {"max_completion_tokens", "max_output_tokens"},
      {"max_tokens", "max_output_tokens"}, {"logprobs", "top_logprobs"}, {"reasoning_effort", "reasoning.effort"}};
  ApiError r = e;
  for (const auto& [from, to] : kRenamed)
    if (r.param == from) r.param = to;
  return r;
}

}  // namespace dsinfer::server
