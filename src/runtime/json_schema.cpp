#include "runtime/json_schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <string_view>
#include <tuple>

#include "util/error.h"

namespace dsinfer {
namespace {

using ojson = nlohmann::ordered_json;
using Kind = SchemaNode::Kind;

// Keywords that describe a value without constraining it (discriminator: OpenAPI's hint beside a oneOf, which
// pydantic writes for tagged unions; the oneOf alone holds the value).
const std::set<std::string, std::less<>> kAnnotations = {
    "title",      "description", "default",   "examples",  "$schema",         "$id",             "$comment",
    "deprecated", "readOnly",    "writeOnly", "discriminator", "contentEncoding", "contentMediaType", "contentSchema",
};
// Keywords that hold definitions, not constraints on the value itself.
const std::set<std::string, std::less<>> kContainers = {"$defs", "definitions"};
const std::set<std::string, std::less<>> kConstraints = {
    "type",     "properties", "required",   "additionalProperties", "items",      "prefixItems",
    "additionalItems", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength",  "enum",
    "const",    "anyOf",      "oneOf",      "allOf",                "nullable",   "$ref",
    "pattern",  "format",     "minimum",    "maximum",              "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "propertyNames", "patternProperties",
};

bool is_constraint(std::string_view k) { return kConstraints.count(k) > 0; }

SchemaNode of(Kind kind) {
  SchemaNode n;
  n.kind = kind;
  return n;
}

class Compiler {
 public:
  explicit Compiler(const ojson& root) : root_(root) {}

  std::shared_ptr<JsonSchema> run() {
    any_ = add(of(Kind::kAnyOf));  // (its options below: objects and arrays of anything are made of it)
    SchemaNode map = of(Kind::kObject), array = of(Kind::kArray);
    map.additional = any_;
    array.items = any_;
    const uint32_t string = add(of(Kind::kString));
    s_.any_string = string;
    s_.nodes[any_].options = {add(std::move(map)), add(std::move(array)), string, add(of(Kind::kNumber)),
                              literals({"false", "null", "true"})};
    s_.root = compile(root_, "schema");
    link();
    return std::make_shared<JsonSchema>(std::move(s_));
  }

 private:
  const ojson& root_;
  JsonSchema s_;
  uint32_t any_ = 0;
  int depth_ = 0;
  // Compiled patterns and length tables, by pattern (and limits): a model with many date-time fields
  // compiles the format once, and only distinct patterns count against kMaxPatterns.
  std::map<std::string, std::shared_ptr<const ByteDfa>> dfas_;
  std::map<std::tuple<std::string, uint32_t, uint32_t>, std::shared_ptr<const DfaLengths>> lengths_;
  std::map<std::string, uint32_t> refs_;  // $ref -> its placeholder node
  std::vector<int64_t> alias_;            // [nodes] a placeholder's target node, -1 for real nodes
  std::vector<std::pair<uint32_t, std::string>> unique_arrays_;  // arrays with uniqueItems true, where
  std::vector<std::pair<int64_t, std::string>> map_keys_;        // maps' key nodes, where

  uint32_t add(SchemaNode n) {
    if (s_.nodes.size() >= JsonSchema::kMaxNodes) fail("schema: larger than ", JsonSchema::kMaxNodes, " nodes");
    s_.nodes.push_back(std::move(n));
    alias_.push_back(-1);
    return static_cast<uint32_t>(s_.nodes.size() - 1);
  }

  uint32_t literals(std::vector<std::string> texts) {
    std::sort(texts.begin(), texts.end());
    texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
    SchemaNode n = of(Kind::kLiterals);
    n.literals = std::move(texts);
    return add(std::move(n));
  }

  static uint32_t count(const ojson& s, const char* key, const std::string& at, uint32_t fallback) {
    if (!s.contains(key)) return fallback;
    const ojson& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= SchemaNode::kUnbounded)
      fail(at, ": '", key, "' must be a non-negative integer");
    return v.get<uint32_t>();
  }

  // Only annotations (and definitions) may stand beside `keyword`.
  static void alone(const ojson& s, const char* keyword, const std::string& at) {
    for (const auto& [k, v] : s.items())
      if (k != keyword && is_constraint(k)) fail(at, ": '", k, "' next to '", keyword, "' is not supported");
  }

  uint32_t compile(const ojson& s, const std::string& at) {
    // (recursion: schemas in schemas and chains of $refs; the request's JSON nesting is limited already)
    if (depth_ >= JsonSchema::kMaxNesting) fail(at, ": schemas and $refs nested deeper than ", JsonSchema::kMaxNesting);
    ++depth_;
    const uint32_t id = compile_nested(s, at);
    --depth_;
    return id;
  }

  uint32_t compile_nested(const ojson& s, const std::string& at) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail(at, ": the schema false allows no value");
      return any_;
    }
    if (!s.is_object()) fail(at, ": a schema must be an object or a boolean");
    for (const auto& [k, v] : s.items())
      if (!kAnnotations.count(k) && !kContainers.count(k) && !is_constraint(k)) fail(at, ": '", k, "' is not supported");
    if (s.contains("$ref")) {
      alone(s, "$ref", at);
      return ref(s["$ref"], at);
    }
    if (s.contains("nullable")) {
      if (!s["nullable"].is_boolean()) fail(at, ": 'nullable' must be a boolean");
      ojson rest = s;
      rest.erase("nullable");
      const uint32_t value = compile(rest, at);
      return s["nullable"].get<bool>() ? any_of({value, literals({"null"})}) : value;
    }
    if (s.contains("allOf")) {
      alone(s, "allOf", at);
      const ojson& all = s["allOf"];
      if (!all.is_array() || all.size() != 1) fail(at, ": 'allOf' is supported with exactly one schema");
      return compile(all[0], at + ".allOf[0]");
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      alone(s, key, at);
      const ojson& list = s[key];
      if (!list.is_array() || list.empty()) fail(at, ": '", key, "' must be a non-empty array of schemas");
      std::vector<uint32_t> options;
      for (size_t i = 0; i < list.size(); ++i) options.push_back(compile(list[i], cat(at, ".", key, "[", i, "]")));
      return any_of(std::move(options));
    }
    if (s.contains("enum") || s.contains("const")) {
      std::vector<std::string> texts;
      if (s.contains("const")) texts.push_back(s["const"].dump());
      if (s.contains("enum")) {
        const ojson& e = s["enum"];
        if (!e.is_array() || e.empty()) fail(at, ": 'enum' must be a non-empty array");
        for (const ojson& v : e)
          if (!s.contains("const") || v.dump() == texts[0]) texts.push_back(v.dump());
        if (s.contains("const") && texts.size() == 1) fail(at, ": 'const' is not among 'enum'");
      }
      return literals(std::move(texts));
    }
    if (!s.contains("type")) return typed(s, inferred_type(s), at);
    const ojson& type = s["type"];
    if (type.is_string()) return typed(s, type.get<std::string>(), at);
    if (!type.is_array() || type.empty()) fail(at, ": 'type' must be a string or a non-empty array of strings");
    std::vector<uint32_t> options;
    for (const ojson& t : type) {
      if (!t.is_string()) fail(at, ": 'type' must be a string or a non-empty array of strings");
      options.push_back(typed(s, t.get<std::string>(), at));
    }
    return any_of(std::move(options));
  }

  static std::string inferred_type(const ojson& s) {
    for (const char* k : {"properties", "required", "additionalProperties"})
      if (s.contains(k)) return "object";
    for (const char* k : {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems"})
      if (s.contains(k)) return "array";
    for (const char* k : {"minLength", "maxLength", "pattern", "format"})
      if (s.contains(k)) return "string";
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
      if (s.contains(k)) return "number";
    return "";  // anything
  }

  uint32_t any_of(std::vector<uint32_t> options) {
    SchemaNode n = of(Kind::kAnyOf);
    n.options = std::move(options);
    return add(std::move(n));
  }

  uint32_t typed(const ojson& s, const std::string& type, const std::string& at) {
    if (type.empty()) return any_;
    if (type == "null") return literals({"null"});
    if (type == "boolean") return literals({"false", "true"});
    if (type == "integer" || type == "number") {
      SchemaNode n = of(Kind::kNumber);
      n.integer = type == "integer";
      bounds(s, at, n);
      multiple(s, at, n);
      return add(std::move(n));
    }
    if (type == "string") {
      SchemaNode n = of(Kind::kString);
      n.min_length = count(s, "minLength", at, 0);
      n.max_length = count(s, "maxLength", at, SchemaNode::kUnbounded);
      if (s.contains("format") && s["format"].is_string())  // (the format's own limit, if it has one)
        n.max_length = std::min(n.max_length, format_max_length(s["format"].get<std::string>()));
      if (n.min_length > n.max_length) fail(at, ": 'minLength' is larger than 'maxLength'");
      std::string re;
      n.pattern = pattern(s, at, &re);
      if (n.pattern && (n.min_length > 0 || n.max_length != SchemaNode::kUnbounded)) {
        auto& lengths = lengths_[{re, n.min_length, n.max_length}];
        if (!lengths)
          lengths = std::make_shared<const DfaLengths>(
              with_context(at, [&] { return DfaLengths::compute(*n.pattern, n.min_length, n.max_length); }));
        n.lengths = lengths;
        if (!n.lengths->reachable(n.pattern->start, 0, n.min_length, n.max_length))
          fail(at, ": no text of the length 'minLength' and 'maxLength' allow matches its pattern or format");
      }
      return add(std::move(n));
    }
    if (type == "array") return array(s, at);
    if (type == "object") return object(s, at);
    fail(at, ": unknown type '", type, "'");
  }

  // minimum and the like -> the integers in range and the unit intervals in range (SchemaNode).
  static void bounds(const ojson& s, const std::string& at, SchemaNode& n) {
    const long double limit = 1e15L - 1;  // (kMaxBoundedDigits digits)
    long double min_int = -limit, max_int = limit, max_unit = limit, min_unit = -limit;
    n.bounded = s.contains("multipleOf");  // (checked by multiple(); its numbers are bounded ones)
    for (const char* key : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      if (!s.contains(key)) continue;
      if (!s[key].is_number()) fail(at, ": '", key, "' must be a number");
      const long double b = s[key].get<double>();
      const bool exclusive = key[0] == 'e';
      n.bounded = true;
      if (key == std::string("minimum") || key == std::string("exclusiveMinimum")) {
        min_int = std::max(min_int, exclusive ? std::floor(b) + 1 : std::ceil(b));
        min_unit = std::max(min_unit, std::ceil(b) + 1);
      } else {
        max_int = std::min(max_int, exclusive ? std::ceil(b) - 1 : std::floor(b));
        max_unit = std::min(max_unit, std::floor(b) - 1);
      }
    }
    if (!n.bounded) return;
    if (min_int > max_int) fail(at, ": no integer lies within its bounds (which is all a bounded number may be here)");
    const auto clamp = [&](long double v) { return static_cast<int64_t>(std::clamp(v, -limit - 1, limit + 1)); };
    n.min_int = clamp(min_int);
    n.max_int = clamp(max_int);
    n.max_unit = clamp(max_unit);
    n.min_unit = clamp(min_unit);
  }

  // multipleOf m: whole m, or a fraction below 1 with at most kMaxFractionDigits digits (SchemaNode).
  static void multiple(const ojson& s, const std::string& at, SchemaNode& n) {
    if (!s.contains("multipleOf")) return;
    const ojson& m = s["multipleOf"];
    if (!m.is_number() || !(m.get<double>() > 0)) fail(at, ": 'multipleOf' must be a number above 0");
    const double v = m.get<double>();
    const auto refuse = [&] {
      fail(at, ": 'multipleOf' is supported for whole numbers up to ", SchemaNode::kMaxBoundedDigits,
           " digits and for fractions below 1 with at most ", SchemaNode::kMaxFractionDigits, " digits, not ", m.dump());
    };
    if (v == std::floor(v)) {
      if (v > 1e15 - 1) refuse();
      n.multiple_of = static_cast<int64_t>(v);
      n.integer = true;
    } else {
      if (v > 1) refuse();
      const auto [p, k] = shortest_decimal(v);  // v = p / 10^k
      if (k > SchemaNode::kMaxFractionDigits) refuse();
      int64_t scale = 1;
      for (int i = 0; i < k; ++i) scale *= 10;
      n.fraction_multiple = p;
      n.fraction_digits = k;
      n.multiple_of = p / std::gcd(p, scale);
    }
    const int64_t m64 = n.multiple_of;
    const int64_t first = n.min_int >= 0 ? (n.min_int + m64 - 1) / m64 * m64 : -(-n.min_int / m64 * m64);
    const bool fractions = n.fraction_multiple > 0 && !n.integer &&
                           (std::max<int64_t>(n.min_int, 0) <= n.max_unit || n.min_unit <= std::min<int64_t>(n.max_int, 0));
    if (first > n.max_int && !fractions) fail(at, ": no multiple of ", m.dump(), " lies within its bounds");
  }

  // A positive double as p / 10^k, p and k from its shortest round-trip decimal form ("0.25" -> 25, 2).
  static std::pair<int64_t, int> shortest_decimal(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);  // "2.5e-01"
    const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
    const size_t e = text.find('e');
    std::string digits;
    for (char c : text.substr(0, e))
      if (c != '.') digits += c;
    const int exponent = std::stoi(std::string(text.substr(e + 1))) - static_cast<int>(digits.size() - 1);
    if (exponent >= 0 || digits.size() > 18) return {0, 99};  // (not a fraction this can hold)
    return {std::stoll(digits), -exponent};
  }

  // *re: the regular expression (a format's, for a format).
  std::shared_ptr<const ByteDfa> pattern(const ojson& s, const std::string& at, std::string* re_out) {
    // Formats every string has (pydantic's SecretStr "password", bytes "binary", Path "path"): no pattern.
    const bool format = s.contains("format") && !(s["format"].is_string() && any_string_format(s["format"].get<std::string>()));
    if (!s.contains("pattern") && !format) return nullptr;
    if (s.contains("pattern") && format) fail(at, ": 'pattern' and 'format' together are not supported");
    const char* key = s.contains("pattern") ? "pattern" : "format";
    if (!s[key].is_string()) fail(at, ": '", key, "' must be a string");
    std::string re = s[key].get<std::string>();
    if (format) {
      re = format_pattern(re);
      if (re.empty())
        fail(at, ": format '", s["format"].get<std::string>(), "' is not supported (date, time, date-time, duration, ",
             "uuid, uuid1-uuid8, ipv4, ipv6, ipvanyaddress, hostname, email, uri, base64, base64url, password, binary ",
             "and path are)");
    }
    *re_out = re;
    auto& dfa = dfas_[re];
    if (!dfa) {
      if (dfas_.size() > JsonSchema::kMaxPatterns) fail("schema: more than ", JsonSchema::kMaxPatterns, " different patterns and formats");
      dfa = std::make_shared<const ByteDfa>(with_context(at, [&] { return ByteDfa::compile(re); }));
    }
    return dfa;
  }

  // Tuples: prefixItems and then items (draft 2020-12), or items as an array and then additionalItems
  // (drafts 4 to 7, pydantic v1).
  uint32_t array(const ojson& s, const std::string& at) {
    SchemaNode n = of(Kind::kArray);
    n.items = any_;
    n.min_items = count(s, "minItems", at, 0);
    n.max_items = count(s, "maxItems", at, SchemaNode::kUnbounded);
    if (s.contains("uniqueItems")) {
      if (!s["uniqueItems"].is_boolean()) fail(at, ": 'uniqueItems' must be a boolean");
      n.unique_items = s["uniqueItems"].get<bool>();
      if (n.unique_items && (s.contains("prefixItems") || (s.contains("items") && s["items"].is_array())))
        fail(at, ": 'uniqueItems' with a tuple ('prefixItems') is not supported");
    }
    const bool old_tuple = s.contains("items") && s["items"].is_array();
    if (s.contains("prefixItems") && (old_tuple || s.contains("additionalItems")))
      fail(at, ": 'prefixItems' goes with 'items' as a schema, not with 'items' as an array or 'additionalItems'");
    if (s.contains("additionalItems") && !old_tuple) fail(at, ": 'additionalItems' without 'items' as an array is not supported");
    const char* prefix_key = old_tuple ? "items" : "prefixItems";
    if (s.contains(prefix_key)) {
      const ojson& prefix = s[prefix_key];
      if (!prefix.is_array()) fail(at, ": '", prefix_key, "' must be an array of schemas");
      for (size_t i = 0; i < prefix.size(); ++i) n.prefix_items.push_back(compile(prefix[i], cat(at, ".", prefix_key, "[", i, "]")));
    }
    const char* rest_key = old_tuple ? "additionalItems" : "items";
    if (s.contains(rest_key)) {
      const ojson& rest = s[rest_key];
      if (rest.is_boolean() && !rest.get<bool>()) {
        n.max_items = std::min<uint32_t>(n.max_items, static_cast<uint32_t>(n.prefix_items.size()));
      } else {
        n.items = compile(rest, cat(at, ".", rest_key));
      }
    }
    if (n.min_items > n.max_items) fail(at, ": 'minItems' is larger than 'maxItems' (or than its tuple allows)");
    const uint32_t id = add(std::move(n));
    if (s_.nodes[id].unique_items) unique_arrays_.emplace_back(id, at);  // (checked once $refs resolve)
    return id;
  }

  uint32_t object(const ojson& s, const std::string& at) {
    SchemaNode n = of(Kind::kObject);
    if (s.contains("properties")) {
      const ojson& props = s["properties"];
      if (!props.is_object()) fail(at, ": 'properties' must be an object");
      for (const auto& [name, sub] : props.items())
        n.properties.push_back({ojson(name).dump(), compile(sub, cat(at, ".properties.", name)), false});
    }
    bool additional = true;  // JSON Schema's default
    int64_t additional_node = any_;
    if (s.contains("additionalProperties")) {
      const ojson& a = s["additionalProperties"];
      if (a.is_boolean()) {
        additional = a.get<bool>();
      } else {
        additional_node = compile(a, at + ".additionalProperties");
      }
    }
    if (s.contains("required")) {
      const ojson& req = s["required"];
      if (!req.is_array()) fail(at, ": 'required' must be an array of names");
      for (const ojson& r : req) {
        if (!r.is_string()) fail(at, ": 'required' must be an array of names");
        const std::string key = r.dump();
        auto it = std::find_if(n.properties.begin(), n.properties.end(), [&](const auto& p) { return p.key == key; });
        if (it != n.properties.end()) {
          it->required = true;
        } else if (additional) {
          n.properties.push_back({key, static_cast<uint32_t>(additional_node), true});
        } else {
          fail(at, ": required property ", key, " is not in 'properties' and additionalProperties is false");
        }
      }
    }
    if (n.properties.empty()) n.additional = additional ? additional_node : -1;
    map_keys(s, at, n);
    n.required_from.assign(n.properties.size() + 1, static_cast<uint32_t>(n.properties.size()));
    for (size_t i = n.properties.size(); i-- > 0;)
      n.required_from[i] = n.properties[i].required ? static_cast<uint32_t>(i) : n.required_from[i + 1];
    return add(std::move(n));
  }

  // A map's keys and values from propertyNames and patternProperties: the keys follow both (a pattern of
  // patternProperties joins propertyNames' string schema), the values that pattern's schema; keys that the
  // pattern does not match are never written (narrower than additionalProperties would allow).
  void map_keys(const ojson& s, const std::string& at, SchemaNode& n) {
    if (!s.contains("propertyNames") && !s.contains("patternProperties")) return;
    if (!n.properties.empty())
      fail(at, ": 'propertyNames' and 'patternProperties' are supported for objects without listed 'properties'");
    ojson key = s.contains("propertyNames") ? ojson(s["propertyNames"]) : ojson::object();
    if (key.is_boolean()) key = key.get<bool>() ? ojson::object() : ojson({{"enum", ojson::array()}});
    if (!key.is_object()) fail(at, ": 'propertyNames' must be a schema");
    if (s.contains("patternProperties")) {
      const ojson& pp = s["patternProperties"];
      if (!pp.is_object() || pp.size() != 1)
        fail(at, ": 'patternProperties' is supported with one pattern (and its schema)");
      const std::string re = pp.begin().key();  // (copied: items() hands out references into a temporary)
      const ojson& value = pp.begin().value();
      if (key.contains("pattern") || key.contains("format") || key.contains("enum") || key.contains("const") || key.contains("$ref"))
        fail(at, ": 'patternProperties' beside a 'propertyNames' with its own pattern, format, enum or $ref is not supported");
      key["pattern"] = re;
      n.additional = compile(value, cat(at, ".patternProperties.", re));
    }
    if (!key.contains("type") && !key.contains("enum") && !key.contains("const") && !key.contains("$ref")) key["type"] = "string";
    n.key = compile(key, at + ".propertyNames");
    map_keys_.emplace_back(n.key, at);
  }

  uint32_t ref(const ojson& r, const std::string& at) {
    if (!r.is_string() || r.get<std::string>().empty() || r.get<std::string>()[0] != '#')
      fail(at, ": only local $refs (\"#...\") are supported");
    const std::string name = r.get<std::string>();
    if (auto it = refs_.find(name); it != refs_.end()) return it->second;
    const uint32_t placeholder = add(of(Kind::kAnyOf));
    refs_[name] = placeholder;
    const ojson* target = &root_;
    if (name != "#") {
      try {
        target = &root_.at(ojson::json_pointer(name.substr(1)));
      } catch (const std::exception&) {
        fail(at, ": $ref '", name, "' does not resolve");
      }
    }
    alias_[placeholder] = compile(*target, name);
    return placeholder;
  }

  uint32_t resolve(uint32_t id) const {
    for (size_t steps = 0; alias_[id] >= 0; ++steps) {
      if (steps > alias_.size()) fail("schema: circular $ref");
      id = static_cast<uint32_t>(alias_[id]);
    }
    return id;
  }

  // Follows $refs, flattens anyOf, computes min_depth and checks the root.
  // uniqueItems true is held for literal items (distinct values, at most kMaxUniqueLiterals) and for
  // strings and integers that can always go on (SchemaPrefix: an item may not end as an earlier one).
  void check_unique_items(const SchemaNode& array, const std::string& at) const {
    const SchemaNode& item = s_.nodes[array.items];
    if (item.kind == Kind::kLiterals) {
      if (item.literals.size() > SchemaNode::kMaxUniqueLiterals)
        fail(at, ": 'uniqueItems' is supported for at most ", SchemaNode::kMaxUniqueLiterals, " enum values");
      std::vector<nlohmann::json> values;  // (unordered: {"a":1,"b":2} equals {"b":2,"a":1}; 1 equals 1.0)
      for (const std::string& text : item.literals) values.push_back(nlohmann::json::parse(text));
      for (size_t i = 0; i < values.size(); ++i)
        for (size_t j = i + 1; j < values.size(); ++j)
          if (values[i] == values[j])
            fail(at, ": 'uniqueItems' over enum values that are equal (", item.literals[i], " and ", item.literals[j], ")");
      if (array.min_items > item.literals.size())
        fail(at, ": 'minItems' asks for more unique items than the ", item.literals.size(), " values there are");
      return;
    }
    if (item.kind == Kind::kString && !item.pattern && item.max_length == SchemaNode::kUnbounded) return;
    if (item.kind == Kind::kNumber && item.integer && !item.bounded) return;
    fail(at, ": 'uniqueItems' is supported only for items that are strings without maxLength, pattern or format, "
             "integers without bounds or multipleOf, or enum, const or boolean values");
  }

  void link() {
    std::vector<SchemaNode>& nodes = s_.nodes;
    for (SchemaNode& n : nodes) {
      for (auto& p : n.properties) p.node = resolve(p.node);
      n.items = resolve(n.items);
      for (uint32_t& i : n.prefix_items) i = resolve(i);
      if (n.additional >= 0) n.additional = resolve(static_cast<uint32_t>(n.additional));
      for (uint32_t& o : n.options) o = resolve(o);
    }
    s_.root = resolve(s_.root);
    for (const auto& [id, at] : unique_arrays_) check_unique_items(nodes[id], at);
    for (SchemaNode& n : nodes)
      if (n.key >= 0) n.key = resolve(static_cast<uint32_t>(n.key));
    for (const auto& [id, at] : map_keys_) {  // (a key is a JSON string)
      const SchemaNode& k = nodes[resolve(static_cast<uint32_t>(id))];
      const bool strings = k.kind == Kind::kString ||
                           (k.kind == Kind::kLiterals && !k.literals.empty() &&
                            std::all_of(k.literals.begin(), k.literals.end(), [](const std::string& l) { return l[0] == '"'; }));
      if (!strings) fail(at, ": 'propertyNames' must describe strings (a string schema or an enum of strings)");
    }
    for (uint32_t id = 0; id < nodes.size(); ++id) {
      if (nodes[id].kind != Kind::kAnyOf || alias_[id] >= 0) continue;
      std::vector<uint32_t> flat, stack = nodes[id].options;
      std::set<uint32_t> seen = {id};
      while (!stack.empty()) {
        const uint32_t o = stack.back();
        stack.pop_back();
        if (!seen.insert(o).second) continue;
        if (nodes[o].kind == Kind::kAnyOf) {
          stack.insert(stack.end(), nodes[o].options.rbegin(), nodes[o].options.rend());
        } else {
          flat.push_back(o);
        }
      }
      nodes[id].options = std::move(flat);  // (order aside, the same alternatives)
    }
    // min_depth: a fixed point from "no finite value" downwards.
    for (SchemaNode& n : nodes) n.min_depth = SchemaNode::kNoFiniteValue;
    const auto plus_one = [](uint32_t d) { return d == SchemaNode::kNoFiniteValue ? d : d + 1; };
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t id = 0; id < nodes.size(); ++id) {
        SchemaNode& n = nodes[id];
        if (alias_[id] >= 0) continue;
        uint32_t d = 1;
        switch (n.kind) {
          case Kind::kObject:
            for (const auto& p : n.properties)
              if (p.required) d = std::max(d, plus_one(nodes[p.node].min_depth));
            break;
          case Kind::kArray:
            for (uint32_t i = 0; i < n.min_items && i <= n.prefix_items.size(); ++i)
              d = std::max(d, plus_one(nodes[i < n.prefix_items.size() ? n.prefix_items[i] : n.items].min_depth));
            break;
          case Kind::kAnyOf:
            d = SchemaNode::kNoFiniteValue;
            for (uint32_t o : n.options) d = std::min(d, nodes[o].min_depth);
            break;
          default: break;
        }
        if (d < n.min_depth) {
          n.min_depth = d;
          changed = true;
        }
      }
    }
    for (SchemaNode& n : nodes)  // alternatives without a finite value can never be completed
      std::erase_if(n.options, [&](uint32_t o) { return nodes[o].min_depth == SchemaNode::kNoFiniteValue; });
    const SchemaNode& root = nodes[s_.root];
    if (root.min_depth == SchemaNode::kNoFiniteValue) fail("schema: no finite JSON value follows it (a required property recurses)");
    if (root.min_depth > JsonSchema::kMaxDepth)
      fail("schema: its values nest deeper than ", JsonSchema::kMaxDepth, " levels");
    const bool object_root =
        root.kind == Kind::kObject ||
        (root.kind == Kind::kAnyOf &&
         std::all_of(root.options.begin(), root.options.end(), [&](uint32_t o) { return nodes[o].kind == Kind::kObject; }));
    if (!object_root) fail("schema: the root must be an object");
  }
};

}  // namespace

std::shared_ptr<const JsonSchema> JsonSchema::compile(const nlohmann::ordered_json& schema) { return Compiler(schema).run(); }

std::shared_ptr<const JsonSchema> JsonSchema::any_object() {
  static const std::shared_ptr<const JsonSchema> any = compile({{"type", "object"}});
  return any;
}

}  // namespace dsinfer
