// Structured outputs: the JSON Schema compiler's errors, SchemaPrefix on hand-made cases and on instances
// generated from compiled schemas (every prefix is accepted; JSON mode, the schema {"type": "object"}, is
// checked against nlohmann's parser in output_constraint_test.cpp), and JsonSchemaConstraint walking the real DeepSeek-V3 vocabulary at random (never a dead
// end; what completes parses and validates). The independent check, Python's jsonschema on the server's
// answers, is in tests/integration.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/json_schema.h"
#include "runtime/output_constraint.h"
#include "runtime/schema_prefix.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "constraint_test_util.h"

namespace dsinfer {
namespace {

using ojson = nlohmann::ordered_json;
using Kind = SchemaNode::Kind;

std::shared_ptr<const JsonSchema> compile(const std::string& text) { return JsonSchema::compile(ojson::parse(text)); }

std::string compile_error(const std::string& text) {
  try {
    compile(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "(compiled)";
}

TEST(JsonSchema, RefusesWhatItCannotHoldAnAnswerTo) {
  struct Case {
    const char* schema;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"type": "object", "properties": {"p": {"type": "number", "multipleOf": 1.5}}})",
            "schema.properties.p: 'multipleOf' is supported for whole numbers up to 15 digits and for fractions below 1"},
           {R"({"type": "object", "properties": {"p": {"type": "number", "multipleOf": 1e-10}}})",
            "with at most 9 digits, not 1e-10"},
           {R"({"type": "object", "properties": {"p": {"type": "number", "multipleOf": 0.3, "minimum": 1.1, "maximum": 1.2}}})",
            "no integer lies within its bounds"},
           {R"({"type": "object", "properties": {"p": {"type": "integer", "multipleOf": 0.3, "minimum": 1, "maximum": 2}}})",
            "no multiple of 0.3 lies within its bounds"},
           {R"({"type": "object", "properties": {"a": {"multipleOf": 0}}})", "'multipleOf' must be a number above 0"},
           {R"({"type": "object", "properties": {"a": {"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 6}}})",
            "schema.properties.a: no multiple of 7 lies within its bounds"},
           {R"({"type": "object", "properties": {"a": {"pattern": "^x{5}$", "maxLength": 3}}})",
            "schema.properties.a: no text of the length 'minLength' and 'maxLength' allow matches"},
           {R"({"type": "object", "properties": {"a": {"pattern": "^[a-z]{0,900}$", "maxLength": 100000}}})", "too costly"},
           {R"({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": true}}})",
            "schema.properties.a: 'uniqueItems' is supported only for items that are strings without maxLength"},
           {R"({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "number"}, "uniqueItems": true}}})",
            "'uniqueItems' is supported only for"},
           {R"({"type": "object", "properties": {"a": {"items": {"type": "integer", "maximum": 9}, "uniqueItems": true}}})",
            "'uniqueItems' is supported only for"},
           {R"({"type": "object", "properties": {"a": {"items": {"type": "string", "maxLength": 2}, "uniqueItems": true}}})",
            "'uniqueItems' is supported only for"},
           {R"({"type": "object", "properties": {"a": {"items": {"enum": [1, 2, 1.0]}, "uniqueItems": true}}})",
            "'uniqueItems' over enum values that are equal (1 and 1.0)"},
           {R"({"type": "object", "properties": {"a": {"items": {"enum": ["x", "y"]}, "uniqueItems": true, "minItems": 3}}})",
            "'minItems' asks for more unique items than the 2 values there are"},
           {R"({"type": "object", "properties": {"a": {"prefixItems": [{"type": "string"}], "uniqueItems": true}}})",
            "'uniqueItems' with a tuple ('prefixItems') is not supported"},
           {R"({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": 1}}})", "'uniqueItems' must be a boolean"},
           {R"({"type": "object", "properties": {"a": {"properties": {"x": {}}, "propertyNames": {"maxLength": 2}}}})",
            "schema.properties.a: 'propertyNames' and 'patternProperties' are supported for objects without listed"},
           {R"({"type": "object", "properties": {"a": {"type": "object", "patternProperties": {"^a": {}, "^b": {}}}}})",
            "'patternProperties' is supported with one pattern"},
           {R"({"type": "object", "properties": {"a": {"type": "object", "propertyNames": {"type": "integer"}}}})",
            "schema.properties.a: 'propertyNames' must describe strings"},
           {R"({"type": "object", "properties": {"a": {"type": "object", "propertyNames": {"enum": ["x", 1]}}}})",
            "'propertyNames' must describe strings"},
           {R"({"type": "object", "properties": {"a": {"type": "object", "patternProperties": {"^a": {}},
                "propertyNames": {"pattern": "^b"}}}})", "'patternProperties' beside a 'propertyNames' with its own pattern"},
           {R"({"type": "object", "properties": {"a": {"prefixItems": [{}], "items": false, "minItems": 2}}})",
            "'minItems' is larger than 'maxItems' (or than its tuple allows)"},
           {R"({"type": "object", "properties": {"a": {"prefixItems": [{}], "items": [{}]}}})", "'prefixItems' goes with"},
           {R"({"type": "object", "properties": {"a": {"type": "array", "additionalItems": false}}})",
            "'additionalItems' without 'items' as an array"},
           {R"({"type": "string"})", "schema: the root must be an object"},
           {R"({"anyOf": [{"type": "object"}, {"type": "null"}]})", "the root must be an object"},
           {R"({"$ref": "#/$defs/X"})", "schema: $ref '#/$defs/X' does not resolve"},
           {R"({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}})", "only local $refs"},
           {R"({"type": "object", "properties": {"a": {"type": "array", "minItems": 3, "maxItems": 2}}})",
            "schema.properties.a: 'minItems' is larger than 'maxItems'"},
           {R"({"type": "object", "properties": {"a": {"type": "string", "maxLength": -1}}})", "'maxLength' must be a non-negative integer"},
           {R"({"type": "object", "required": ["b"], "additionalProperties": false})",
            "required property \"b\" is not in 'properties' and additionalProperties is false"},
           {R"({"$defs": {"N": {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}, "required": ["n"]}}, "$ref": "#/$defs/N"})",
            "no finite JSON value"},
           {R"({"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"})", "circular $ref"},
           {R"({"type": "object", "properties": {"a": {"enum": []}}})", "'enum' must be a non-empty array"},
           {R"({"type": "object", "properties": {"a": {"const": 1, "enum": [2]}}})", "'const' is not among 'enum'"},
           {R"({"type": "object", "properties": {"a": {"type": "strin"}}})", "unknown type 'strin'"},
           {R"({"type": "object", "anyOf": [{"type": "object"}]})", "'type' next to 'anyOf' is not supported"},
           {R"({"type": "object", "properties": {"a": {"allOf": [{}, {}]}}})", "'allOf' is supported with exactly one schema"},
           {R"({"type": "object", "properties": {"a": false}})", "schema.properties.a: the schema false allows no value"},
           {R"({"type": "object", "properties": {"a": 3}})", "a schema must be an object or a boolean"},
       }) {
    EXPECT_NE(compile_error(c.schema).find(c.error), std::string::npos) << c.schema << "\n -> " << compile_error(c.schema);
  }
  // What stays allowed: annotations, nullable, allOf of one, oneOf, a recursive tree with optional children,
  // uniqueItems false.
  EXPECT_EQ(compile_error(R"({"title": "T", "description": "d", "type": "object", "properties": {
      "a": {"type": "string", "nullable": true, "default": null, "examples": ["x"]},
      "b": {"allOf": [{"$ref": "#/$defs/B"}], "description": "a B"},
      "c": {"oneOf": [{"type": "integer"}, {"type": "boolean"}]}, "d": {"type": "array", "uniqueItems": false}},
      "$defs": {"B": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/B"}}}}}})"),
            "(compiled)");
}

TEST(JsonSchema, RepeatedPatternsCompileOnceAndOnlyDifferentOnesCount) {
  // 40 date-time fields and 40 URLs with one length limit: two DFAs and one length table, shared.
  ojson props = ojson::object();
  for (int i = 0; i < 40; ++i) {
    props["at" + std::to_string(i)] = {{"type", "string"}, {"format", "date-time"}};
    props["url" + std::to_string(i)] = {{"type", "string"}, {"format", "uri"}, {"maxLength", 100}};
  }
  const auto schema = JsonSchema::compile({{"type", "object"}, {"properties", props}});
  const auto& root = schema->nodes[schema->root];
  ASSERT_EQ(root.properties.size(), 80u);
  const SchemaNode& at0 = schema->nodes[root.properties[0].node];
  const SchemaNode& url0 = schema->nodes[root.properties[1].node];
  ASSERT_TRUE(at0.pattern && url0.pattern && url0.lengths && !at0.lengths);
  for (size_t i = 2; i < 80; i += 2) {
    EXPECT_EQ(schema->nodes[root.properties[i].node].pattern, at0.pattern);
    EXPECT_EQ(schema->nodes[root.properties[i + 1].node].pattern, url0.pattern);
    EXPECT_EQ(schema->nodes[root.properties[i + 1].node].lengths, url0.lengths);
  }
  // 33 different patterns are too many.
  ojson many = ojson::object();
  for (int i = 0; i <= static_cast<int>(JsonSchema::kMaxPatterns); ++i)
    many["p" + std::to_string(i)] = {{"type", "string"}, {"pattern", "^a{" + std::to_string(i) + "}$"}};
  EXPECT_NE(compile_error(ojson({{"type", "object"}, {"properties", many}}).dump()).find("more than 32 different patterns"),
            std::string::npos);
  many.erase("p0");
  EXPECT_EQ(compile_error(ojson({{"type", "object"}, {"properties", many}}).dump()), "(compiled)");
}

// -1 if every byte is accepted, else the offset of the first refused one; *complete: a whole value.
int64_t first_refused(const std::shared_ptr<const JsonSchema>& schema, const std::string& text, bool* complete = nullptr) {
  SchemaPrefix p(schema);
  for (size_t i = 0; i < text.size(); ++i) {
    if (!p.takes(text.substr(i, 1))) return static_cast<int64_t>(i);
    EXPECT_TRUE(p.feed(text.substr(i, 1)));
  }
  if (complete) *complete = p.complete();
  return -1;
}

const char* kOrder = R"({
  "$defs": {"Item": {"type": "object", "additionalProperties": false, "required": ["name", "qty"],
                     "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 5}, "qty": {"type": "integer"}}}},
  "type": "object", "additionalProperties": false, "required": ["kind", "items", "ok"],
  "properties": {
    "kind": {"enum": ["a", "b", 1, 12]},
    "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1, "maxItems": 2},
    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "ok": {"type": "boolean"}}})";

TEST(SchemaPrefix, HoldsTheAnswerToTheSchema) {
  const auto schema = compile(kOrder);
  for (const std::string doc : {
           R"({"kind":"a","items":[{"name":"x","qty":1}],"ok":true})",
           R"({"kind":12,"items":[{"name":"abcde","qty":-30}],"note":null,"ok":false})",
           "{ \"kind\" : 1 , \"items\" : [ {\"name\":\"\xc3\xbc\\u00e9\",\"qty\":0} ,\n {\"name\":\"\\\"\",\"qty\":7} ] , \"note\" : \"hi\" , \"ok\" : true }",
       }) {
    bool complete = false;
    EXPECT_EQ(first_refused(schema, doc, &complete), -1) << doc;
    EXPECT_TRUE(complete) << doc;
    EXPECT_EQ(first_refused(schema, doc.substr(0, doc.size() - 1), &complete), -1);
    EXPECT_FALSE(complete) << "complete only at the end";
  }
  struct Case {
    std::string accepted;  // a prefix the schema allows,
    std::string refused;   // then bytes it refuses at their first
  };
  const std::string pre = R"({"kind":"a","items":[)";
  for (const Case& c : std::vector<Case>{
           {"", " {"},                                                   // nothing before the object
           {R"({")", R"(items")"},                                       // "kind" is required first
           {R"({"kind":")", R"(c")"},                                    // not in the enum
           {R"({"kind":12)", "3"},                                       // 12 is the longest number of the enum
           {R"({"kind":"a","items":[)", "]"},                            // minItems
           {pre + R"({"name":"abcde)", R"(f")"},                         // maxLength
           {pre + R"({"name":")", R"(")"},                               // minLength
           {pre + R"({"name":"x","qty":1)", ".5"},                       // an integer
           {pre + R"({"name":"x","qty":1)", "e3"},
           {pre + R"({")", R"(qty":1)"},                                 // "name" first
           {pre + R"({"name":"x","qty":1)", R"(,"y":2)"},                // no other keys
           {pre + R"({"name":"x","qty":1},{"name":"x","qty":1})", ","},  // maxItems
           {pre + R"({"name":"x","qty":1}],"note":"x")", "}"},           // "ok" is required
           {pre + R"({"name":"x","qty":1}],"ok":true})", " "},           // nothing after the value
           {pre + R"({"name":"x","qty":1}],"ok":true)", ","},
           {pre + "{\"name\":\"\xc3", "\""},                         // a partial UTF-8 character cannot end a string
           {pre + "{\"name\":\"", "\xc0\xaf"},                       // an overlong form is not UTF-8
           {pre + "{\"name\":\"a", "\x01"},                           // control characters must be escaped
       }) {
    EXPECT_EQ(first_refused(schema, c.accepted + c.refused), static_cast<int64_t>(c.accepted.size())) << c.accepted << c.refused;
  }
}

TEST(SchemaPrefix, StringsWithAPatternWalkItsDfa) {
  const auto schema = compile(R"({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}-\\d+$"},
      "day": {"type": "string", "format": "date"}}, "required": ["code", "day"], "additionalProperties": false})");
  bool complete = false;
  EXPECT_EQ(first_refused(schema, R"({"code":"AB-12","day":"2024-02-28"})", &complete), -1);
  EXPECT_TRUE(complete);
  for (const auto& [accepted, refused] : std::vector<std::pair<std::string, std::string>>{
           {R"({"code":"AB)", "C"}, {R"({"code":"AB-)", R"(")"}, {R"({"code":"A)", R"(\u0042)"},
           {R"({"code":"AB-1","day":"2024-1)", "3"}, {R"({"code":"AB-1","day":"2024-04-3)", "1"}, {R"({"code":"AB-1","day":"2024-02-2)", "9"}}) {
    EXPECT_EQ(first_refused(schema, accepted + refused), static_cast<int64_t>(accepted.size())) << accepted << refused;
  }
  EXPECT_NE(compile_error(R"({"type": "object", "properties": {"e": {"type": "string", "format": "iri"}}})").find(
                "schema.properties.e: format 'iri' is not supported"),
            std::string::npos);
  // Formats every string has (pydantic's SecretStr, bytes, Path) hold the value to a string only; pydantic's
  // UUID4 to its version.
  const auto loose = compile(R"({"type": "object", "properties": {"k": {"type": "string", "format": "password",
      "writeOnly": true, "maxLength": 3}, "b": {"format": "binary"}, "p": {"format": "path"}, "u": {"format": "uuid4"},
      "j": {"type": "string", "contentMediaType": "application/json", "contentSchema": {}}}})");
  EXPECT_EQ(first_refused(loose, R"({"k":"\n\"x","b":"","p":"a/\u00e9","u":"123e4567-e89b-42d3-8456-426614174000","j":"{"})",
                          &complete), -1);
  EXPECT_TRUE(complete);
  EXPECT_EQ(first_refused(loose, R"({"k":"abcd)"), 9);
  EXPECT_EQ(first_refused(loose, R"({"u":"123e4567-e89b-12)"), 20);
  EXPECT_NE(compile_error(R"({"type": "object", "properties": {"e": {"type": "string", "pattern": "(a)\\1"}}})").find(
                "schema.properties.e: pattern '(a)\\1': backreferences are not supported"),
            std::string::npos);
  EXPECT_EQ(compile_error(R"({"type": "object", "properties": {"n": {"type": "integer", "format": "int64"}}})"), "(compiled)")
      << "format constrains strings only";
}

// Characters as JSON Schema counts them (code points).
size_t chars_of(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Random walks over single bytes from `start` (fed already): some byte may always come until the value is
// complete; returns the text walked (end_bias: 1 in end_bias steps takes `end` when it may come).
std::string walk_bytes(SchemaPrefix& p, std::string text, std::mt19937& rng, char end, int end_bias, size_t max_size) {
  while (!p.complete()) {
    std::string ok;
    for (int c = 0; c < 256; ++c)
      if (p.takes(std::string(1, static_cast<char>(c)))) ok += static_cast<char>(c);
    if (ok.empty()) {
      ADD_FAILURE() << "a dead end after " << text;
      return text;
    }
    const char c = ok.find(end) != std::string::npos && rng() % end_bias == 0 ? end : ok[rng() % ok.size()];
    text += c;
    EXPECT_TRUE(p.feed(std::string(1, c)));
    if (text.size() > max_size) {
      ADD_FAILURE() << "no end: " << text;
      return text;
    }
  }
  return text;
}

TEST(SchemaPrefix, PatternsWithLengthLimitsTakeExactlyTheMatchesOfAllowedLengths) {
  struct Case {
    const char* schema;  // of "v"
    uint32_t min, max;
  };
  // Every string over a few characters (é: two bytes, one character) up to 7 characters: accepted whole iff
  // the pattern matches and the length is allowed; random byte walks never dead-end.
  const std::vector<std::string> alphabet = {"a", "b", "-", "\xc3\xa9"};
  std::mt19937 rng(17);
  for (const Case& c : std::vector<Case>{
           {R"({"type": "string", "pattern": "^[ab]+(-[ab]+)*$", "minLength": 3, "maxLength": 5})", 3, 5},
           {R"({"type": "string", "pattern": "a-", "minLength": 3, "maxLength": 4})", 3, 4},  // (any UTF-8 around)
           {R"({"type": "string", "pattern": "^(ab|-)*$", "minLength": 4})", 4, UINT32_MAX},
           {R"({"type": "string", "pattern": "b", "maxLength": 2})", 0, 2},
       }) {
    const auto schema = compile(std::string(R"({"type": "object", "properties": {"v": )") + c.schema +
                                R"(}, "required": ["v"], "additionalProperties": false})");
    const ByteDfa& dfa = *schema->nodes[schema->nodes[schema->root].properties[0].node].pattern;
    std::vector<std::string> texts = {""};
    for (size_t i = 0; i < texts.size(); ++i)
      if (chars_of(texts[i]) < 7)
        for (const std::string& a : alphabet) texts.push_back(texts[i] + a);
    for (const std::string& t : texts) {
      bool complete = false;
      const bool accepted = first_refused(schema, R"({"v":")" + t + "\"}", &complete) < 0 && complete;
      const bool expected = dfa.matches(t) && chars_of(t) >= c.min && chars_of(t) <= c.max;
      EXPECT_EQ(accepted, expected) << c.schema << ": " << t;
    }
    for (int walk = 0; walk < 200; ++walk) {
      SchemaPrefix p(schema);
      ASSERT_TRUE(p.feed(R"({"v":)"));
      const std::string text = walk_bytes(p, R"({"v":)", rng, '"', 6, 200);
      const std::string v = nlohmann::json::parse(text)["v"];
      EXPECT_TRUE(dfa.matches(v) && chars_of(v) >= c.min && chars_of(v) <= c.max) << c.schema << ": " << text;
    }
  }
}

TEST(SchemaPrefix, MultipleOfHoldsNumbersToWholeMultiplesInRange) {
  struct Case {
    const char* schema;  // of "v"
    int64_t m, lo, hi;
  };
  const int64_t big = 999999999999999;  // (kMaxBoundedDigits digits)
  std::mt19937 rng(4);
  for (const Case& c : std::vector<Case>{
           {R"({"type": "integer", "multipleOf": 5, "minimum": -23, "maximum": 47})", 5, -23, 47},
           {R"({"type": "number", "multipleOf": 3})", 3, -big, big},
           {R"({"type": "integer", "multipleOf": 4, "exclusiveMaximum": 0})", 4, -big, -1},
           {R"({"multipleOf": 1000000007, "minimum": 1})", 1000000007, 1, big},
           {R"({"type": "integer", "multipleOf": 10, "minimum": 95, "maximum": 105})", 10, 95, 105},
       }) {
    const auto schema = compile(std::string(R"({"type": "object", "properties": {"v": )") + c.schema +
                                R"(}, "required": ["v"], "additionalProperties": false})");
    const auto valid = [&](int64_t v) { return v >= c.lo && v <= c.hi && v % c.m == 0; };
    std::vector<std::string> texts = {"1.5", "-0", "0.0", "3e0", "1000000007", "2000000014", "-1000000007", "100"};
    for (int v = -300; v <= 300; ++v) texts.push_back(std::to_string(v));
    for (const std::string& t : texts) {
      bool complete = false;
      const bool accepted = first_refused(schema, R"({"v":)" + t + "}", &complete) < 0 && complete;
      const bool plain_integer = t.find_first_of(".e") == std::string::npos && t != "-0";
      if (accepted) { EXPECT_TRUE(plain_integer || t == "-0") << c.schema << ": " << t; }
      if (plain_integer) { EXPECT_EQ(accepted, valid(std::stoll(t))) << c.schema << ": " << t; }
    }
    for (int walk = 0; walk < 200; ++walk) {
      SchemaPrefix p(schema);
      ASSERT_TRUE(p.feed(R"({"v":)"));
      const std::string text = walk_bytes(p, R"({"v":)", rng, '}', 4, 80);
      const nlohmann::json v = nlohmann::json::parse(text)["v"];
      ASSERT_TRUE(v.is_number_integer()) << text;
      EXPECT_TRUE(valid(v.get<int64_t>())) << c.schema << ": " << text;
    }
  }
}

// Whether a JSON number's text is a multiple of p / 10^k in [lo, hi], in exact decimal arithmetic.
bool decimal_multiple_in(const std::string& text, int64_t p, int k, double lo, double hi) {
  const size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot), frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (text.find_first_of("eE") != std::string::npos || frac.size() > 12) return false;
  // text = n / 10^frac.size(); a multiple of p / 10^k iff n * 10^k is a multiple of p * 10^frac.size()
  __int128 n = 0, scale = 1;
  for (char c : whole + frac)
    if (c != '-') n = n * 10 + (c - '0');
  for (size_t i = 0; i < frac.size(); ++i) scale *= 10;
  for (int i = 0; i < k; ++i) n *= 10;
  const double v = std::stod(text);
  return n % (p * scale) == 0 && v >= lo && v <= hi;
}

TEST(SchemaPrefix, FractionalMultipleOfHoldsNumbersToExactDecimalMultiples) {
  struct Case {
    const char* schema;  // of "v"
    int64_t p;
    int k;
    double lo, hi;
    std::vector<std::string> taken;  // must be accepted whole
  };
  const double big = 1e15;
  std::mt19937 rng(8);
  for (const Case& c : std::vector<Case>{
           {R"({"type": "number", "multipleOf": 0.01, "minimum": 0, "maximum": 100})", 1, 2, 0, 100,
            {"0", "0.07", "0.29", "1.15", "99.99", "100", "4.5", "0.0"}},
           {R"({"type": "number", "multipleOf": 0.3, "minimum": -1, "maximum": 1})", 3, 1, -1, 1,
            {"0", "0.3", "0.6", "0.9", "-0.3", "-0.9", "-0"}},
           {R"({"type": "number", "multipleOf": 0.25})", 25, 2, -big, big, {"12.75", "12.5", "3", "-7.25", "0.0"}},
           {R"({"type": "integer", "multipleOf": 0.5, "maximum": 10})", 5, 1, -big, 10, {"7", "-3", "10"}},
           {R"({"type": "number", "multipleOf": 0.3, "minimum": 1, "maximum": 2.9})", 3, 1, 1, 2.9,
            {"1.2", "1.5", "1.8"}},
           {R"({"type": "number", "multipleOf": 0.001, "exclusiveMinimum": 0})", 1, 3, 1e-9, big, {"1.001", "2.718", "31.4"}},
       }) {
    const auto schema = compile(std::string(R"({"type": "object", "properties": {"v": )") + c.schema +
                                R"(}, "required": ["v"], "additionalProperties": false})");
    const auto accepted = [&](const std::string& t) {
      bool complete = false;
      return first_refused(schema, R"({"v":)" + t + "}", &complete) < 0 && complete;
    };
    for (const std::string& t : c.taken) EXPECT_TRUE(accepted(t)) << c.schema << ": " << t;
    // Never a number that is not an exact multiple in range: every text of up to 4 fraction digits here.
    std::vector<std::string> texts = {"1e0", "0.001", "0.010", "2.1", "2", "1", "-1", "100.5", "12.7", "0.5", "7.5"};
    for (int w = -3; w <= 3; ++w)
      for (int f = 0; f < 1000; f += (f < 100 ? 1 : 7))
        for (const char* fmt : {"%d.%d", "%d.%02d", "%d.%03d"}) {
          char buf[32];
          std::snprintf(buf, sizeof buf, fmt, std::abs(w), f);
          texts.push_back(w < 0 ? std::string("-").append(buf) : std::string(buf));
        }
    for (const std::string& t : texts)
      if (accepted(t)) { EXPECT_TRUE(decimal_multiple_in(t, c.p, c.k, c.lo, c.hi) || t == "-0") << c.schema << ": " << t; }
    // Random walks: never a dead end, always a multiple in range.
    for (int walk = 0; walk < 300; ++walk) {
      SchemaPrefix p(schema);
      ASSERT_TRUE(p.feed(R"({"v":)"));
      const std::string text = walk_bytes(p, R"({"v":)", rng, '}', 4, 80);
      std::string v = text.substr(5, text.size() - 6);  // (without the whitespace around it)
      v = v.substr(v.find_first_not_of(" \t\n\r"));
      v = v.substr(0, v.find_first_of(" \t\n\r"));
      EXPECT_TRUE(decimal_multiple_in(v, c.p, c.k, c.lo, c.hi) || v == "-0") << c.schema << ": " << text;
    }
  }
  // A fraction's digits beyond the multiple's own never come, nor an integer part with no multiple.
  const auto cents = compile(R"({"type": "object", "properties": {"v": {"type": "number", "multipleOf": 0.01,
      "minimum": 0, "maximum": 100}}})");
  EXPECT_EQ(first_refused(cents, R"({"v":0.123)"), 9);
  EXPECT_EQ(first_refused(cents, R"({"v":0.120)"), 9);
  EXPECT_EQ(first_refused(cents, R"({"v":100.)"), 8);
  const auto thirds = compile(R"({"type": "object", "properties": {"v": {"type": "number", "multipleOf": 0.3,
      "minimum": 1, "maximum": 2.9}}})");
  EXPECT_EQ(first_refused(thirds, R"({"v":2)"), 5);   // 2 is no multiple, and 2.x is not all in range
  EXPECT_EQ(first_refused(thirds, R"({"v":1.1)"), 7);  // 1.1 cannot end as a multiple of 0.3
  EXPECT_EQ(first_refused(thirds, R"({"v":1})"), 6);
}

TEST(SchemaPrefix, UniqueItemsNeverRepeatAValue) {
  const auto schema = compile(R"({"type": "object", "properties": {
      "s": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
      "e": {"type": "array", "items": {"enum": ["a", "b", 1, 12, true]}, "uniqueItems": true},
      "i": {"type": "array", "items": {"type": "integer"}, "uniqueItems": true},
      "o": {"type": "array", "items": {"type": "object", "properties": {"t": {"type": "array", "items": {"type": "string"},
            "uniqueItems": true}}}}}})");
  for (const std::string doc : {R"({"s":["a","ab","","b"]})", R"({"s":["\u00e9","e"]})", R"({"e":["a",1,12,true,"b"]})",
                                R"({"e":[12,1]})", R"({"s":["a"],"e":["a"]})", R"({"o":[{"t":["x","y"]},{"t":["x"]}]})",
                                R"({"s":[ "a" , "b" ]})", R"({"i":[5,-5,0,50,-51,1,10,11,12,13,14,15,16,17,18,19,100]})"}) {
    bool complete = false;
    EXPECT_EQ(first_refused(schema, doc, &complete), -1) << doc;
    EXPECT_TRUE(complete) << doc;
  }
  // The same value again is refused where it would end (strings: at the closing quote, as long as the text
  // can still go on; escapes and raw UTF-8 are the same value), or where no new literal can begin.
  struct Case {
    std::string text;
    size_t refused_at;  // counted from the end of text
  };
  for (const Case& c : std::vector<Case>{
           {R"({"s":["a","a")", 0},
           {R"({"s":["a","\u0061")", 0},
           {R"({"s":["\u00E9","\u00e9")", 0},
           {R"({"s":["","")", 0},
           {R"({"s":["é","\u00e9")", 0},
           {"{\"s\":[\"\xf0\x9f\x98\x80\",\"\\ud83d\\ude00\"", 0},
           {R"({"s":["\n","\u000a")", 0},
           {R"({"e":["a","a)", 0},
           {R"({"e":[1,1])", 0},
           {R"({"e":[1,12,1)", 0},
           {R"({"e":[true,t)", 0},
           {R"({"e":["a","b",1,12,true,)", 0},
           {R"({"o":[{"t":["x","x")", 0},
           {R"({"i":[1,2,1])", 0},
           {R"({"i":[0,0)", 0},
           {R"({"i":[0,-0)", 0},
           {R"({"i":[-7,-7,)", 0},
           {R"({"i":[1,1234567890123456789)", 0},  // (18 digits at most)
           {R"({"i":[123456789012345678,123456789012345678)", 0},  // (and no digit can follow)
       }) {
    EXPECT_EQ(first_refused(schema, c.text), static_cast<int64_t>(c.text.size() - 1 - c.refused_at)) << c.text;
  }
  // Random walks: never a dead end, never a repeated item (compared as parsed values).
  std::mt19937 rng(11);
  int items = 0;
  for (int walk = 0; walk < 300; ++walk) {
    SchemaPrefix p(schema);
    const std::string text = walk_bytes(p, "", rng, '"', 3, 400);
    const nlohmann::json v = nlohmann::json::parse(text);
    for (const char* key : {"s", "e", "i"}) {
      if (!v.contains(key)) continue;
      const auto& a = v[key];
      items += static_cast<int>(a.size());
      for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = i + 1; j < a.size(); ++j) EXPECT_NE(a[i], a[j]) << text;
    }
  }
  EXPECT_GT(items, 150);
}

TEST(SchemaPrefix, SurrogateEscapesComeInPairsAndCountAsOneCharacter) {
  const auto schema = compile(R"({"type": "object", "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 3},
      "m": {"type": "object", "additionalProperties": {"type": "integer"}}}})");
  bool complete = false;
  for (const std::string doc : {R"({"s":"\ud83d\ude00\uD83D\uDE00"})", R"({"s":"a\ud83d\ude00b"})", R"({"m":{"\udbff\udfff":1}})"}) {
    EXPECT_EQ(first_refused(schema, doc, &complete), -1) << doc;
    EXPECT_TRUE(complete) << doc;
  }
  for (const std::string text : {  // each refused at its last byte
           R"({"s":"\ude)",                        // a low surrogate alone
           R"({"s":"ab\ud83d")",                   // a high one alone
           R"({"s":"ab\ud83dx)", R"({"s":"ab\ud83d\n)", R"({"s":"ab\ud83d\ud8)",  // not followed by a low one
           R"({"s":"\ud83d\ude00")",               // one character: minLength 2
           R"({"s":"ab\ud83d\ude00\)",             // maxLength 3 (the pair was the third)
           R"({"m":{"\ud83d")",
       }) {
    EXPECT_EQ(first_refused(schema, text), static_cast<int64_t>(text.size()) - 1) << text;
  }
  // Walks that favour escapes: each answer parses with a strict parser (nlohmann refuses lone surrogates)
  // and has 2 or 3 characters.
  const auto short_string = compile(R"({"type": "object", "properties": {"s": {"type": "string", "minLength": 2,
      "maxLength": 3}}, "required": ["s"], "additionalProperties": false})");
  std::mt19937 rng(12);
  int pairs = 0;
  for (int walk = 0; walk < 2000; ++walk) {
    SchemaPrefix p(short_string);
    std::string text = R"({"s":")";
    ASSERT_TRUE(p.feed(text));
    while (!p.complete() && text.size() < 200) {
      std::string ok;
      for (int c = 0; c < 256; ++c)
        if (p.takes(std::string(1, static_cast<char>(c)))) ok += static_cast<char>(c);
      ASSERT_FALSE(ok.empty()) << "a dead end after " << text;
      std::string favoured;
      for (char c : ok)
        if (std::string("\\udDbB89\"}").find(c) != std::string::npos) favoured += c;
      const std::string& from = !favoured.empty() && rng() % 8 ? favoured : ok;
      text += from[rng() % from.size()];
      ASSERT_TRUE(p.feed(text.substr(text.size() - 1)));
    }
    ASSERT_TRUE(p.complete()) << text;
    const std::u32string chars = [&] {
      const std::string v = nlohmann::json::parse(text)["s"];
      std::u32string out;
      for (size_t i = 0; i < v.size(); ++i)
        if ((static_cast<uint8_t>(v[i]) & 0xC0) != 0x80) out += static_cast<char32_t>(static_cast<uint8_t>(v[i]));
      return out;
    }();
    EXPECT_GE(chars.size(), 2u) << text;
    EXPECT_LE(chars.size(), 3u) << text;
    if (text.find("\\uD") != std::string::npos || text.find("\\ud") != std::string::npos) ++pairs;
  }
  EXPECT_GT(pairs, 20);
}

TEST(SchemaPrefix, MapKeysFollowPropertyNamesAndPatternProperties) {
  // pydantic: dict[Literal["x", "y"], int] and dict[constr(pattern="^[a-z]+$", max_length=5), int]
  const auto schema = compile(R"({"type": "object", "properties": {
      "a": {"additionalProperties": {"type": "integer"}, "propertyNames": {"enum": ["x", "y"]}, "type": "object"},
      "b": {"patternProperties": {"^[a-z]+$": {"type": "integer"}}, "propertyNames": {"maxLength": 5}, "type": "object"},
      "c": {"type": "object", "propertyNames": {"format": "date"}, "additionalProperties": false}}})");
  bool complete = false;
  for (const std::string doc : {R"({"a":{"x":1,"y":2},"b":{"abc":1,"z":-3},"c":{}})", R"({"a":{},"b":{"abcde":0}})",
                                R"({"c":{}})"}) {
    EXPECT_EQ(first_refused(schema, doc, &complete), -1) << doc;
    EXPECT_TRUE(complete) << doc;
  }
  for (const std::string text : {R"({"a":{"z)", R"({"a":{"x":")", R"({"b":{"abcdef)", R"({"b":{"A)", R"({"b":{"")",
                                 R"({"b":{"ab":")", R"({"c":{")"}) {  // each refused at its last byte
    EXPECT_EQ(first_refused(schema, text), static_cast<int64_t>(text.size()) - 1) << text;
  }
  // Random walks: every key follows the key schema.
  std::mt19937 rng(13);
  int keys = 0;
  for (int walk = 0; walk < 300; ++walk) {
    SchemaPrefix p(schema);
    const nlohmann::json v = nlohmann::json::parse(walk_bytes(p, "", rng, '"', 3, 400));
    if (v.contains("a"))
      for (const auto& [k, x] : v["a"].items()) EXPECT_TRUE(k == "x" || k == "y") << k;
    if (v.contains("b"))
      for (const auto& [k, x] : v["b"].items()) {
        EXPECT_TRUE(k.size() >= 1 && k.size() <= 5 && k.find_first_not_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos) << k;
        ++keys;
      }
    if (v.contains("c")) EXPECT_TRUE(v["c"].empty());
  }
  EXPECT_GT(keys, 50);
}

TEST(SchemaPrefix, TuplesHoldEachPositionToItsSchema) {
  const auto pair = compile(R"({"type": "object", "properties": {"t": {"type": "array", "minItems": 2,
      "prefixItems": [{"type": "integer"}, {"enum": ["x", "y"]}], "items": false}}, "required": ["t"]})");
  const auto rest = compile(R"({"type": "object", "properties": {"t": {"type": "array",
      "prefixItems": [{"type": "string"}], "items": {"type": "integer"}}}, "required": ["t"]})");
  const auto old = compile(R"({"type": "object", "properties": {"t": {"type": "array",
      "items": [{"type": "boolean"}], "additionalItems": false}}, "required": ["t"]})");
  bool complete = false;
  for (const auto& [schema, doc] : std::vector<std::pair<std::shared_ptr<const JsonSchema>, std::string>>{
           {pair, R"({"t":[1,"x"]})"}, {pair, R"({"t":[ -7 , "y" ]})"}, {rest, R"({"t":["a",1,2]})"}, {rest, R"({"t":[]})"},
           {rest, R"({"t":["a"]})"}, {old, R"({"t":[true]})"}, {old, R"({"t":[]})"}}) {
    EXPECT_EQ(first_refused(schema, doc, &complete), -1) << doc;
    EXPECT_TRUE(complete) << doc;
  }
  for (const auto& [schema, accepted, refused] : std::vector<std::tuple<std::shared_ptr<const JsonSchema>, std::string, std::string>>{
           {pair, R"({"t":[)", R"(")"}, {pair, R"({"t":[1,"x")", ","}, {pair, R"({"t":[1)", "]"}, {pair, R"({"t":[1,)", "2"},
           {rest, R"({"t":["a",)", R"(")"}, {rest, R"({"t":[)", "1"}, {old, R"({"t":[true)", ","}}) {
    EXPECT_EQ(first_refused(schema, accepted + refused), static_cast<int64_t>(accepted.size())) << accepted << refused;
  }
}

TEST(SchemaPrefix, BoundedNumbersStayInRangeAndNeverDeadEnd) {
  struct Bound {
    const char* schema;  // of "v"
    double lo, hi;       // the range, and whether its ends are in it
    bool lo_in, hi_in;
    std::vector<const char*> fractions;  // accepted too (in a unit interval that is in range)
  };
  const double inf = INFINITY;
  std::mt19937 rng(9);
  for (const Bound& b : std::vector<Bound>{
           {R"({"type": "integer", "minimum": -5, "maximum": 12})", -5, 12, true, true, {}},
           {R"({"type": "integer", "exclusiveMinimum": 0})", 0, inf, false, true, {}},
           {R"({"type": "integer", "minimum": 100, "maximum": 100})", 100, 100, true, true, {}},
           {R"({"type": "integer", "maximum": -3.5})", -inf, -3.5, true, true, {}},
           {R"({"type": "number", "minimum": 0, "maximum": 1})", 0, 1, true, true, {"0.5", "0.999"}},
           {R"({"type": "number", "exclusiveMinimum": -2.5, "exclusiveMaximum": 3})", -2.5, 3, false, false, {"-1.25", "2.9", "-0.5"}},
           {R"({"type": "number", "maximum": -0.5})", -inf, -0.5, true, true, {"-2.4", "-1.25"}},
       }) {
    const auto schema = compile(std::string(R"({"type": "object", "properties": {"v": )") + b.schema +
                                R"(}, "required": ["v"], "additionalProperties": false})");
    const bool integer = std::string(b.schema).find("integer") != std::string::npos;
    const auto in_range = [&](double v) {
      return (v > b.lo || (b.lo_in && v == b.lo)) && (v < b.hi || (b.hi_in && v == b.hi));
    };
    // Every integer in range is accepted; nothing accepted is out of range.
    std::vector<std::string> texts = {"0.5", "-0.5", "0.999", "1.0", "-0", "-0.0", "2.9", "-2.4", "-1.25", "3e0", "0.1e1", "12.5"};
    for (int v = -300; v <= 300; ++v) texts.push_back(std::to_string(v));
    for (const std::string& t : texts) {
      bool complete = false;
      const bool accepted = first_refused(schema, R"({"v":)" + t + "}", &complete) < 0 && complete;
      const double v = std::strtod(t.c_str(), nullptr);
      if (accepted) { EXPECT_TRUE(in_range(v)) << b.schema << ": " << t; }
      if (in_range(v) && t.find_first_of(".e") == std::string::npos && t != "-0") {
        EXPECT_TRUE(accepted) << b.schema << ": " << t;
      }
      if (integer && t.find('.') != std::string::npos) { EXPECT_FALSE(accepted) << t; }
    }
    for (const char* t : b.fractions) {
      bool complete = false;
      EXPECT_TRUE(first_refused(schema, std::string(R"({"v":)") + t + "}", &complete) < 0 && complete) << b.schema << ": " << t;
    }
    // Random walks over single bytes: some byte may always come until the value is complete.
    for (int walk = 0; walk < 200; ++walk) {
      SchemaPrefix p(schema);
      std::string text = R"({"v":)";
      ASSERT_TRUE(p.feed(text));
      while (!p.complete()) {
        std::string ok;
        for (int c = 0; c < 256; ++c)
          if (p.takes(std::string(1, static_cast<char>(c)))) ok += static_cast<char>(c);
        ASSERT_FALSE(ok.empty()) << b.schema << ": a dead end after " << text;
        const char c = ok.find('}') != std::string::npos && rng() % 4 == 0 ? '}' : ok[rng() % ok.size()];
        text += c;
        ASSERT_TRUE(p.feed(std::string(1, c)));
        ASSERT_LT(text.size(), 80u) << text;
      }
      const double v = nlohmann::json::parse(text)["v"].get<double>();
      EXPECT_TRUE(in_range(v)) << b.schema << ": " << text;
    }
  }
  EXPECT_NE(compile_error(R"({"type": "object", "properties": {"p": {"type": "number", "minimum": 0.2, "maximum": 0.4}}})")
                .find("no integer lies within its bounds"),
            std::string::npos);
}

TEST(SchemaPrefix, FollowsAlternativesThatStartAlike) {
  // Two object alternatives: which one it is shows only at the key; a string and a string enum likewise.
  const auto schema = compile(R"({"type": "object", "required": ["shape"], "properties": {"shape": {"anyOf": [
      {"type": "object", "required": ["radius"], "properties": {"radius": {"type": "number"}}, "additionalProperties": false},
      {"type": "object", "required": ["side"], "properties": {"side": {"type": "integer"}}, "additionalProperties": false},
      {"enum": ["none"]}, {"type": "string", "maxLength": 2}]}}, "additionalProperties": false})");
  bool complete = false;
  for (const char* doc : {R"({"shape":{"radius":1.5}})", R"({"shape":{"side":2}})", R"({"shape":"none"})", R"({"shape":"no"})"}) {
    EXPECT_EQ(first_refused(schema, doc, &complete), -1) << doc;
    EXPECT_TRUE(complete) << doc;
  }
  EXPECT_EQ(first_refused(schema, R"({"shape":{"side":2.5)"), 18) << "the side is an integer";
  EXPECT_EQ(first_refused(schema, R"({"shape":"nonsense")"), 13) << "neither 'none' nor at most 2 characters";
  EXPECT_EQ(first_refused(schema, R"({"shape":{"radius":1,"side":2)"), 20) << "one alternative per value";
}

// A random text along a pattern's DFA: random bytes for a while, then towards an accepting state.
std::string pattern_text(const ByteDfa& d, std::mt19937& rng) {
  std::vector<int> dist(d.next.size(), 1 << 20);  // bytes to an accepting state
  for (size_t s = 0; s < d.next.size(); ++s)
    if (d.accepting[s]) dist[s] = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t s = 0; s < d.next.size(); ++s)
      for (int32_t t : d.next[s])
        if (t >= 0 && dist[t] + 1 < dist[s]) {
          dist[s] = dist[t] + 1;
          changed = true;
        }
  }
  std::string out;
  for (int32_t s = d.start, step = 0;; ++step) {
    if (d.accepting[s] && (step >= 12 || rng() % 3 == 0)) return out;
    std::vector<int> bytes;
    for (int c = 0; c < 256; ++c)
      if (d.next[s][c] >= 0 && (step < 12 || dist[d.next[s][c]] < dist[s])) bytes.push_back(c);
    if (bytes.empty()) return out;  // (an accepting state with nothing after it)
    const int c = bytes[rng() % bytes.size()];
    out += static_cast<char>(c);
    s = d.next[s][c];
  }
}

// A random value of a compiled node, as generation makes them: listed keys in order, optional ones at random.
std::string instance(const JsonSchema& s, uint32_t id, std::mt19937& rng, int depth) {
  const SchemaNode& n = s.nodes[id];
  const auto ws = [&] {  // as json_space_takes allows: nothing, a space, or a newline and an indent
    switch (rng() % 6) {
      case 0: return std::string(" ");
      case 1: return "\n" + std::string("  \t   ").substr(0, rng() % 5);
      default: return std::string();
    }
  };
  switch (n.kind) {
    case Kind::kObject: {
      std::vector<std::string> parts;
      if (!n.properties.empty()) {
        for (const auto& p : n.properties)
          if (p.required || (rng() % 2 && depth + s.nodes[p.node].min_depth < JsonSchema::kMaxDepth))
            parts.push_back(p.key + ws() + ":" + ws() + instance(s, p.node, rng, depth + 1));
      } else if (n.additional >= 0) {
        for (int i = rng() % 3; i > 0 && depth + s.nodes[n.additional].min_depth < 8; --i)
          parts.push_back("\"k" + std::to_string(i) + "\":" + instance(s, static_cast<uint32_t>(n.additional), rng, depth + 1));
      }
      std::string out = "{" + ws();
      for (size_t i = 0; i < parts.size(); ++i) out += (i ? "," + ws() : "") + parts[i] + ws();
      return out + "}";
    }
    case Kind::kArray: {
      uint32_t count = n.min_items + rng() % 3;
      if (depth + s.nodes[n.items].min_depth >= 8) count = n.min_items;
      count = std::min(count, n.max_items);
      std::string out = "[" + ws();
      for (uint32_t i = 0; i < count; ++i) {
        const uint32_t item = i < n.prefix_items.size() ? n.prefix_items[i] : n.items;
        out += (i ? "," + ws() : "") + instance(s, item, rng, depth + 1) + ws();
      }
      return out + "]";
    }
    case Kind::kString: {
      if (n.pattern) {  // (with length limits: the first of some random texts that has an allowed length)
        std::string text = pattern_text(*n.pattern, rng);
        for (int i = 0; i < 1000 && (chars_of(text) < n.min_length || chars_of(text) > n.max_length); ++i)
          text = pattern_text(*n.pattern, rng);
        return "\"" + text + "\"";
      }
      const uint32_t max = std::min<uint32_t>(n.max_length, n.min_length + 4);
      const uint32_t len = n.min_length + (max > n.min_length ? rng() % (max - n.min_length + 1) : 0);
      std::string out = "\"";
      for (uint32_t i = 0; i < len; ++i) out += std::vector<std::string>{"a", " ", "\\n", "\\\"", "\xc3\xa9", "\\u00e9", "\xf0\x9f\x99\x82"}[rng() % 7];
      return out + "\"";
    }
    case Kind::kNumber:
      if (n.multiple_of > 1) return std::to_string(n.multiple_of * (static_cast<int64_t>(rng() % 41) - 20));
      return n.integer ? std::to_string(static_cast<int>(rng() % 2001) - 1000) : std::vector<std::string>{"0", "-1.5", "2e10", "3.25E-2"}[rng() % 4];
    case Kind::kLiterals: return n.literals[rng() % n.literals.size()];
    case Kind::kAnyOf: {
      std::vector<uint32_t> ok;
      for (uint32_t o : n.options)
        if (depth + s.nodes[o].min_depth < 8 || s.nodes[o].min_depth == n.min_depth) ok.push_back(o);
      return instance(s, ok[rng() % ok.size()], rng, depth);
    }
  }
  return "";
}

TEST(SchemaPrefix, AcceptsEveryPrefixOfGeneratedInstances) {
  const char* schemas[] = {
      kOrder,
      R"({"type": "object"})",
      R"({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
          "meta": {"type": "object", "additionalProperties": {"type": ["integer", "null"]}},
          "when": {"type": "string", "minLength": 2}, "score": {"type": "number"}}, "required": ["when"]})",
      R"({"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "id": {"format": "uuid"},
          "code": {"type": ["string", "null"], "pattern": "^[A-Z]{2,3}-\\d+$"}, "ip": {"type": "string", "format": "ipv4"},
          "any": {"type": "string", "pattern": "ab"}}, "required": ["when", "code"]})",
      R"({"type": "object", "properties": {"pair": {"type": "array", "prefixItems": [{"type": "integer", "multipleOf": 7},
          {"type": "string", "pattern": "^[A-Z]{2,3}-\\d+$", "maxLength": 6}], "items": {"type": "boolean"}, "minItems": 2},
          "old": {"type": "array", "items": [{"const": 1}], "additionalItems": {"type": "null"}}}, "required": ["pair"]})",
      R"({"$defs": {"Node": {"type": "object", "properties": {"v": {"enum": [1, "x", null, true, [1, 2], {"a": "b"}]},
          "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}, "maxItems": 2}}, "required": ["v"]}},
          "$ref": "#/$defs/Node"})",
  };
  std::mt19937 rng(5);
  for (const char* text : schemas) {
    const auto schema = compile(text);
    for (int iter = 0; iter < 200; ++iter) {
      const std::string doc = instance(*schema, schema->root, rng, 1);
      ASSERT_TRUE(nlohmann::json::accept(doc)) << doc;
      bool complete = false;
      ASSERT_EQ(first_refused(schema, doc, &complete), -1) << text << "\n" << doc;
      EXPECT_TRUE(complete) << doc;
    }
  }
}

// Whether a parsed value follows a compiled node (a restatement of the compiler's semantics, for the walk).
bool follows(const JsonSchema& s, uint32_t id, const nlohmann::json& v) {
  const SchemaNode& n = s.nodes[id];
  switch (n.kind) {
    case Kind::kObject: {
      if (!v.is_object()) return false;
      if (n.properties.empty()) {
        if (n.additional < 0) return v.empty();
        for (const auto& [k, x] : v.items())
          if (!follows(s, static_cast<uint32_t>(n.additional), x)) return false;
        return true;
      }
      size_t seen = 0;
      for (const auto& p : n.properties) {
        const std::string name = nlohmann::json::parse(p.key).get<std::string>();
        if (!v.contains(name)) {
          if (p.required) return false;
          continue;
        }
        ++seen;
        if (!follows(s, p.node, v[name])) return false;
      }
      return seen == v.size();
    }
    case Kind::kArray: {
      if (!v.is_array() || v.size() < n.min_items || v.size() > n.max_items) return false;
      for (size_t i = 0; i < v.size(); ++i)
        if (!follows(s, i < n.prefix_items.size() ? n.prefix_items[i] : n.items, v[i])) return false;
      return true;
    }
    case Kind::kString: {
      if (!v.is_string()) return false;
      const std::string& str = v.get_ref<const std::string&>();
      if (n.pattern && !n.pattern->matches(str)) return false;
      return chars_of(str) >= n.min_length && chars_of(str) <= n.max_length;
    }
    case Kind::kNumber:  // (nlohmann reads integers past 64 bits as floating point)
      if (n.multiple_of > 1 && (!v.is_number_integer() || v.get<int64_t>() % n.multiple_of != 0)) return false;
      return v.is_number() && (!n.integer || v.is_number_integer() || std::floor(v.get<double>()) == v.get<double>());
    case Kind::kLiterals: return std::find(n.literals.begin(), n.literals.end(), v.dump()) != n.literals.end();
    case Kind::kAnyOf:
      return std::any_of(n.options.begin(), n.options.end(), [&](uint32_t o) { return follows(s, o, v); });
  }
  return false;
}

TEST(JsonSchemaConstraint, RandomWalksOnTheRealVocabularyNeverDeadEndAndFollowTheSchema) {
  const auto tok = load_tokenizer(std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3");
  ASSERT_TRUE(tok);
  const auto vocab = ConstraintVocab::from(*tok);
  const auto schema = compile(kOrder);
  std::mt19937 rng(3);
  std::vector<float> logits(static_cast<size_t>(tok->n_vocab()));
  int completed = 0;
  for (int walk = 0; walk < 12; ++walk) {
    JsonSchemaConstraint c(vocab, schema);
    std::string text;
    for (int step = 0; step < 200 && !c.complete(); ++step) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      ASSERT_GT(c.mask(logits.data(), tok->n_vocab()), 0) << "a dead end after " << text;
      // Half the time a token with JSON punctuation (so strings and values end), else any allowed one.
      std::vector<int32_t> any, punct;
      for (int32_t id = 0; id < tok->n_vocab(); ++id) {
        if (std::isinf(logits[id])) continue;
        any.push_back(id);
        if (vocab->bytes[id].find_first_of("\"{}[],:0123456789") != std::string::npos) punct.push_back(id);
      }
      const auto& from = !punct.empty() && rng() % 2 ? punct : any;
      const int32_t id = from[rng() % from.size()];
      ASSERT_TRUE(c.accept(id));
      text += vocab->bytes[id];
    }
    if (!c.complete()) continue;
    ++completed;
    ASSERT_TRUE(nlohmann::json::accept(text)) << text;
    EXPECT_TRUE(follows(*schema, schema->root, nlohmann::json::parse(text))) << text;
  }
  EXPECT_GE(completed, 8);
}

// The mask's fast paths (first-byte filters, plain text inside strings and patterns) against the recognizer
// asked token by token, at places inside pattern strings with length limits.
TEST(JsonSchemaConstraint, MaskAgreesWithTheRecognizerInsidePatternStrings) {
  const auto tok = load_tokenizer(std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3");
  ASSERT_TRUE(tok);
  const auto vocab = ConstraintVocab::from(*tok);
  const auto schema = compile(R"({"type": "object", "required": ["site", "mail", "code"], "additionalProperties": false,
      "properties": {"site": {"type": "string", "format": "uri", "maxLength": 30}, "mail": {"type": "string", "format": "email"},
                     "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$", "minLength": 4, "maxLength": 6}}})");
  for (const std::string prefix : {R"({"site":"https://a)", R"({"site":"http://example.com/abcdefghij)",
                                   R"({"site":"http://a.io","mail":"jo.)", R"({"site":"http://a.io","mail":"a@b.c)",
                                   R"({"site":"http://a.io","mail":"a@b.co","code":"AB-1)"}) {
    JsonSchemaConstraint c(vocab, schema);
    SchemaPrefix reference(schema);
    ASSERT_TRUE(reference.feed(prefix));
    for (char ch : prefix) ASSERT_TRUE(c.accept(*tok->find_token(std::string(1, ch)))) << prefix;
    std::vector<float> logits(static_cast<size_t>(tok->n_vocab()), 0.0f);
    c.mask(logits.data(), tok->n_vocab());
    int allowed = 0;
    for (int32_t id = 0; id < tok->n_vocab(); ++id) {
      const std::string& b = vocab->bytes[id];
      const bool expected = !vocab->added[id] && !b.empty() && reference.takes(b);
      ASSERT_EQ(!std::isinf(logits[id]), expected) << prefix << " then token " << id << " '" << b << "'";
      allowed += expected;
    }
    EXPECT_GT(allowed, 0) << prefix;
  }
}

// Schemas mutated at random (keywords set to random values, keys dropped): each compiles or is an Error, never
// another exception or a crash; and what compiles never leaves a walk without a next byte.
TEST(JsonSchema, MutatedSchemasCompileOrFailCleanlyAndNeverDeadEnd) {
  const std::vector<ojson> values = {
      "string", "integer", "number", "object", "array", "boolean", "null", -1, 0, 1, 3, 100, 0.5, -2.5, true, false,
      "^a+$", "(", "x{2}", "date", "email", ojson::array(), ojson::array({"a"}), ojson::array({1, "x"}), ojson::object(),
      ojson::parse(R"({"$ref": "#/$defs/Item"})"), ojson::parse(R"({"type": "string"})"), ojson::parse(R"([{"type": "null"}, {}])"),
      ojson::parse(R"({"$ref": "#"})"), ojson::parse(R"(["kind"])")};
  const char* keys[] = {"type", "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
                        "pattern", "format", "enum", "const", "required", "additionalProperties", "items", "anyOf",
                        "$ref", "nullable", "properties", "allOf", "multipleOf", "prefixItems", "additionalItems",
                        "uniqueItems"};
  std::mt19937 rng(21);
  std::function<void(ojson&, int)> mutate = [&](ojson& j, int depth) {
    if (j.is_array())
      for (auto& x : j) mutate(x, depth + 1);
    if (!j.is_object()) return;
    for (auto& [k, v] : j.items()) mutate(v, depth + 1);
    if (rng() % 8 == 0) j[keys[rng() % std::size(keys)]] = values[rng() % values.size()];
    if (rng() % 10 == 0 && !j.empty()) j.erase(std::next(j.begin(), static_cast<long>(rng() % j.size())).key());
  };
  int compiled = 0, refused = 0;
  for (int iter = 0; iter < 600; ++iter) {
    ojson schema = ojson::parse(kOrder);
    mutate(schema, 0);
    std::shared_ptr<const JsonSchema> s;
    try {
      s = JsonSchema::compile(schema);
    } catch (const Error&) {
      ++refused;
      continue;
    }
    ++compiled;
    for (int walk = 0; walk < 2; ++walk) {
      SchemaPrefix p(s);
      std::string text;
      for (int step = 0; step < 40 && !p.complete(); ++step) {
        std::string ok;
        for (int c = 0; c < 256; ++c)
          if (p.takes(std::string(1, static_cast<char>(c)))) ok += static_cast<char>(c);
        ASSERT_FALSE(ok.empty()) << schema.dump() << "\n a dead end after " << text;
        text += ok[rng() % ok.size()];
        ASSERT_TRUE(p.feed(text.substr(text.size() - 1)));
      }
    }
  }
  EXPECT_GT(compiled, 100);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace dsinfer
