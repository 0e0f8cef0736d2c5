// JSON Schema patterns as DFAs over a string's bytes: against std::regex_search with the ECMAScript grammar
// (the regex dialect JSON Schema names) on random texts of printable ASCII, the formats' patterns on valid
// and invalid values, and the errors for what a DFA cannot hold.

#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <vector>

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
    std::vector<std::string> good, bad;
  };
  const std::string label63 = "abc" + std::string(59, '-') + "d", label64 = "a" + std::string(62, 'b') + "c";
  for (const Case& c : std::vector<Case>{
           // (dates that exist in every year; no leap second: narrower, as Python's date and datetime are)
           {"date", {"2023-02-28", "1999-12-31", "1000-01-01", "2024-04-30"},
            {"2024-13-01", "2024-00-10", "2024-01-32", "24-01-01", "2024-1-01", "0001-01-01", "2023-02-29", "2024-02-30", "2024-04-31"}},
           {"time", {"23:59:59Z", "00:00:00.123456789+05:30", "12:34:56z", "01:02:03-00:00"},
            {"24:00:00Z", "12:60:00Z", "12:00:00", "12:00Z", "12:00:00.Z", "12:00:00+5:30", "23:59:60Z"}},
           {"date-time", {"2024-01-01T00:00:00Z", "2024-06-30t12:30:45.5-07:00"}, {"2024-01-01 00:00:00Z", "2024-01-01T00:00:00"}},
           {"uuid", {"123e4567-e89b-12d3-a456-426614174000", "ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB"},
            {"123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g"}},
           {"ipv4", {"0.0.0.0", "255.255.255.255", "10.1.20.199"}, {"256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5"}},
           // Narrower than the formats: lowercase, the last label starts with a letter, no "--" in a label's
           // 3rd and 4th places (so no "xn--").
           {"hostname", {"localhost", "a", "example.com", "my-host.example.co.uk", "0.a1", "a--b.c", "ab-c.d-ef", label63},
            {"", "-a.com", "a-.com", "a..b", "a.com.", ".a", "1.2.3.4", "a.1b", "xn--abc.com", "ab--c.com", "Example.com",
             "a_b.com", label64}},
           // TLD: 2..6 letters, not arpa / test / local / onion (nor invalid / localhost: too long).
           {"email", {"john.smith@example.com", "A+b_c-D@mail.example.org", "x@a-b.io", "x@y.info", "x@y.museum", "x@y.tests"},
            {"x@localhost", "x@y.test", "x@y.local", "x@y.onion", "x@y.arpa", "x@y.invalid", "x@y.c", "x@y.c0m", ".x@y.com",
             "x.@y.com", "x..y@y.com", "x@y..com", "x@-y.com", "x@y.com.", "x y@y.com", "x@Y.com", "x@y.xn--p1ai"}},
           {"uri", {"https://example.com", "http://localhost:8080/a/b?x=1&y=2#top", "https://a.b/c/../d;p=1?q=a:b@c/d?e#f/g?h",
                    "http://x.io/~user/it's(1)*,!$", "http://a.com?", "http://a.com#"},
            {"ftp://a.com", "HTTP://a.com", "http://", "http://a.com:0", "http://a.com:08", "http://a.com:10000",
             "http://1.2.3.4/", "http://a.com/%20", "http://a.com/a b", "http://a.com#a#b", "http://a.com/[x]",
             "http://user@a.com/"}},
           {"ipv6", {"::", "::1", "1::", "fe80::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
                     "2001:db8::ff00:42:8329", "0:0:0:0:0:0:0:0", "1:2:3:4:5:6::8"},
            {"1:2:3:4:5:6:7:8:9", "1::2::3", ":::", "1:2:3:4:5:6:7", "12345::", "1::2:3:4:5:6:7:8", ":1::", "1:", "g::1",
             "::ffff:1.2.3.4", "fe80::1%eth0", "FE80::1"}},
           // pydantic's formats: UUID4 / UUID7 (the version digit, RFC 4122's variant), IPvAnyAddress, Base64Str,
           // Base64UrlStr (padded).
           {"uuid4", {"123e4567-e89b-42d3-a456-426614174000", "ABCDEFAB-CDEF-4BCD-BFAB-CDEFABCDEFAB"},
            {"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-42d3-c456-426614174000", "123e4567e89b42d3a456426614174000"}},
           {"uuid7", {"01890a5d-ac96-774b-bcce-b302099a8057"}, {"01890a5d-ac96-474b-bcce-b302099a8057"}},
           {"ipvanyaddress", {"10.1.20.199", "::1", "2001:db8::ff00:42:8329"}, {"01.2.3.4", "::ffff:1.2.3.4", "1.2.3"}},
           // (of ASCII bytes: Base64Str decodes to UTF-8)
           {"base64", {"", "YQ==", "YWI=", "YWJj", "AAB+", "YWJjZA==", "f38w"}, {"YQ", "Y", "YQ=", "Y===", "YW Jj", "AAB-",
                                                                             "YQ==YQ==", "+/+/", "gA==", "f3/w", "f3+="}},
           {"base64url", {"", "AAB-", "AAB_", "YQ==", "YWI="}, {"AAB+", "YQ", "YWJ", "-_-_"}},
           // RFC 3339 Appendix A (Y[M[D]] and H[M[S]] in order, no fractions), up to 4 digits a number.
           {"duration", {"P1D", "P1Y2M3DT4H5M6S", "PT1H", "PT0S", "P2W", "P1M", "P1YT1S", "PT1M30S", "P9999Y", "P1M2D"},
            {"P", "PT", "P1", "P1H", "P1DT", "P1W2D", "P1Y1D", "PT1H1S", "P10000Y", "P1.5D", "-P1D", "p1d", "P1DT1D"}},
       }) {
    const ByteDfa dfa = ByteDfa::compile(format_pattern(c.format));
    EXPECT_LE(dfa.next.size(), 500u) << c.format << ": a larger DFA makes the length tables next to it costlier";
    const std::regex re(format_pattern(c.format), std::regex::ECMAScript);  // the pattern means the same there
    for (const std::string& v : c.good) {
      EXPECT_TRUE(dfa.matches(v)) << c.format << ": " << v;
      EXPECT_TRUE(std::regex_search(v, re)) << c.format << ": " << v;
    }
    for (const std::string& v : c.bad) {
      EXPECT_FALSE(dfa.matches(v)) << c.format << ": " << v;
      EXPECT_FALSE(std::regex_search(v, re)) << c.format << ": " << v;
    }
  }
  EXPECT_EQ(format_pattern("idn-email"), "");
  EXPECT_EQ(format_pattern("iri"), "");
  EXPECT_EQ(format_pattern("uuid9"), "");
  for (const char* f : {"password", "binary", "path"}) EXPECT_TRUE(any_string_format(f)) << f;
  EXPECT_FALSE(any_string_format("uuid"));
  EXPECT_EQ(format_max_length("hostname"), 253u);
  EXPECT_EQ(format_max_length("email"), 254u);
  EXPECT_EQ(format_max_length("uri"), 2083u);
  EXPECT_EQ(format_max_length("ipv6"), UINT32_MAX);
  EXPECT_EQ(format_max_length("date"), UINT32_MAX);
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
