#pragma once
// Reading fields of a request body kept in the client's key order (ordered_json), for the API layers
// that translate bodies (responses_request, messages_request): a missing or null field is absent, and a
// field of the wrong type is an ApiError 400 whose param is the field's path ("input[2].call_id").

#include <string>

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

}  // namespace dsinfer::server
