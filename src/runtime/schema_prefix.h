#pragma once
// A byte-level recognizer of one JSON value that follows a compiled JsonSchema: whether the bytes so far
// can still begin such a value, and when one is complete: JSON as RFC 8259 has it (whitespace between
// tokens as json_space_takes allows, none before the value), plus the schema: listed keys in order, required
// ones before the object may close, enum texts, string and array lengths, integers without fraction or
// exponent, strings of valid UTF-8 (a model's partial characters cannot end a string).
//
// A value of an anyOf may start alike for several alternatives (two object schemas): each is followed as a
// path of its own until the bytes tell them apart (at most kMaxPaths; more are dropped, which only narrows
// what may come). Never a dead end: a key, an item or an alternative is only offered if a value for it
// can still be closed within JsonSchema::kMaxDepth.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/json_schema.h"

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

class SchemaPrefix {
 public:
  static constexpr int kMaxPaths = 16;
  static constexpr int kMaxNumberBytes = 32;  // a model looping on digits ends its number

  explicit SchemaPrefix(std::shared_ptr<const JsonSchema> schema);

  // Feeds bytes; false if no value starts with the bytes so far plus these (the state is then unspecified).
  bool feed(std::string_view bytes);
  // Whether feed(bytes) would succeed and not run past the value's end; the state is unchanged.
  bool takes(std::string_view bytes) const;
  bool complete() const;
  // Whether the next bytes may be c (c, d): quick filters, made on first use after each feed.
  bool may_start_with(uint8_t c) const {
    if (!filters_fresh_) update_filters();
    return first_bytes_[c];
  }
  bool may_start_with(uint8_t c, uint8_t d) const {
    if (!filters_fresh_) update_filters();
    return !second_known_[c] || second_bytes_[c][d];
  }
  // Inside a string and between characters: how many more characters it may take (INT64_MAX: any); else -1.
  int64_t plain_string_room() const;
  // For bytes without control characters, '"' or '\': 1 if they continue the string the value is in, 0 if
  // not (too long, not UTF-8, off its pattern), -1 if it is not inside a string (then ask takes()). No copy
  // of the state: most tokens of an answer are such text.
  int plain_string_takes(std::string_view plain) const;

 private:
  struct Frame {  // one open value (no initializers: frames are copied only as deep as they are used)
    uint32_t node;
    uint8_t phase;
    uint8_t sub;       // number: its state; string: UTF-8 bytes or \u digits to come
    uint8_t utf8_lo;   // string: the range of the next UTF-8 continuation byte
    uint8_t utf8_hi;
    uint32_t count;    // object: next property; array: items; string: characters; number, literal: bytes
    uint32_t child;    // object: the node of the value after the key; string: its surrogate escapes
    uint32_t lo, hi;   // literal: candidates [lo, hi); object key: bytes matched (lo), first candidate (hi);
                       // string with a pattern: its DFA state (lo); without: the code point or \u unit
                       // being read (hi)
    uint64_t keys;     // object key: bit i = property hi + i is still a candidate; string without a
                       // pattern: a hash of its value's UTF-16 units; uniqueItems array of literals: bit
                       // i = literal i came
  };
  // The string or integer items of the open uniqueItems array at frame index `depth`, as the hashes of their
  // values (Frame::keys of a string) or the values, newest first; shared by the copies of a path.
  struct SeenItem {
    uint64_t hash;
    uint32_t depth;
    std::shared_ptr<const SeenItem> next;
  };
  struct Path {
    bool started = false;
    uint8_t depth = 0;
    uint8_t spaces = 0;  // the whitespace run (json_space_takes)
    std::array<Frame, JsonSchema::kMaxDepth> frames;
    std::shared_ptr<const SeenItem> seen;

    Path() = default;
    Path(const Path& o) { *this = o; }
    Path& operator=(const Path& o);  // copies only the open frames
    Frame& top() { return frames[depth - 1]; }
  };

  std::shared_ptr<const JsonSchema> schema_;
  std::vector<Path> paths_;
  mutable bool filters_fresh_ = false;
  mutable std::array<bool, 256> first_bytes_{};
  mutable std::array<bool, 256> second_known_{};  // second_bytes_[c] holds for the bytes after c
  mutable std::array<std::array<bool, 256>, 256> second_bytes_{};

  const SchemaNode& node(uint32_t id) const { return schema_->nodes[id]; }
  bool fits(const Path& p, uint32_t id) const { return p.depth + node(id).min_depth <= JsonSchema::kMaxDepth; }
  // One byte on one path; alternatives that also take it (a new anyOf value) are appended to *forks.
  bool step(Path& p, uint8_t c, std::vector<Path>* forks) const;
  bool start_value(Path& p, uint32_t id, uint8_t c, std::vector<Path>* forks) const;
  bool starts_with(uint32_t id, uint8_t c) const;  // a value of a non-anyOf node may begin with c
  void open(Path& p, uint32_t id, uint8_t c) const;  // pushes the value's frame, c taken
  bool close(Path& p) const;                         // the top value ended
  uint64_t key_candidates(const Path& p, const Frame& f) const;
  bool step_number(Path& p, uint8_t c) const;        // false: not taken (the caller closes the number or fails)
  bool step_literal(Path& p, uint8_t c, bool* retry) const;
  bool step_string(Path& p, uint8_t c) const;
  // uniqueItems: the array a value at the top of p is an item of, if it has unique items; else nullptr.
  const Frame* unique_parent(const Path& p) const;
  static int64_t integer_value(const Frame& f);  // a number frame's integer part, signed
  // uniqueItems: what an item's value is remembered as (SeenItem::hash: a string's hash, an integer's value),
  // and whether an earlier item of `array` had that.
  static uint64_t item_key(const Frame& f);
  static bool seen_before(const Path& p, const Frame& array, uint64_t key);
  // uniqueItems integers: whether an item that begins with |w| (digits digits, '-' if neg) can still end as
  // a value that no earlier item of `array` has.
  static constexpr uint32_t kMaxUniqueIntegerDigits = 18;
  bool integer_unused(const Path& p, const Frame& array, bool neg, uint64_t w, uint32_t digits) const;
  // Whether literals [lo, hi) hold one that `array` (a uniqueItems array, or nullptr: any) did not have yet.
  static bool literal_unused(const Frame* array, uint32_t lo, uint32_t hi);
  // A byte of a string's text that is no quote, escape or control character: ASCII or part of a UTF-8 character.
  static bool string_char(Frame& f, uint8_t c, uint32_t max_length);
  bool path_takes(const Path& p, std::string_view bytes) const;
  void update_filters() const;
};

}  // namespace dsinfer
