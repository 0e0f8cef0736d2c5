#pragma once
// A byte-level recognizer of one JSON object (RFC 8259: objects, arrays, strings with escapes, numbers,
// true / false / null; whitespace between tokens as json_space_takes allows, none before the object): it says whether the bytes so
// far can still begin such a document, and when one is complete. A small fixed-size value without
// allocation, so a constraint can try a token's bytes on a copy for every entry of a 129k vocabulary
// (~0.5 ms per step for DeepSeek-V3's).

#include <cstdint>
#include <string_view>

namespace dsinfer {

// Whitespace between JSON tokens in a generated answer, as llama.cpp's JSON grammars allow it: nothing, one
// space, or a newline and at most kMaxJsonIndent spaces or tabs (compact and pretty-printed JSON, but no
// runs a model can loop on). `run` is the state of the current run (0: none); false if c cannot come.
constexpr int kMaxJsonIndent = 20;
inline bool is_json_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool json_space_takes(uint8_t& run, uint8_t c) {
  if (run == 0 && (c == ' ' || c == '\n')) {
    run = c == ' ' ? 1 : 2;
    return true;
  }
  if (run < 2 || (c != ' ' && c != '\t') || run - 2 >= kMaxJsonIndent) return false;
  ++run;
  return true;
}

class JsonPrefix {
 public:
  static constexpr int kMaxDepth = 128;       // nesting of objects and arrays

  // Feeds one byte; false if no document starts with the bytes so far plus this one (the state is then
  // unspecified: feed a copy when trying).
  bool feed(uint8_t c);
  bool feed(std::string_view bytes) {
    for (char c : bytes)
      if (!feed(static_cast<uint8_t>(c))) return false;
    return true;
  }
  // The top-level object is closed.
  bool complete() const { return mode_ == Mode::kDone; }
  // Inside a string and not in an escape: any byte >= 0x20 other than '"' and '\' continues it.
  bool in_plain_string() const { return mode_ == Mode::kString; }

 private:
  enum class Mode : uint8_t {
    kStart,        // before the top-level '{'
    kValue,        // a value must come (after ':' or ',' in an array)
    kArrayFirst,   // after '[': a value or ']'
    kObjectFirst,  // after '{': a key or '}'
    kKey,          // after ',' in an object: a key
    kColon,        // after a key
    kAfter,        // after a value in a container: ',' or its closing bracket
    kString,
    kEscape,       // after '\'
    kUnicode,      // \u and count_ hex digits to come
    kNumber,       // num_ says where
    kLiteral,      // true / false / null, count_ bytes of literal_ read
    kDone,
  };
  enum Num : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp };

  Mode mode_ = Mode::kStart;
  uint8_t depth_ = 0;
  uint8_t count_ = 0;
  uint8_t literal_ = 0;   // 0 true, 1 false, 2 null
  uint8_t num_ = kMinus;
  uint8_t spaces_ = 0;    // the whitespace run (json_space_takes)
  bool key_ = false;      // the string is an object key
  uint64_t objects_[2] = {0, 0};  // bit d: the container at depth d + 1 is an object (else an array)

  bool value_start(uint8_t c);  // c begins a value (kValue, kArrayFirst)
  bool push(bool object);
  bool close(bool object);      // '}' or ']' for the innermost container
  void end_value();             // a value inside a container ended
  bool top_is_object() const { return (objects_[(depth_ - 1) / 64] >> ((depth_ - 1) % 64)) & 1; }
};

}  // namespace dsinfer
