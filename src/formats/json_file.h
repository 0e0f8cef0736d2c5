#pragma once
// Reading JSON files (HF config.json, safetensors index files) with errors that name the file and the
// position of a syntax error.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace dsinfer {

// Parses `text`; a syntax error is an Error "<what>: invalid JSON at line L, column C: ...".
nlohmann::json parse_json(std::string_view text, const std::string& what);
// Reads and parses the file at `path` (errors name the path).
nlohmann::json read_json_file(const std::string& path);

}  // namespace dsinfer
