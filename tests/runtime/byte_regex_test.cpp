// JSON Schema patterns as DFAs over a string's bytes: against std::regex_search with the ECMAScript grammar
// (the regex dialect JSON Schema names) on random texts of printable ASCII, the formats' patterns on valid
// and invalid values, and the errors for what a DFA cannot hold.

#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>

#include "runtime/byte_regex.h"
#include "util/error.h"

namespace dsinfer {
namespace {

TEST(ByteRegex, AgreesWithEcmaScriptRegexSearchOnRandomTexts) {
  const char* patterns[] = {
      "^[A-Z]{3}-[0-9]{2}$", "ab+c", "^(foo|bar)?baz$", "^a{2,4}$", "^a{2,}b*$", "x.y", "^[^0-9 ]+$",
      "^\\d+(\\.\\d{1,2})?$", "^(?:ab|cd)*e$", "^\\w+@\\w+\\.com$", "[-+]?1", "^\\S\\s\\S$", "^[a\\-z]$", "^$",
      "^a|b$", "^[\\da-f]{2}:[\\D]$", "^(a|b)*?c+?$", "\\.\\/", "^\\x41\\u0042$",
  };
  const std::string alphabet = "abcdefxyzABCZ0129 -+.@:/_e";
  std::mt19937 rng(1);
  for (const char* p : patterns) {
    const ByteDfa dfa = ByteDfa::compile(p);
    const std::regex re(p, std::regex::ECMAScript);
    int positives = 0;
    for (int i = 0; i < 3000; ++i) {
      std::string text;
      for (int n = rng() % 10; n > 0; --n) text += alphabet[rng() % alphabet.size()];
      const bool expected = std::regex_search(text, re);
      EXPECT_EQ(dfa.matches(text), expected) << p << " on '" << text << "'";
      positives += expected;
    }
    // Texts that match, made from the pattern's own characters, for patterns random text rarely meets.
    for (const char* t : {"ABC-12", "abbbc", "foobaz", "baz", "aaa", "aab", "x y", "abc", "12.5", "ababe", "me@site.com",
                          "+1", "a b", "-", "", "a", "0f:x", "abcc", "./", "AB"}) {
      EXPECT_EQ(dfa.matches(t), std::regex_search(std::string(t), re)) << p << " on '" << t << "'";
      positives += dfa.matches(t);
    }
    EXPECT_GT(positives, 0) << p << ": the comparison saw no match";
  }
}

TEST(ByteRegex, FormatsMatchTheirValuesOnly) {
  struct Case {
    const char* format;
    std::vector<const char*> good, bad;
  };
  for (const Case& c : std::vector<Case>{
           {"date", {"2024-02-29", "1999-12-31", "0001-01-01"}, {"2024-13-01", "2024-00-10", "2024-01-32", "24-01-01", "2024-1-01"}},
           {"time", {"23:59:60Z", "00:00:00.123456789+05:30", "12:34:56z", "01:02:03-00:00"},
            {"24:00:00Z", "12:60:00Z", "12:00:00", "12:00Z", "12:00:00.Z", "12:00:00+5:30"}},
           {"date-time", {"2024-01-01T00:00:00Z", "2024-06-30t12:30:45.5-07:00"}, {"2024-01-01 00:00:00Z", "2024-01-01T00:00:00"}},
           {"uuid", {"123e4567-e89b-12d3-a456-426614174000", "ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB"},
            {"123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g"}},
           {"ipv4", {"0.0.0.0", "255.255.255.255", "10.1.20.199"}, {"256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5"}},
       }) {
    const ByteDfa dfa = ByteDfa::compile(format_pattern(c.format));
    for (const char* v : c.good) EXPECT_TRUE(dfa.matches(v)) << c.format << ": " << v;
    for (const char* v : c.bad) EXPECT_FALSE(dfa.matches(v)) << c.format << ": " << v;
  }
  EXPECT_EQ(format_pattern("email"), "");
}

std::string compile_error(const std::string& p) {
  try {
    ByteDfa::compile(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "(compiled)";
}

TEST(ByteRegex, RefusesWhatADfaCannotHold) {
  for (const auto& [p, error] : std::vector<std::pair<std::string, std::string>>{
           {"(a)\\1", "backreferences are not supported"},
           {"a(?=b)", "lookaround and named groups are not supported"},
           {"\\bword", "word boundaries"},
           {"(ab", "an unclosed ("},
           {"ab)", "an unmatched ')'"},
           {"[ab", "an unclosed ["},
           {"a{3,2}", "{n,m} with m < n"},
           {"*a", "nothing to repeat"},
           {"a**", "a quantifier after a quantifier"},
           {"a^b", "anchors are supported only at the start and the end"},
           {"^\"$", "no text without JSON escapes matches it"},
           {"^\\n$", "no text without JSON escapes matches it"},
           {"[é]", "non-ASCII characters in a class"},
           {"^(a|b|c|d|e|f|g|h){0,1000}x{0,1000}$", "too"},
       }) {
    EXPECT_NE(compile_error(p).find(error), std::string::npos) << p << " -> " << compile_error(p);
  }
  EXPECT_TRUE(ByteDfa::compile("^caf\xc3\xa9+$").matches("caf\xc3\xa9\xc3\xa9")) << "a UTF-8 character is one atom";
}

}  // namespace
}  // namespace dsinfer
