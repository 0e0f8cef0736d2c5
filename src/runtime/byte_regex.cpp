#include "runtime/byte_regex.h"

#include <algorithm>
#include <bitset>
#include <cctype>
#include <map>
#include <unordered_set>

#include "util/error.h"

namespace dsinfer {
namespace {

using Bytes = std::bitset<256>;

constexpr size_t kMaxNfaStates = 4000;
constexpr size_t kMaxDfaStates = 1000;
constexpr int kMaxGroupDepth = 64;

Bytes byte_range(int lo, int hi) {
  Bytes b;
  for (int c = lo; c <= hi; ++c) b.set(static_cast<size_t>(c));
  return b;
}

// Printable ASCII that a JSON string holds without an escape.
Bytes text_ascii() {
  Bytes b = byte_range(0x20, 0x7E);
  b.reset('"');
  b.reset('\\');
  return b;
}

struct Ast {
  enum Kind { kBytes, kConcat, kAlt, kRepeat };
  Kind kind = kConcat;
  Bytes bytes;
  std::vector<Ast> kids;
  int min = 0, max = -1;  // kRepeat; max -1: unbounded
};

Ast bytes_ast(Bytes b) {
  Ast a;
  a.kind = Ast::kBytes;
  a.bytes = b;
  return a;
}

Ast repeat_ast(Ast kid, int min, int max) {
  Ast a;
  a.kind = Ast::kRepeat;
  a.kids.push_back(std::move(kid));
  a.min = min;
  a.max = max;
  return a;
}

Ast concat_ast(std::vector<Bytes> parts) {
  Ast a;
  for (const Bytes& b : parts) a.kids.push_back(bytes_ast(b));
  return a;
}

// Any character a JSON string holds without an escape: printable ASCII or a whole UTF-8 character (no
// overlong forms, no surrogates), for the text around an unanchored match.
Ast any_char() {
  const Bytes cont = byte_range(0x80, 0xBF);
  Ast alt;
  alt.kind = Ast::kAlt;
  alt.kids = {bytes_ast(text_ascii()),
              concat_ast({byte_range(0xC2, 0xDF), cont}),
              concat_ast({Bytes().set(0xE0), byte_range(0xA0, 0xBF), cont}),
              concat_ast({byte_range(0xE1, 0xEC) | byte_range(0xEE, 0xEF), cont, cont}),
              concat_ast({Bytes().set(0xED), byte_range(0x80, 0x9F), cont}),
              concat_ast({Bytes().set(0xF0), byte_range(0x90, 0xBF), cont, cont}),
              concat_ast({byte_range(0xF1, 0xF3), cont, cont, cont}),
              concat_ast({Bytes().set(0xF4), byte_range(0x80, 0x8F), cont, cont})};
  return alt;
}

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  // The top-level alternatives, each with its own anchors ("^a|b$" is "^a" or "b$").
  Ast parse() {
    const Ast anything = repeat_ast(any_char(), 0, -1);
    Ast alt;
    alt.kind = Ast::kAlt;
    do {
      const bool anchored_start = eat('^');
      Ast body = sequence(true);
      const bool anchored_end = eat('$');
      Ast one;
      if (!anchored_start) one.kids.push_back(anything);
      one.kids.push_back(std::move(body));
      if (!anchored_end) one.kids.push_back(anything);
      alt.kids.push_back(std::move(one));
    } while (eat('|'));
    if (pos_ != p_.size()) error("an unmatched ')'");
    return alt;
  }

 private:
  std::string_view p_;
  size_t pos_ = 0;
  int groups_ = 0;  // open groups

  [[noreturn]] void error(const std::string& what) const { fail("pattern '", p_, "': ", what, " (at ", pos_, ")"); }
  bool more() const { return pos_ < p_.size(); }
  char peek() const { return p_[pos_]; }
  bool eat(char c) {
    if (!more() || peek() != c) return false;
    ++pos_;
    return true;
  }

  Ast alternation() {
    Ast alt;
    alt.kind = Ast::kAlt;
    alt.kids.push_back(sequence());
    while (eat('|')) alt.kids.push_back(sequence());
    return alt.kids.size() == 1 ? std::move(alt.kids[0]) : alt;
  }

  // Up to '|' or ')' (and at the top level, up to a '$' that ends an alternative).
  Ast sequence(bool top = false) {
    Ast seq;
    const auto alternative_end = [&] { return peek() == '$' && (pos_ + 1 == p_.size() || p_[pos_ + 1] == '|'); };
    while (more() && peek() != '|' && peek() != ')' && !(top && alternative_end())) seq.kids.push_back(quantified());
    return seq;
  }

  int number() {
    if (!more() || !isdigit(static_cast<unsigned char>(peek()))) error("a number expected in {}");
    int n = 0;
    while (more() && isdigit(static_cast<unsigned char>(peek()))) {
      n = n * 10 + (p_[pos_++] - '0');
      if (n > 1000) error("a repetition count above 1000");
    }
    return n;
  }

  Ast quantified() {
    Ast a = atom();
    if (!more()) return a;
    int min = 0, max = -1;
    switch (peek()) {
      case '?': max = 1; break;
      case '*': break;
      case '+': min = 1; break;
      case '{': {
        ++pos_;
        min = max = number();
        if (eat(',')) max = more() && peek() == '}' ? -1 : number();
        if (!more() || peek() != '}') error("an unclosed {");
        if (max >= 0 && max < min) error("{n,m} with m < n");
        break;
      }
      default: return a;
    }
    ++pos_;
    eat('?');  // a lazy quantifier: the same language
    if (more() && (peek() == '*' || peek() == '+' || peek() == '?' || peek() == '{')) error("a quantifier after a quantifier");
    return repeat_ast(std::move(a), min, max);
  }

  Ast atom() {
    const auto c = static_cast<unsigned char>(p_[pos_++]);
    switch (c) {
      case '(': {
        if (eat('?') && !eat(':')) error("lookaround and named groups are not supported");
        if (++groups_ > kMaxGroupDepth) error("groups nested deeper than 64");
        Ast a = alternation();
        --groups_;
        if (!eat(')')) error("an unclosed (");
        return a;
      }
      case '[': return bytes_ast(char_class());
      case '.': return bytes_ast(text_ascii());
      case '\\': return bytes_ast(escape(false));
      case '^':
      case '$': error("anchors are supported only at the start and the end");
      case ')':
      case '*':
      case '+':
      case '?':
      case '{': error(std::string("nothing to repeat before '") + static_cast<char>(c) + "'");
      default: break;
    }
    if (c < 0x80) return bytes_ast(Bytes().set(c));
    // A UTF-8 character: its bytes in a row (one atom, for a quantifier after it).
    Ast seq;
    seq.kids.push_back(bytes_ast(Bytes().set(c)));
    while (more() && (static_cast<unsigned char>(peek()) & 0xC0) == 0x80)
      seq.kids.push_back(bytes_ast(Bytes().set(static_cast<unsigned char>(p_[pos_++]))));
    return seq;
  }

  // After '\'; in a class, \b is a backspace (a control character: never in the text).
  Bytes escape(bool in_class) {
    if (!more()) error("a '\\' at the end");
    const char c = p_[pos_++];
    const Bytes digits = byte_range('0', '9');
    const Bytes word = digits | byte_range('a', 'z') | byte_range('A', 'Z') | Bytes().set('_');
    switch (c) {
      case 'd': return digits;
      case 'D': return text_ascii() & ~digits;
      case 'w': return word;
      case 'W': return text_ascii() & ~word;
      case 's': return Bytes().set(' ');  // (the other white space is control characters)
      case 'S': return text_ascii() & ~Bytes().set(' ');
      case 'n': case 'r': case 't': case 'f': case 'v': case '0': return {};
      case 'b':
        if (in_class) return {};
        [[fallthrough]];
      case 'B': error("word boundaries (\\b, \\B) are not supported");
      case 'x': case 'u': {
        const size_t n = c == 'x' ? 2 : 4;
        if (pos_ + n > p_.size()) error("a short \\x or \\u escape");
        const int v = std::stoi(std::string(p_.substr(pos_, n)), nullptr, 16);
        pos_ += n;
        if (v >= 0x80) error("\\x and \\u escapes above 0x7F are not supported");
        return Bytes().set(static_cast<size_t>(v));
      }
      default:
        if (c >= '1' && c <= '9') error("backreferences are not supported");
        if (isalnum(static_cast<unsigned char>(c))) error(std::string("the escape \\") + c + " is not supported");
        return Bytes().set(static_cast<unsigned char>(c));  // \. \- \/ \( ...: the character itself
    }
  }

  Bytes char_class() {
    const bool negated = eat('^');
    Bytes set;
    bool first = true;
    while (true) {
      if (!more()) error("an unclosed [");
      if (peek() == ']' && !first) break;
      first = false;
      Bytes item;
      int lo = -1;
      const auto c = static_cast<unsigned char>(p_[pos_++]);
      if (c >= 0x80) error("non-ASCII characters in a class are not supported");
      if (c == '\\') {
        item = escape(true);
        if (item.count() == 1) lo = static_cast<int>(item._Find_first());
      } else {
        item.set(c);
        lo = c;
      }
      if (lo >= 0 && pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        auto hi = static_cast<unsigned char>(p_[pos_++]);
        if (hi == '\\') {
          const Bytes h = escape(true);
          if (h.count() != 1) error("a class range that ends in a class");
          hi = static_cast<unsigned char>(h._Find_first());
        }
        if (hi >= 0x80) error("non-ASCII characters in a class are not supported");
        if (hi < lo) error("a class range out of order");
        item = byte_range(lo, hi);
      }
      set |= item;
    }
    ++pos_;  // ']'
    return negated ? text_ascii() & ~set : set;
  }
};

struct Nfa {
  struct State {
    std::vector<int> eps;
    Bytes on;     // the bytes that lead to `to`
    int to = -1;
  };
  std::vector<State> states;
  Bytes text = text_ascii() | byte_range(0x80, 0xFF);  // what may be in the generated text

  int add() {
    if (states.size() >= kMaxNfaStates) fail("pattern: too large (more than ", kMaxNfaStates, " states)");
    states.emplace_back();
    return static_cast<int>(states.size() - 1);
  }

  // The fragment [start, end] for a.
  std::pair<int, int> build(const Ast& a) {
    switch (a.kind) {
      case Ast::kBytes: {
        const int s = add(), e = add();
        states[s].on = a.bytes & text;
        states[s].to = e;
        return {s, e};
      }
      case Ast::kConcat: {
        const int s = add();
        int end = s;
        for (const Ast& k : a.kids) {
          const auto [ks, ke] = build(k);
          states[end].eps.push_back(ks);
          end = ke;
        }
        return {s, end};
      }
      case Ast::kAlt: {
        const int s = add(), e = add();
        for (const Ast& k : a.kids) {
          const auto [ks, ke] = build(k);
          states[s].eps.push_back(ks);
          states[ke].eps.push_back(e);
        }
        return {s, e};
      }
      case Ast::kRepeat: {
        const int s = add();
        int end = s;
        for (int i = 0; i < a.min; ++i) {
          const auto [ks, ke] = build(a.kids[0]);
          states[end].eps.push_back(ks);
          end = ke;
        }
        const int e = add();
        if (a.max < 0) {  // then any number more
          const auto [ks, ke] = build(a.kids[0]);
          states[end].eps.push_back(ks);
          states[ke].eps.push_back(end);
          states[end].eps.push_back(e);
        } else {  // then up to max - min more, each optional
          states[end].eps.push_back(e);
          for (int i = a.min; i < a.max; ++i) {
            const auto [ks, ke] = build(a.kids[0]);
            states[end].eps.push_back(ks);
            states[ke].eps.push_back(e);
            end = ke;
          }
        }
        return {s, e};
      }
    }
    return {-1, -1};
  }

  std::vector<int> closure(std::vector<int> set) const {
    std::vector<uint8_t> in(states.size(), 0);
    for (int s : set) in[s] = 1;
    for (size_t i = 0; i < set.size(); ++i)
      for (int t : states[set[i]].eps)
        if (!in[t]) {
          in[t] = 1;
          set.push_back(t);
        }
    std::sort(set.begin(), set.end());
    return set;
  }
};

}  // namespace

ByteDfa ByteDfa::compile(std::string_view pattern) {
  const Ast ast = Parser(pattern).parse();
  Nfa nfa;
  const auto [start, end] = nfa.build(ast);
  // Bytes that no transition tells apart share a class (a dozen or so): the subset construction goes by class.
  std::unordered_set<Bytes> distinct;
  for (const auto& st : nfa.states)
    if (st.to >= 0) distinct.insert(st.on);
  std::vector<int> cls(256, 0);
  size_t n_classes = 1;
  for (const Bytes& on : distinct) {
    std::map<std::pair<int, bool>, int> split;
    for (int c = 0; c < 256; ++c)
      cls[c] = split.emplace(std::make_pair(cls[c], on[static_cast<size_t>(c)]), static_cast<int>(split.size())).first->second;
    n_classes = split.size();
  }
  std::vector<int> representative(n_classes, -1);
  for (int c = 255; c >= 0; --c) representative[cls[c]] = c;

  ByteDfa dfa;
  std::map<std::vector<int>, int32_t> ids;
  std::vector<std::vector<int>> sets = {nfa.closure({start})};
  ids[sets[0]] = 0;
  for (size_t d = 0; d < sets.size(); ++d) {
    std::array<int32_t, 256> next;
    next.fill(-1);
    std::vector<int32_t> by_class(n_classes, -1);
    for (size_t k = 0; k < n_classes; ++k) {
      const auto c = static_cast<size_t>(representative[k]);
      std::vector<int> to;
      for (int s : sets[d])
        if (nfa.states[s].to >= 0 && nfa.states[s].on[c]) to.push_back(nfa.states[s].to);
      if (to.empty()) continue;
      to = nfa.closure(std::move(to));
      auto [it, fresh] = ids.emplace(to, static_cast<int32_t>(sets.size()));
      if (fresh) {
        if (sets.size() >= kMaxDfaStates) fail("pattern '", pattern, "': too complex (more than ", kMaxDfaStates, " DFA states)");
        sets.push_back(std::move(to));
      }
      by_class[k] = it->second;
    }
    for (int c = 0; c < 256; ++c) next[c] = by_class[cls[c]];
    dfa.next.push_back(next);
    dfa.accepting.push_back(std::binary_search(sets[d].begin(), sets[d].end(), end));
  }
  // Cut the dead ends: states from which no accepting one can be reached.
  std::vector<uint8_t> live = dfa.accepting;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t s = 0; s < dfa.next.size(); ++s) {
      if (live[s]) continue;
      for (int32_t t : dfa.next[s])
        if (t >= 0 && live[t]) {
          live[s] = 1;
          changed = true;
          break;
        }
    }
  }
  if (!live[0]) fail("pattern '", pattern, "': no text without JSON escapes matches it");
  for (auto& row : dfa.next)
    for (int32_t& t : row)
      if (t >= 0 && !live[t]) t = -1;
  return dfa;
}

bool ByteDfa::matches(std::string_view text) const {
  int32_t s = start;
  for (char c : text) {
    s = next[s][static_cast<uint8_t>(c)];
    if (s < 0) return false;
  }
  return accepting[s];
}

std::string format_pattern(std::string_view format) {
  // Dates that exist in every year (February up to the 28th; years 1000-9999: Python's date has no year 0)
  // and times without the leap second (Python's datetime and pydantic refuse second 60).
  const std::string date = "[1-9][0-9]{3}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|"
                           "02-(0[1-9]|1[0-9]|2[0-8]))";
  const std::string time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  const std::string octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  // A DNS label after its first character: 0..62 more, not ending in '-', never "--" in the 3rd and 4th
  // places (so no "xn--": punycode that URL and email parsers decode and may reject). Written so that
  // every branch goes on in one shared tail (the DFA is not minimized: ~120 states a label).
  const std::string label_rest =
      "([a-z0-9]|[a-z0-9-]([a-z0-9]|[a-z0-9-][a-z0-9]|([a-z0-9-][a-z0-9]|[a-z0-9]-)[a-z0-9-]{0,58}[a-z0-9]))?";
  // Lowercase; the last label starts with a letter, so the name never reads as a number or an IPv4 address.
  const std::string hostname = "([a-z0-9]" + label_rest + "\\.)*[a-z]" + label_rest;
  // Email: a local part of dot-separated runs, at most 32 units of a character or a dot and a character
  // (<= 63 characters; the limit is 64), '@', 2+ labels. The top-level one is 2..6 letters and not a
  // special-use name that email-validator refuses (arpa, test, local, onion; invalid and localhost are longer).
  const std::string local = "[A-Za-z0-9_+-]([A-Za-z0-9_+-]|\\.[A-Za-z0-9_+-]){0,31}";
  const std::string tld = "([a-z]{2,3}|[b-su-z][a-z]{3}|a([a-qs-z][a-z]{2}|r([a-oq-z][a-z]|p[b-z]))|"
                          "t([a-df-z][a-z]{2}|e([a-rt-z][a-z]|s[a-su-z]))|[a-km-np-z][a-z]{4}|"
                          "l([a-np-z][a-z]{3}|o([abd-z][a-z]{2}|c([b-z][a-z]|a[a-km-z])))|"
                          "o([a-mo-z][a-z]{3}|n([a-hj-z][a-z]{2}|i([a-np-z][a-z]|o[a-mo-z])))|[a-z]{6})";
  // URI path, query and fragment characters: RFC 3986 unreserved, sub-delims, ':' '@' (no '%' escapes).
  const std::string pchar = "-A-Za-z0-9._~!$&'()*+,;=:@";
  // IPv6 groups: g, "g:" and ":g".
  const std::string g = "[0-9a-f]{1,4}", gc = "(" + g + ":)", cg = "(:" + g + ")";
  // Duration numbers: up to 4 digits, so no validator overflows.
  const std::string n = "[0-9]{1,4}";
  const std::string dur_time = "T(" + n + "H(" + n + "M(" + n + "S)?)?|" + n + "M(" + n + "S)?|" + n + "S)";
  if (format == "date") return "^" + date + "$";
  if (format == "time") return "^" + time + "$";
  if (format == "date-time") return "^" + date + "[Tt]" + time + "$";
  const std::string x = "[0-9a-fA-F]";
  if (format == "uuid") return "^" + x + "{8}-" + x + "{4}-" + x + "{4}-" + x + "{4}-" + x + "{12}$";
  // pydantic's UUID1 ... UUID8: that version, and RFC 4122's variant (Python's UUID.version is None without it).
  if (format.size() == 5 && format.substr(0, 4) == "uuid" && format[4] >= '1' && format[4] <= '8')
    return "^" + x + "{8}-" + x + "{4}-" + format[4] + x + "{3}-[89abAB]" + x + "{3}-" + x + "{12}$";
  const std::string ipv4 = "(" + octet + "\\.){3}" + octet;
  if (format == "ipv4") return "^" + ipv4 + "$";
  if (format == "hostname") return "^" + hostname + "$";
  if (format == "email") return "^" + local + "@([a-z0-9]" + label_rest + "\\.)+" + tld + "$";
  // http(s) URLs only (what URL parsers and RFC 3986 both accept), a port 1..9999, no user info.
  if (format == "uri")
    return "^https?://" + hostname + "(:[1-9][0-9]{0,3})?(/[" + pchar + "/]*)?(\\?[" + pchar + "/?]*)?(#[" + pchar +
           "/?]*)?$";
  // 8 groups, or one "::" for 1..8 zero groups (at most 7 groups around it); lowercase, no embedded IPv4,
  // no zone id.
  const std::string ipv6 = "(" + gc + "{7}" + g + "|" + gc + "{1,7}:|" + gc + "{1,6}:" + g + "|" + gc + "{1,5}" + cg +
                           "{1,2}|" + gc + "{1,4}" + cg + "{1,3}|" + gc + "{1,3}" + cg + "{1,4}|" + gc + "{1,2}" + cg +
                           "{1,5}|" + g + ":" + cg + "{1,6}|:(" + cg + "{1,7}|:))";
  if (format == "ipv6") return "^" + ipv6 + "$";
  if (format == "ipvanyaddress") return "^(" + ipv4 + "|" + ipv6 + ")$";  // (pydantic's IPvAnyAddress)
  // Padded base64 (pydantic's Base64Str / Base64Bytes) and its URL-safe alphabet (Base64UrlStr / ...Bytes) of
  // ASCII bytes: Base64Str wants UTF-8 in it. A byte's top bit is bit 5, 3 or 1 of the 1st, 2nd or 3rd character
  // of its group (the 2nd and 3rd characters of a shorter last group end in zero bits).
  const std::string top0 = "[A-Za-f]", mid0 = "[A-HQ-Xg-nw-z0-3]", low0 = "[ABEFIJMNQRUVYZcdghklopstwx014589]";
  for (const auto& [name, alphabet] : {std::pair{"base64", "[A-Za-z0-9+/]"}, std::pair{"base64url", "[A-Za-z0-9_-]"}})
    if (format == name)
      return "^(" + top0 + mid0 + low0 + alphabet + ")*(" + top0 + "[AQgw]==|" + top0 + mid0 + "[AEIMQUYcgkosw048]=)?$";
  // RFC 3339 Appendix A: P, then Y[M[D]], M[D] or D and/or T with H[M[S]], M[S] or S; or weeks alone.
  if (format == "duration")
    return "^P((" + n + "D|" + n + "M(" + n + "D)?|" + n + "Y(" + n + "M(" + n + "D)?)?)(" + dur_time + ")?|" +
           dur_time + "|" + n + "W)$";
  return "";
}

bool any_string_format(std::string_view format) { return format == "password" || format == "binary" || format == "path"; }

uint32_t format_max_length(std::string_view format) {
  if (format == "hostname") return 253;  // RFC 1035 (without a trailing dot)
  if (format == "email") return 254;     // RFC 5321 path limit, less the angle brackets
  if (format == "uri") return 2083;      // pydantic HttpUrl's limit
  return UINT32_MAX;
}

}  // namespace dsinfer
