#pragma once
// Reading JSON files (HF config.json, safetensors index files) with errors that name the file and the
// position of a syntax error.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "util/error.h"

namespace dsinfer {

// Parses `text`; a syntax error is an Error "<what>: invalid JSON at line L, column C: ...".
nlohmann::json parse_json(std::string_view text, const std::string& what);
// Reads and parses the file at `path` (errors name the path).
nlohmann::json read_json_file(const std::string& path);

// Field `key` of object j as T, or nullopt when it is absent or null; a value of another type is an Error
// "<src>: field '<key>' has the wrong type (...)".
template <class T>
std::optional<T> json_opt(const nlohmann::json& j, const char* key, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail(src, ": field '", key, "' has the wrong type (", it->type_name(), ")");
  }
}

// The same, but a missing field is an Error too.
template <class T>
T json_req(const nlohmann::json& j, const char* key, const std::string& src) {
  auto v = json_opt<T>(j, key, src);
  if (!v) fail(src, ": required field '", key, "' is missing");
  return *v;
}

// A token id field: an integer, or a list whose first item is one (HF's eos_token_id may be a list);
// anything else is nullopt.
std::optional<int64_t> json_token_id(const nlohmann::json& j, const char* key);

}  // namespace dsinfer
