#include "runtime/schema_prefix.h"

#include <algorithm>
#include <bit>
#include <iterator>
#include <tuple>


namespace dsinfer {
namespace {

using Kind = SchemaNode::Kind;

enum Phase : uint8_t {
  kObjectOpen,    // after '{': a key or '}'
  kObjectKey,     // after ',': a key
  kObjectInKey,   // inside a listed property's key
  kObjectColon,   // after a key
  kObjectValue,   // after ':', and while the value is open
  kObjectAfter,   // after a value: ',' or '}'
  kObjectMapKey,  // a map's key (a string frame above this one) is open
  kArrayOpen,     // after '[': a value or ']', and while the first value is open
  kArrayValue,    // after ',', and while the value is open
  kArrayAfter,    // after a value: ',' or ']'
  kString,
  kEscape,        // after '\'
  kUnicode,       // \u and sub hex digits to come
  kNumber,
  kLiteral,
};
enum Num : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp, kNone };

bool between_tokens(uint8_t phase) { return phase <= kArrayAfter && phase != kObjectInKey; }
bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool number_complete(uint8_t s) { return s == kZero || s == kInt || s == kFrac || s == kExp; }

// The number state after c, or kNone.
Num number_next(uint8_t s, uint8_t c, bool integer) {
  const bool fraction_or_exponent = !integer && (c == '.' || c == 'e' || c == 'E');
  switch (s) {
    case kMinus: return is_digit(c) ? (c == '0' ? kZero : kInt) : kNone;
    case kZero:
    case kInt:
      if (s == kInt && is_digit(c)) return kInt;
      return fraction_or_exponent ? (c == '.' ? kDot : kE) : kNone;
    case kDot: return is_digit(c) ? kFrac : kNone;
    case kFrac:
      if (is_digit(c)) return kFrac;
      return fraction_or_exponent && c != '.' ? kE : kNone;
    case kE:
      if (c == '+' || c == '-') return kESign;
      [[fallthrough]];
    case kESign:
    case kExp: return is_digit(c) ? kExp : kNone;
    default: return kNone;
  }
}

// Bounded numbers: whether an integer part that starts with the digits of w (w < 0: none yet; zero: it is
// "0", which nothing follows) and has at most `more` digits after them, written with a '-' if neg, can be
// an integer in range and a multiple of n.multiple_of, or (fractional multipleOf) the integer part of a
// fraction in range with all of its fraction_digits still to fit (the fractions allowed in range are a
// subset of those integer parts' unit intervals: see SchemaNode::bounded).
bool bounded_reachable(const SchemaNode& n, bool neg, int64_t w, bool zero, int more) {
  const __int128 lo = std::max<__int128>(0, neg ? -static_cast<__int128>(n.max_int) : n.min_int);
  const __int128 hi = neg ? -static_cast<__int128>(n.min_int) : n.max_int;  // u = |value| in [lo, hi]
  if (lo > hi) return false;
  if (zero || (w < 0 && lo == 0)) return lo == 0;  // ("0", "-0", or "-" and then "0")
  // Integer parts whose unit interval is in range (bounded_fraction_allowed), when fractions may come.
  const bool fractions = n.fraction_multiple > 0 && !n.integer;
  const __int128 flo = std::max<__int128>(0, neg ? -static_cast<__int128>(n.max_int) : n.min_int);
  const __int128 fhi = neg ? -static_cast<__int128>(n.min_unit) : n.max_unit;
  __int128 a = w < 0 ? 0 : w, b = w < 0 ? 0 : w;  // the integer parts with j more digits: [a, b]
  const __int128 m = n.multiple_of;
  for (int j = 0; j <= more; ++j) {
    if (a > hi) return false;
    const __int128 first = (std::max(a, lo) + m - 1) / m * m;  // (the least multiple in [a, b] and range)
    if (b >= lo && (w >= 0 || j > 0) && first <= std::min(b, hi)) return true;
    if (fractions && (w >= 0 || j > 0) && more - j >= n.fraction_digits && std::max(a, flo) <= std::min(b, fhi)) return true;
    a = a == 0 ? 1 : a * 10;  // (no leading zeros: after '-' the first digit 0 is "zero")
    b = b * 10 + 9;
  }
  return false;
}

bool bounded_fraction_allowed(const SchemaNode& n, bool neg, int64_t w) {
  const int64_t v = neg ? -w : w;
  return neg ? n.min_unit <= v && v <= n.max_int : n.min_int <= v && v <= n.max_unit;
}

// Fractional multipleOf p / 10^k: the number's '.' and fraction digits. The frame keeps r = (the digits so
// far, as value * 10^k) mod p in f.lo and the fraction's digits in f.utf8_hi; a digit is taken only if the
// digits still to come (at most k in all) can bring r to 0.
constexpr int64_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
static_assert(std::size(kPow10) > SchemaNode::kMaxFractionDigits);

template <class Frame>
bool fraction_multiple_step(const SchemaNode& n, Frame& f, uint8_t next, uint8_t c) {
  const int64_t p = n.fraction_multiple;
  const int k = n.fraction_digits;
  if (next == kDot) {  // (the integer part's digits are in f.child: all k fraction digits must still fit)
    if (SchemaNode::kMaxBoundedDigits - static_cast<int>(f.child) < k) return false;
    f.lo = static_cast<uint32_t>(static_cast<int64_t>(f.keys % static_cast<uint64_t>(p)) * (kPow10[k] % p) % p);
    f.utf8_hi = 0;
    return true;
  }
  if (next != kFrac) return true;
  if (f.utf8_hi >= k) return false;
  const int rest = k - f.utf8_hi - 1;
  const int64_t r = (f.lo + (c - '0') * kPow10[rest]) % p;
  if ((p - r) % p >= kPow10[rest]) return false;  // (the least completion must fit into the rest)
  f.lo = static_cast<uint32_t>(r);
  ++f.utf8_hi;
  return true;
}

// A string's surrogate escapes (Frame::child): none pending, the high one's digits, the low one's '\' and
// 'u' to come, the low one's digits.
constexpr uint32_t kNoSurrogate = 0, kHighDigits = 1, kLowBackslash = 2, kLowDigits = 3;

// A string's value as a hash of its UTF-16 code units (FNV-1a), so that "\u00e9", "\u00E9" and the raw
// UTF-8 of é, or "\ud83d\ude00" and the raw emoji, hash alike (uniqueItems compares values, not texts).
constexpr uint64_t kHashStart = 0xcbf29ce484222325ull;
void hash_unit(uint64_t& h, uint32_t unit) { h = (h ^ unit) * 0x100000001b3ull; }
void hash_code_point(uint64_t& h, uint32_t cp) {
  if (cp < 0x10000) return hash_unit(h, cp);
  hash_unit(h, 0xD800 + ((cp - 0x10000) >> 10));
  hash_unit(h, 0xDC00 + ((cp - 0x10000) & 0x3FF));
}
uint32_t hex_value(uint8_t c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }
uint32_t escaped_unit(uint8_t c) {  // after '\' (not 'u')
  switch (c) {
    case 'b': return 0x08;
    case 'f': return 0x0C;
    case 'n': return 0x0A;
    case 'r': return 0x0D;
    case 't': return 0x09;
    default: return c;  // '"', '\\', '/'
  }
}

// The candidates of a literal whose first byte is c: [lo, hi), a contiguous run of the sorted list.
std::pair<uint32_t, uint32_t> literal_range(const SchemaNode& n, uint8_t c) {
  const auto at0 = [](const std::string& s, uint8_t x) { return static_cast<uint8_t>(s[0]) < x; };
  const auto lo = std::lower_bound(n.literals.begin(), n.literals.end(), c, at0);
  auto hi = lo;
  while (hi != n.literals.end() && static_cast<uint8_t>((*hi)[0]) == c) ++hi;
  return {static_cast<uint32_t>(lo - n.literals.begin()), static_cast<uint32_t>(hi - n.literals.begin())};
}

// The node of item i of an array (a tuple's first items have their own).
uint32_t item_node(const SchemaNode& n, uint32_t i) { return i < n.prefix_items.size() ? n.prefix_items[i] : n.items; }

bool is_utf8_continuation(uint8_t c) { return c >= 0x80 && c <= 0xBF; }

bool object_may_close(const SchemaNode& n, uint32_t next) {
  return n.properties.empty() || n.required_from[next] == n.properties.size();
}

}  // namespace

SchemaPrefix::Path& SchemaPrefix::Path::operator=(const Path& o) {
  started = o.started;
  depth = o.depth;
  spaces = o.spaces;
  std::copy_n(o.frames.begin(), o.depth, frames.begin());
  seen = o.seen;
  return *this;
}

SchemaPrefix::SchemaPrefix(std::shared_ptr<const JsonSchema> schema) : schema_(std::move(schema)) { paths_.emplace_back(); }

bool SchemaPrefix::complete() const {
  return std::any_of(paths_.begin(), paths_.end(), [](const Path& p) { return p.started && p.depth == 0; });
}

int64_t SchemaPrefix::plain_string_room() const {
  if (paths_.size() != 1 || paths_[0].depth == 0) return -1;
  const Frame& f = paths_[0].frames[paths_[0].depth - 1];
  if (f.phase != kString || f.sub != 0 || f.child != kNoSurrogate || node(f.node).pattern) return -1;
  const uint32_t max = node(f.node).max_length;
  return max == SchemaNode::kUnbounded ? INT64_MAX : int64_t{max} - f.count;
}

int SchemaPrefix::plain_string_takes(std::string_view plain) const {
  if (paths_.size() != 1) return -1;
  const Path& p = paths_[0];
  if (p.depth == 0) return -1;
  const Frame& f = p.frames[p.depth - 1];
  if (f.phase != kString || f.child != kNoSurrogate) return -1;
  if (const SchemaNode& n = node(f.node); n.pattern) {  // step_string's pattern case on a copy of the DFA state
    int32_t state = static_cast<int32_t>(f.lo);
    uint32_t count = f.count;
    for (char ch : plain) {
      const auto c = static_cast<uint8_t>(ch);
      state = n.pattern->next[state][c];
      if (state < 0) return 0;
      count += is_utf8_continuation(c) ? 0 : 1;
      if (n.lengths && !n.lengths->reachable(state, count, n.min_length, n.max_length)) return 0;
    }
    return 1;
  }
  // step_string's ASCII and UTF-8 cases on a copy of the little they change.
  Frame s;
  s.sub = f.sub;
  s.utf8_lo = f.utf8_lo;
  s.utf8_hi = f.utf8_hi;
  s.count = f.count;
  const uint32_t max = node(f.node).max_length;
  for (char ch : plain)
    if (!string_char(s, static_cast<uint8_t>(ch), max)) return 0;
  return 1;
}

bool SchemaPrefix::feed(std::string_view bytes) {
  filters_fresh_ = false;
  for (char ch : bytes) {
    std::vector<Path> next, forks;
    for (Path& p : paths_) {
      if (p.started && p.depth == 0) continue;  // complete: nothing more
      if (step(p, static_cast<uint8_t>(ch), &forks)) next.push_back(p);
      for (const Path& f : forks)
        if (next.size() < kMaxPaths) next.push_back(f);
      forks.clear();
    }
    paths_ = std::move(next);
    if (paths_.empty()) return false;
  }
  return true;
}

bool SchemaPrefix::takes(std::string_view bytes) const {
  return std::any_of(paths_.begin(), paths_.end(), [&](const Path& p) { return path_takes(p, bytes); });
}

bool SchemaPrefix::path_takes(const Path& start, std::string_view bytes) const {
  Path p = start;
  std::vector<Path> forks;  // (allocates only when an anyOf value starts alike for several alternatives)
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (p.started && p.depth == 0) return false;  // never past the value's end
    const bool ok = step(p, static_cast<uint8_t>(bytes[i]), &forks);
    if (!forks.empty()) {
      const std::vector<Path> alternatives = std::move(forks);
      forks.clear();
      for (const Path& a : alternatives)
        if (path_takes(a, bytes.substr(i + 1))) return true;
    }
    if (!ok) return false;
  }
  return true;
}

void SchemaPrefix::update_filters() const {
  filters_fresh_ = true;
  int n_first = 0;
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    first_bytes_[c] = takes(std::string_view(&ch, 1));
    n_first += first_bytes_[c];
  }
  // Where few bytes may come (a key, after a value), also the byte after each: most tokens that start
  // with a space fail at their second byte.
  second_known_.fill(false);
  if (n_first > 32) return;
  for (int c = 0; c < 256; ++c) {
    if (!first_bytes_[c]) continue;
    second_known_[c] = true;
    char two[2] = {static_cast<char>(c), 0};
    for (int d = 0; d < 256; ++d) {
      two[1] = static_cast<char>(d);
      second_bytes_[c][d] = takes(std::string_view(two, 2));
    }
  }
}

bool SchemaPrefix::starts_with(uint32_t id, uint8_t c) const {
  const SchemaNode& n = node(id);
  switch (n.kind) {
    case Kind::kObject: return c == '{';
    case Kind::kArray: return c == '[';
    case Kind::kString: return c == '"';
    case Kind::kNumber:
      if (!n.bounded) return c == '-' || is_digit(c);
      if (c == '-') return bounded_reachable(n, true, -1, false, SchemaNode::kMaxBoundedDigits);
      return is_digit(c) && bounded_reachable(n, false, c - '0', c == '0', SchemaNode::kMaxBoundedDigits - 1);
    case Kind::kLiterals: {
      auto it = std::lower_bound(n.literals.begin(), n.literals.end(), std::string(1, static_cast<char>(c)));
      return it != n.literals.end() && static_cast<uint8_t>((*it)[0]) == c;
    }
    case Kind::kAnyOf: return false;
  }
  return false;
}

bool SchemaPrefix::start_value(Path& p, uint32_t id, uint8_t c, std::vector<Path>* forks) const {
  const SchemaNode& n = node(id);
  if (n.kind != Kind::kAnyOf) {
    if (!starts_with(id, c) || !fits(p, id)) return false;
    if (p.depth > 0 && node(p.top().node).unique_items) {  // (uniqueItems: some value that starts so is new)
      if (n.kind == Kind::kLiterals) {
        const auto [lo, hi] = literal_range(n, c);
        if (!literal_unused(&p.top(), lo, hi)) return false;
      } else if (n.kind == Kind::kNumber && is_digit(c) && !integer_unused(p, p.top(), false, c - '0', 1)) {
        return false;
      }
    }
    open(p, id, c);
    return true;
  }
  int64_t first = -1;
  for (uint32_t o : n.options) {
    if (!starts_with(o, c) || !fits(p, o)) continue;
    if (first < 0) {
      first = o;
    } else if (forks->size() < kMaxPaths) {
      forks->push_back(p);
      open(forks->back(), o, c);
    }
  }
  if (first < 0) return false;
  open(p, static_cast<uint32_t>(first), c);
  return true;
}

void SchemaPrefix::open(Path& p, uint32_t id, uint8_t c) const {
  const SchemaNode& n = node(id);
  Frame& f = p.frames[p.depth++];
  f = Frame{};
  f.node = id;
  switch (n.kind) {
    case Kind::kObject: f.phase = kObjectOpen; break;
    case Kind::kArray: f.phase = kArrayOpen; break;
    case Kind::kString:
      f.phase = kString;
      if (n.pattern) f.lo = static_cast<uint32_t>(n.pattern->start);
      f.keys = kHashStart;
      f.hi = 0;
      break;
    case Kind::kNumber:
      f.phase = kNumber;
      f.sub = c == '-' ? kMinus : c == '0' ? kZero : kInt;
      f.count = 1;
      f.utf8_lo = c == '-';              // bounded: negative,
      f.keys = c == '-' ? 0 : c - '0';   // the integer part so far,
      f.child = c == '-' ? 0 : 1;        // digits so far
      break;
    case Kind::kLiterals: {
      f.phase = kLiteral;
      std::tie(f.lo, f.hi) = literal_range(n, c);
      f.count = 1;
      if (f.hi - f.lo == 1 && n.literals[f.lo].size() == 1) close(p);
      break;
    }
    case Kind::kAnyOf: break;  // (never: start_value picks an alternative)
  }
}

bool SchemaPrefix::close(Path& p) const {
  const Frame* item_of = unique_parent(p);  // (uniqueItems: the item's value is remembered)
  --p.depth;
  p.spaces = 0;
  const Frame& closed = p.frames[p.depth];
  if (item_of) {
    if (closed.phase == kLiteral) {
      p.frames[p.depth - 1].keys |= 1ull << closed.lo;
    } else {
      p.seen = std::make_shared<const SeenItem>(SeenItem{item_key(closed), p.depth - 1u, p.seen});
    }
  } else if (closed.phase == kArrayAfter || closed.phase == kArrayOpen) {  // an array ended: its items go
    while (p.seen && p.seen->depth >= p.depth) p.seen = p.seen->next;
  }
  if (p.depth == 0) return true;
  Frame& parent = p.top();
  switch (parent.phase) {
    case kObjectValue: parent.phase = kObjectAfter; break;
    case kObjectMapKey:
      parent.phase = kObjectColon;
      parent.child = static_cast<uint32_t>(node(parent.node).additional);
      break;
    case kArrayOpen:
    case kArrayValue:
      ++parent.count;
      parent.phase = kArrayAfter;
      break;
    default: break;
  }
  return true;
}

uint64_t SchemaPrefix::key_candidates(const Path& p, const Frame& f) const {
  const SchemaNode& n = node(f.node);
  const uint32_t size = static_cast<uint32_t>(n.properties.size());
  if (f.count >= size) return 0;
  // Properties from the next one up to the next required one (optional ones may be left out), as far as
  // 64 of them and as their values still fit.
  const uint32_t last = std::min(n.required_from[f.count], size - 1);
  uint64_t keys = 0;
  for (uint32_t j = f.count; j <= last && j - f.count < 64; ++j)
    if (fits(p, n.properties[j].node)) keys |= uint64_t{1} << (j - f.count);
  return keys;
}

bool SchemaPrefix::step(Path& p, uint8_t c, std::vector<Path>* forks) const {
  for (;;) {
    if (!p.started) {
      if (c != '{') return false;  // the root is an object, and the answer starts with it
      p.started = true;
      return start_value(p, schema_->root, c, forks);
    }
    if (p.depth == 0) return false;
    Frame& f = p.top();
    const SchemaNode& n = node(f.node);
    if (between_tokens(f.phase)) {
      if (is_json_space(c)) return json_space_takes(p.spaces, c);
      p.spaces = 0;
    }
    switch (f.phase) {
      case kObjectOpen:
        if (c == '}') return object_may_close(n, f.count) && close(p);
        [[fallthrough]];
      case kObjectKey: {
        if (c != '"') return false;
        if (n.properties.empty()) {  // a map: any key
          if (n.additional < 0 || !fits(p, static_cast<uint32_t>(n.additional))) return false;
          f.phase = kObjectMapKey;
          open(p, n.key >= 0 ? static_cast<uint32_t>(n.key) : schema_->any_string, c);
          return true;
        }
        const uint64_t keys = key_candidates(p, f);
        if (keys == 0) return false;
        f.keys = keys;
        f.hi = f.count;
        f.lo = 1;
        f.phase = kObjectInKey;
        return true;
      }
      case kObjectInKey: {
        uint64_t keep = 0;
        for (uint64_t k = f.keys; k; k &= k - 1) {
          const int i = std::countr_zero(k);
          const std::string& key = n.properties[f.hi + i].key;
          if (key.size() > f.lo && static_cast<uint8_t>(key[f.lo]) == c) keep |= uint64_t{1} << i;
        }
        if (keep == 0) return false;
        f.keys = keep;
        ++f.lo;
        for (uint64_t k = keep; k; k &= k - 1) {  // a whole key, closing quote included: no other goes on
          const uint32_t j = f.hi + static_cast<uint32_t>(std::countr_zero(k));
          if (n.properties[j].key.size() == f.lo) {
            f.count = j + 1;
            f.child = n.properties[j].node;
            f.phase = kObjectColon;
            break;
          }
        }
        return true;
      }
      case kObjectColon:
        if (c != ':') return false;
        f.phase = kObjectValue;
        return true;
      case kObjectValue: return start_value(p, f.child, c, forks);
      case kObjectAfter:
        if (c == ',') {
          const bool more = n.properties.empty() ? n.additional >= 0 && fits(p, static_cast<uint32_t>(n.additional))
                                                 : key_candidates(p, f) != 0;
          if (!more) return false;
          f.phase = kObjectKey;
          return true;
        }
        return c == '}' && object_may_close(n, f.count) && close(p);
      case kArrayOpen:
        if (c == ']') return n.min_items == 0 && close(p);
        [[fallthrough]];
      case kArrayValue:
        return f.count < n.max_items && start_value(p, item_node(n, f.count), c, forks);
      case kArrayAfter:
        if (c == ',') {
          if (f.count >= n.max_items || !fits(p, item_node(n, f.count))) return false;
          if (n.unique_items && node(n.items).kind == Kind::kLiterals &&
              std::popcount(f.keys) >= static_cast<int>(node(n.items).literals.size()))
            return false;  // (every value came already)
          f.phase = kArrayValue;
          return true;
        }
        return c == ']' && f.count >= n.min_items && close(p);
      case kString:
      case kEscape:
      case kUnicode: return step_string(p, c);
      case kNumber:
        if (step_number(p, c)) return true;
        if (!number_complete(f.sub)) return false;
        if (n.bounded && f.sub != kFrac) {  // an integer: in range (a fraction was only begun where it is)
          const int64_t v = integer_value(f);
          if (v < n.min_int || v > n.max_int || v % n.multiple_of != 0) return false;
        }
        if (n.fraction_multiple > 0 && f.sub == kFrac && f.lo != 0) return false;  // (not yet a multiple)
        if (const Frame* array = unique_parent(p); array && seen_before(p, *array, item_key(f))) return false;
        close(p);
        continue;  // c follows the number
      case kLiteral: {
        bool retry = false;
        if (step_literal(p, c, &retry)) return true;
        if (!retry) return false;
        continue;  // c follows the literal
      }
      default: return false;
    }
  }
}

bool SchemaPrefix::step_string(Path& p, uint8_t c) const {
  Frame& f = p.top();
  const SchemaNode& n = node(f.node);
  if (n.pattern) {  // the text walks the pattern's DFA (state in f.lo; characters in f.count); no escapes
    if (c == '"') return n.pattern->accepting[f.lo] && f.count >= n.min_length && close(p);
    const int32_t next = n.pattern->next[f.lo][c];
    if (next < 0) return false;
    const uint32_t count = f.count + (is_utf8_continuation(c) ? 0 : 1);
    if (n.lengths && !n.lengths->reachable(next, count, n.min_length, n.max_length)) return false;
    f.lo = static_cast<uint32_t>(next);
    f.count = count;
    return true;
  }
  // (the value's UTF-16 units are hashed into f.keys as they complete: SeenItem)
  // \u escapes of surrogates come in pairs, a high one (D800-DBFF) and right after it a low one
  // (DC00-DFFF), which is no character of its own (f.child: kNoSurrogate, or where the low one stands);
  // strict parsers (pydantic's) refuse a lone one.
  if (f.phase == kEscape) {
    if (c == 'u') {
      f.phase = kUnicode;
      f.sub = 4;
      f.hi = 0;
      if (f.child == kLowBackslash) f.child = kLowDigits;
      return true;
    }
    if (f.child == kLowBackslash) return false;
    if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't') return false;
    hash_unit(f.keys, escaped_unit(c));
    f.phase = kString;
    return true;
  }
  if (f.phase == kUnicode) {
    if (!is_hex(c) || (f.sub == 4 && f.child == kLowDigits && hex_value(c) != 0xD)) return false;
    f.hi = f.hi * 16 + hex_value(c);
    if (f.sub == 3) {  // the first two digits tell a surrogate: D8-DB high, DC-DF low
      const bool low = f.hi >= 0xDC && f.hi <= 0xDF, high = f.hi >= 0xD8 && f.hi < 0xDC;
      if (f.child == kLowDigits ? !low : low) return false;
      if (high) f.child = kHighDigits;
    }
    if (--f.sub == 0) {
      hash_unit(f.keys, f.hi);
      f.phase = kString;
      f.child = f.child == kHighDigits ? kLowBackslash : kNoSurrogate;
    }
    return true;
  }
  if (f.child == kLowBackslash) {  // only the low surrogate's escape may follow a high one
    if (c != '\\') return false;
    f.phase = kEscape;
    return true;
  }
  if (f.sub > 0) {  // inside a UTF-8 character
    if (!string_char(f, c, n.max_length)) return false;
    f.hi = f.hi << 6 | (c & 0x3F);
    if (f.sub == 0) hash_code_point(f.keys, f.hi);
    return true;
  }
  if (c == '"') {
    if (f.count < n.min_length) return false;
    if (const Frame* array = unique_parent(p); array && seen_before(p, *array, item_key(f))) return false;
    return close(p);
  }
  if (c < 0x20 || f.count >= n.max_length) return false;  // (control characters must be escaped)
  if (c == '\\') {
    ++f.count;
    f.phase = kEscape;
    return true;
  }
  if (!string_char(f, c, n.max_length)) return false;
  if (f.sub == 0) {
    hash_unit(f.keys, c);
  } else {  // a UTF-8 lead byte: its payload bits
    f.hi = c & (f.sub == 1 ? 0x1F : f.sub == 2 ? 0x0F : 0x07);
  }
  return true;
}

const SchemaPrefix::Frame* SchemaPrefix::unique_parent(const Path& p) const {
  if (p.depth < 2) return nullptr;
  const Frame& parent = p.frames[p.depth - 2];
  const bool item = parent.phase == kArrayOpen || parent.phase == kArrayValue;
  return item && node(parent.node).unique_items ? &parent : nullptr;
}

int64_t SchemaPrefix::integer_value(const Frame& f) {
  return f.utf8_lo ? -static_cast<int64_t>(f.keys) : static_cast<int64_t>(f.keys);
}

uint64_t SchemaPrefix::item_key(const Frame& f) {
  return f.phase == kNumber ? static_cast<uint64_t>(integer_value(f)) : f.keys;  // (-0 is 0)
}

bool SchemaPrefix::seen_before(const Path& p, const Frame& array, uint64_t key) {
  const auto at = static_cast<uint32_t>(&array - p.frames.data());
  for (const SeenItem* s = p.seen.get(); s && s->depth == at; s = s->next.get())
    if (s->hash == key) return true;
  return false;
}

bool SchemaPrefix::integer_unused(const Path& p, const Frame& array, bool neg, uint64_t w, uint32_t digits) const {
  // The values an integer item that starts with |w| (digits digits, '-' if neg) can end as: w itself and,
  // unless w is 0, w * 10^j + [0, 10^j) for j more digits, as far as kMaxUniqueIntegerDigits. One of those
  // ranges has a value no earlier item took (they are few).
  const auto at = static_cast<uint32_t>(&array - p.frames.data());
  const uint32_t more = w == 0 ? 0 : kMaxUniqueIntegerDigits - digits;
  uint64_t lo = w, size = 1;
  for (uint32_t j = 0; j <= more; ++j, lo *= 10, size *= 10) {
    uint64_t taken = 0;
    for (const SeenItem* s = p.seen.get(); s && s->depth == at; s = s->next.get()) {
      const auto v = static_cast<int64_t>(s->hash);
      const uint64_t magnitude = v < 0 ? static_cast<uint64_t>(-v) : static_cast<uint64_t>(v);
      if (magnitude >= lo && magnitude - lo < size && ((v < 0) == neg || v == 0)) ++taken;
    }
    if (taken < size) return true;
  }
  return false;
}

bool SchemaPrefix::literal_unused(const Frame* array, uint32_t lo, uint32_t hi) {
  if (!array || lo >= hi) return lo < hi;
  const uint64_t range = (hi - lo >= 64 ? ~0ull : (1ull << (hi - lo)) - 1) << lo;
  return (range & ~array->keys) != 0;
}

bool SchemaPrefix::string_char(Frame& f, uint8_t c, uint32_t max_length) {
  if (f.sub > 0) {  // inside a UTF-8 character
    if (c < f.utf8_lo || c > f.utf8_hi) return false;
    --f.sub;
    f.utf8_lo = 0x80;
    f.utf8_hi = 0xBF;
    return true;
  }
  if (f.count >= max_length) return false;
  // A character starts: ASCII, or a UTF-8 lead byte and its continuation bytes (no overlong forms, no
  // surrogates, nothing past U+10FFFF).
  uint8_t more = 0, lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    more = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    more = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    more = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else if (c >= 0x80) {
    return false;
  }
  ++f.count;
  f.sub = more;
  f.utf8_lo = lo;
  f.utf8_hi = hi;
  return true;
}

bool SchemaPrefix::step_number(Path& p, uint8_t c) const {
  Frame& f = p.top();
  const SchemaNode& n = node(f.node);
  const Num next = number_next(f.sub, c, n.integer);
  if (next == kNone) return false;
  const uint32_t still_needed = number_complete(next) ? 0 : 1;  // ("1e" needs a digit)
  if (f.count + 1 + still_needed > kMaxNumberBytes) return false;
  if (const Frame* array = n.integer && !n.bounded && is_digit(c) ? unique_parent(p) : nullptr) {
    // uniqueItems integers: at most kMaxUniqueIntegerDigits digits, and a value not taken must remain.
    const uint64_t w = f.keys * 10 + static_cast<uint64_t>(c - '0');
    if (f.child + 1 > kMaxUniqueIntegerDigits || !integer_unused(p, *array, f.utf8_lo, w, f.child + 1)) return false;
    f.keys = w;
    ++f.child;
  }
  if (n.bounded) {
    if (next == kE || next == kESign || next == kExp) return false;
    if (f.child + (is_digit(c) ? 1 : 0) + still_needed > SchemaNode::kMaxBoundedDigits) return false;  // ('.': a digit to come)
    const bool neg = f.utf8_lo;
    if (next == kDot && !bounded_fraction_allowed(n, neg, static_cast<int64_t>(f.keys))) return false;
    if (n.fraction_multiple > 0 && !fraction_multiple_step(n, f, next, c)) return false;
    if (next == kZero || next == kInt) {  // a digit of the integer part
      const int64_t w = (f.sub == kMinus ? 0 : static_cast<int64_t>(f.keys)) * 10 + (c - '0');
      if (!bounded_reachable(n, neg, w, next == kZero, SchemaNode::kMaxBoundedDigits - static_cast<int>(f.child) - 1)) return false;
      f.keys = static_cast<uint64_t>(w);
    }
    if (is_digit(c)) ++f.child;
  }
  f.sub = next;
  ++f.count;
  return true;
}

bool SchemaPrefix::step_literal(Path& p, uint8_t c, bool* retry) const {
  Frame& f = p.top();
  const std::vector<std::string>& lits = node(f.node).literals;
  const uint32_t pos = f.count;
  // [lo, hi) share their first pos bytes; the one that ends there (if any) sorts first, the others are
  // ordered by their byte at pos.
  uint32_t first = f.lo;
  if (lits[first].size() == pos) ++first;
  uint32_t lo = first;
  while (lo < f.hi && static_cast<uint8_t>(lits[lo][pos]) < c) ++lo;
  uint32_t hi = lo;
  while (hi < f.hi && static_cast<uint8_t>(lits[hi][pos]) == c) ++hi;
  const Frame* array = unique_parent(p);  // (uniqueItems: only literals that did not come yet)
  if (lo < hi && literal_unused(array, lo, hi)) {
    f.lo = lo;
    f.hi = hi;
    f.count = pos + 1;
    if (hi - lo == 1 && lits[lo].size() == pos + 1) close(p);
    return true;
  }
  // a literal ended before c ("1" of [1, 12] and then ',')
  *retry = lits[f.lo].size() == pos && literal_unused(array, f.lo, f.lo + 1);
  if (*retry) close(p);
  return false;
}

}  // namespace dsinfer
