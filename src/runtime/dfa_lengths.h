#pragma once
// A pattern's DFA together with minLength / maxLength (a pydantic HttpUrl is format "uri" with maxLength
// 2083): which lengths of accepted text, in characters, can still follow each DFA state. SchemaPrefix asks
// it before each byte, so a string is only continued where a match of an allowed length remains — never a
// dead end between the pattern and the limits.
//
// Characters are counted as JSON Schema counts them, in code points: every byte that is not a UTF-8
// continuation byte (0x80-0xBF) starts one.

#include <cstdint>
#include <vector>

#include "runtime/byte_regex.h"

namespace dsinfer {

struct DfaLengths {
  static constexpr uint64_t kMaxBits = uint64_t{1} << 23;  // states x (cap + 1): at most 1 MiB per pattern

  uint32_t cap = 0;          // lengths 0..cap are recorded; open_ended: the bit of cap means "cap or more"
  bool open_ended = false;   // (no maxLength: cap is minLength)
  size_t words = 0;          // per state
  std::vector<uint64_t> bits;  // [states][words]: bit k = an accepted text of k more characters follows
  std::vector<uint32_t> shortest;  // [states] the lowest bit set (the common question: "any up to hi?")

  // For min_length <= length <= max_length (max_length UINT32_MAX: no maximum); throws Error where the
  // table would be larger than kMaxBits.
  static DfaLengths compute(const ByteDfa& dfa, uint32_t min_length, uint32_t max_length);

  // After `count` characters, in `state`: can the text still end, accepted, with min_length <= length <=
  // max_length (the limits compute() was given)?
  bool reachable(int32_t state, uint32_t count, uint32_t min_length, uint32_t max_length) const;
};

}  // namespace dsinfer
