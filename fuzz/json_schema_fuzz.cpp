// libFuzzer target: a client's JSON Schema (structured outputs, tool parameters) and the bytes of an answer.
// Input: schema JSON text, a NUL byte, then answer bytes. The schema compiles or throws dsinfer::Error
// (anything else — a crash, a sanitizer report, another exception, an allocation over -malloc_limit_mb,
// a timeout — is a bug); then the answer bytes are walked through SchemaPrefix as far as it takes them,
// checking at every step that takes() and feed() agree and that some byte may always come until the value
// is complete (generation never reaches a dead end).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/json_schema.h"
#include "runtime/schema_prefix.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsinfer;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view schema_text = input.substr(0, nul);
  const std::string_view answer = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  const auto schema_json = nlohmann::ordered_json::parse(schema_text, nullptr, /*allow_exceptions=*/false);
  if (schema_json.is_discarded()) return 0;
  std::shared_ptr<const JsonSchema> schema;
  try {
    schema = JsonSchema::compile(schema_json);
  } catch (const Error&) {
    return 0;
  }
  SchemaPrefix p(schema);
  for (size_t i = 0; i < answer.size() && i < 256; ++i) {
    if (p.complete()) break;
    bool some = false;
    for (int c = 0; c < 256 && !some; ++c) some = p.takes(std::string(1, static_cast<char>(c)));
    if (!some) __builtin_trap();  // a dead end
    const std::string byte(1, answer[i]);
    const bool takes = p.takes(byte);
    SchemaPrefix copy = p;
    if (copy.feed(byte) != takes) __builtin_trap();  // takes() and feed() disagree
    if (!takes) break;
    p = std::move(copy);
  }
  return 0;
}
