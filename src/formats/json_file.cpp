#include "formats/json_file.h"

#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {

nlohmann::json parse_json(std::string_view text, const std::string& what) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // nlohmann messages start with "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
    std::string msg = e.what();
    if (const size_t close = msg.find("] "); msg.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      msg = msg.substr(close + 2);
    fail(what, ": invalid JSON: ", msg);
  }
}

nlohmann::json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

}  // namespace dsinfer
