#pragma once
// Reading fields of a request body kept in the client's key order (ordered_json), for the API layers
// that translate bodies (responses_request, messages_request): a missing or null field is absent, and a
// field of the wrong type is an ApiError 400 whose param is the field's path ("input[2].call_id").

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/api_request.h"
#include "util/error.h"

namespace dsinfer::server {

[[noreturn]] inline void bad_field(const std::string& param, const std::string& message, std::string code = {}) {
  throw ApiError(400, message, param, std::move(code));
}

// The field, or null when it is missing or JSON null.
inline const nlohmann::ordered_json* body_field(const nlohmann::ordered_json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// A string field of the object at `where`; "" when it is missing and not required.
inline std::string string_field(const nlohmann::ordered_json& obj, const char* name, const std::string& where, bool required = true) {
  const nlohmann::ordered_json* v = body_field(obj, name);
  const std::string path = cat(where, ".", name);
  if (!v) {
    if (required) bad_field(path, path + " is required");
    return {};
  }
  if (!v->is_string()) bad_field(path, path + " must be a string");
  return v->get<std::string>();
}

// A boolean field; `def` when it is missing.
inline bool bool_field(const nlohmann::ordered_json& obj, const char* name, bool def) {
  const nlohmann::ordered_json* v = body_field(obj, name);
  if (!v) return def;
  if (!v->is_boolean()) bad_field(name, cat("'", name, "' must be a boolean"));
  return v->get<bool>();
}

// The body's "tools" array as chat tools, each translated by `to_chat_tool(tool, index)`; null when there
// are none. A 400 when it is not an array or longer than `max_tools`.
template <class ToChatTool>
nlohmann::ordered_json chat_tools_of(const nlohmann::ordered_json& body, int64_t max_tools, ToChatTool to_chat_tool) {
  const nlohmann::ordered_json* tools = body_field(body, "tools");
  if (!tools) return nullptr;
  if (!tools->is_array()) bad_field("tools", "'tools' must be an array");
  if (static_cast<int64_t>(tools->size()) > max_tools) bad_field("tools", cat("at most ", max_tools, " tools"));
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < tools->size(); ++i) out.push_back(to_chat_tool((*tools)[i], i));
  return out.empty() ? nlohmann::ordered_json() : out;
}

// A streamed translated request asks the chat request for the usage chunk (the answer's end reports it).
inline void set_chat_stream(nlohmann::ordered_json& chat, bool stream) {
  chat["stream"] = stream;
  if (stream) chat["stream_options"] = {{"include_usage", true}};
}

// The text of a string, or of a list of parts whose "type" is one of `text_types` (their "text"; a
// "refusal" part's is in "refusal"), joined by `separator`. Any other part is a 400 naming it: the model
// reads text only.
inline std::string text_of_parts(const nlohmann::ordered_json& content, const std::string& where,
                                 std::initializer_list<std::string_view> text_types, std::string_view separator) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_field(where, where + " must be a string or a list of text parts");
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string w = cat(where, "[", j, "]");
    if (!content[j].is_object()) bad_field(w, w + " must be an object");
    const std::string type = string_field(content[j], "type", w);
    if (std::find(text_types.begin(), text_types.end(), type) == text_types.end()) {
      std::string names;
      for (std::string_view t : text_types) names += (names.empty() ? "" : ", ") + std::string(t);
      bad_field(w + ".type", cat(w, ".type '", type, "' is not supported here: this model reads text only (", names, ")"));
    }
    if (j > 0) text += separator;
    text += string_field(content[j], type == "refusal" ? "refusal" : "text", w);
  }
  return text;
}

}  // namespace dsinfer::server
