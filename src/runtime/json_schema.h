#pragma once
// JSON Schema, the subset structured outputs use (OpenAI's response_format json_schema, pydantic models),
// compiled into a graph of nodes that SchemaPrefix walks byte by byte.
//
// Supported: type (one or a list), properties, required, additionalProperties, items, prefixItems (and
// the older items-as-array with additionalItems), minItems, maxItems, uniqueItems (false; true for items
// that are strings or enum values, see SchemaNode), minLength, maxLength (also beside a pattern or
// format), pattern (byte_regex.h), format (byte_regex.h's format_pattern), propertyNames and one
// patternProperties pattern for objects without listed properties (maps, as pydantic writes dict[K, V]), minimum, maximum, exclusiveMinimum, exclusiveMaximum (numeric, as drafts 6 and
// later), multipleOf (whole numbers, and fractions below 1 with at most 9 digits), enum, const,
// anyOf, oneOf (as anyOf), allOf with one schema, nullable, local $ref ("#", "#/$defs/...",
// "#/definitions/...", recursion included); annotations (title, description, default, examples, ...) are
// ignored, and so are pattern and format on values that are not strings (as JSON Schema has it). Any other keyword is an Error naming it and where it is: an answer is never
// claimed to follow a schema it was not held to.
//
// What generation makes of it: an object's listed properties come in the schema's order (required ones
// always, optional ones when the model picks them), other keys never; an object without listed properties
// is a map whose values follow additionalProperties. enum and const values come as their compact JSON text.
// The root must be an object (as OpenAI requires).

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/byte_regex.h"
#include "runtime/dfa_lengths.h"

namespace dsinfer {

struct SchemaNode {
  enum class Kind : uint8_t {
    kObject,
    kArray,
    kString,
    kNumber,
    kLiterals,  // enum, const, boolean, null: one of a few JSON texts
    kAnyOf,
  };
  static constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();
  static constexpr uint32_t kNoFiniteValue = kUnbounded;  // min_depth of a schema with no finite value

  struct Property {
    std::string key;  // the name as JSON text, quotes included: "\"name\""
    uint32_t node = 0;
    bool required = false;
  };

  Kind kind = Kind::kAnyOf;
  // kObject
  std::vector<Property> properties;    // in the schema's order
  std::vector<uint32_t> required_from;  // [properties + 1] the first required property at or after i
  int64_t additional = -1;              // no listed properties: every value's node (keys: any string); -1: none
  // A map's keys (propertyNames, and the pattern of a single patternProperties entry, whose schema then is
  // every value's): a string node, or string literals; -1: any string.
  int64_t key = -1;
  // kArray
  std::vector<uint32_t> prefix_items;  // the first items' nodes (tuples)
  uint32_t items = 0;                  // the node of the items after them
  uint32_t min_items = 0, max_items = kUnbounded;
  // uniqueItems true: no item equals an earlier one. Held for items that are literals (enum, const,
  // boolean; at most kMaxUniqueLiterals, pairwise different values), strings without maxLength, pattern or
  // format (an answer can always make a string new by going on), or integers without bounds or multipleOf
  // (at most 18 digits; -0 is 0); not with prefixItems.
  static constexpr size_t kMaxUniqueLiterals = 64;
  bool unique_items = false;
  // kString (characters: code points, an escape counts one)
  uint32_t min_length = 0, max_length = kUnbounded;
  std::shared_ptr<const ByteDfa> pattern;  // the text follows it (then no escapes)
  std::shared_ptr<const DfaLengths> lengths;  // a pattern with length limits: the lengths each state can reach
  // kNumber
  bool integer = false;
  // minimum / maximum / exclusiveMinimum / exclusiveMaximum: a bounded number is written without exponent,
  // with at most kMaxBoundedDigits digits, and with a fraction only where the whole unit interval of its
  // integer part is in range (a narrower set of numbers, never one out of range).
  static constexpr int kMaxBoundedDigits = 15;
  bool bounded = false;
  int64_t min_int = 0, max_int = 0;  // the integers in range
  int64_t max_unit = 0;  // v >= 0: [v, v + 1) is in range for min_int <= v <= max_unit
  int64_t min_unit = 0;  // v <= 0 (written with '-'): (v - 1, v] is in range for min_unit <= v <= max_int
  // multipleOf m (then bounded). Whole m: the value is an integer multiple of m (multiple_of = m, integer).
  // Fractional m below 1, m = p / 10^k in its shortest decimal form (fraction_multiple = p, fraction_digits
  // = k <= kMaxFractionDigits): value * 10^k is a multiple of p, so an integer value is a multiple of
  // multiple_of = p / gcd(p, 10^k) and a fraction has at most k digits (a narrower set where trailing zeros
  // would make more: "0.50" for m = 0.5 is not written). Exact decimal arithmetic, as JSON Schema defines
  // it (0.07 is a multiple of 0.01, which a float division would doubt).
  static constexpr int kMaxFractionDigits = 9;
  int64_t multiple_of = 1;
  int64_t fraction_multiple = 0;  // 0: none
  int fraction_digits = 0;
  // kLiterals: compact JSON texts, sorted bytewise, distinct
  std::vector<std::string> literals;
  // kAnyOf: the alternatives, none of them kAnyOf
  std::vector<uint32_t> options;
  // The fewest nested containers + 1 that a value needs (a guard: generation never opens a value it cannot
  // close within the depth limit).
  uint32_t min_depth = 1;
};

struct JsonSchema {
  static constexpr uint32_t kMaxDepth = 48;  // nested objects, arrays and scalars in a generated value
  // What one request's schema may cost to compile.
  static constexpr size_t kMaxNodes = 20000;
  static constexpr size_t kMaxPatterns = 32;  // different ones (a pattern compiles in at most ~0.1 s)
  static constexpr int kMaxNesting = 128;    // schemas within schemas, $ref chains included

  std::vector<SchemaNode> nodes;
  uint32_t root = 0;
  uint32_t any_string = 0;  // a string of any length (map keys)

  // Throws Error ("schema.properties.age: 'minimum' is not supported") for what cannot be held to.
  static std::shared_ptr<const JsonSchema> compile(const nlohmann::ordered_json& schema);
  // {"type": "object"}: any JSON object (JSON mode, a tool's arguments without a schema).
  static std::shared_ptr<const JsonSchema> any_object();
};

}  // namespace dsinfer
