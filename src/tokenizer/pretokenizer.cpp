// Pre-tokenizer regexes on PCRE2. See pretokenizer.h for the semantics.

#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/stream_decoder.h"
#include "util/error.h"

namespace dsinfer {

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

namespace {

// Oniguruma's \s (Unicode): TAB..CR, NEL and the separators (Zs, Zl, Zp). PCRE2 with UCP leaves out NEL.
constexpr const char* kOnigSpaceItems = R"(\t\n\x0B\f\r\x{85}\p{Z})";

// Members of \p{L} ... that Oniguruma's (newer) Unicode tables have and PCRE2 10.42's (Unicode 14) lack.
struct ClassExtra {
  const char* name;
  const char* items;
};
constexpr ClassExtra kClassExtras[] = {
#include "tokenizer/unicode_newer.inc"
};

const char* class_extra(char name) {
  for (const ClassExtra& e : kClassExtras)
    if (e.name[0] == name) return e.items;
  return nullptr;
}

// Frees PCRE2 match data at scope exit.
struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (!md) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(md); }
};

}  // namespace

std::string onig_to_pcre2(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 32);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      ++i;
      if (e == 's') {
        out += in_class ? cat(kOnigSpaceItems) : cat("[", kOnigSpaceItems, "]");
      } else if (e == 'S') {
        if (in_class) fail("regex '", p, "': \\S inside a character class is not supported");
        out += cat("[^", kOnigSpaceItems, "]");
      } else if (e == 'p' && i + 3 < p.size() && p[i + 1] == '{' && p[i + 3] == '}' && class_extra(p[i + 2])) {
        // \p{X} plus the code points newer Unicode versions added to X.
        std::string items = cat("\\p{", p[i + 2], "}", class_extra(p[i + 2]));
        out += in_class ? items : "[" + items + "]";
        i += 3;
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

PreTokenizer::PreTokenizer(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (const std::string& pattern : patterns_) {
    std::string translated = onig_to_pcre2(pattern);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    auto compiled = std::make_unique<Compiled>();
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &err_off, nullptr);
    if (!compiled->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      fail("pre-tokenizer regex '", pattern, "': ", reinterpret_cast<const char*>(msg), " at offset ", err_off);
    }
    compiled->jit = pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE) == 0;
    regexes_.push_back(std::move(compiled));
  }
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<TextSpan>& out) const {
  // PCRE2 is told not to check UTF-8 (the JIT never does), so invalid input must not reach it.
  if (size_t valid = utf8_valid_length(text); valid != text.size())
    fail("text is not valid UTF-8 at byte ", valid);
  if (text.size() > UINT32_MAX) fail("text of ", text.size(), " bytes is too long to tokenize (max 4 GiB)");
  size_t first = out.size();
  out.push_back({0, static_cast<uint32_t>(text.size())});
  if (text.empty()) {
    out.pop_back();
    return;
  }
  std::vector<TextSpan> next;
  for (const auto& re : regexes_) {
    MatchData match(re->code);
    next.clear();
    for (size_t k = first; k < out.size(); ++k) {
      const TextSpan piece = out[k];
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.begin);
      const size_t len = piece.end - piece.begin;
      size_t pos = 0;    // where the next search starts
      size_t emitted = 0;  // bytes of this piece already turned into pieces
      while (pos <= len) {
        int rc = re->jit ? pcre2_jit_match(re->code, subject, len, pos, 0, match.md, nullptr)
                         : pcre2_match(re->code, subject, len, pos, PCRE2_NO_UTF_CHECK, match.md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message(rc, msg, sizeof(msg));
          fail("pre-tokenizer regex '", patterns_[&re - regexes_.data()], "': ", reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.md);
        size_t mb = ov[0], me = ov[1];
        if (me == mb) {
          // An empty match isolates nothing; step over one UTF-8 character and search again.
          ++pos;
          while (pos < len && (static_cast<unsigned char>(text[piece.begin + pos]) & 0xC0) == 0x80) ++pos;
          continue;
        }
        if (mb > emitted) next.push_back({piece.begin + uint32_t(emitted), piece.begin + uint32_t(mb)});
        next.push_back({piece.begin + uint32_t(mb), piece.begin + uint32_t(me)});
        emitted = pos = me;
      }
      if (emitted < len) next.push_back({piece.begin + uint32_t(emitted), piece.end});
    }
    out.resize(first);
    out.insert(out.end(), next.begin(), next.end());
  }
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  std::vector<TextSpan> spans;
  split(text, spans);
  std::vector<std::string> pieces;
  for (const TextSpan& s : spans) pieces.emplace_back(text.substr(s.begin, s.end - s.begin));
  return pieces;
}

// The regexes come from the models' own tokenizer.json files (the DeepSeek-V3 one is bundled in
// assets/tokenizers/deepseek-v3); llama.cpp names the same lists in src/llama-vocab.cpp.
std::vector<std::string> pretokenizer_patterns(std::string_view name) {
  if (name == "deepseek-v3") {
    return {
        R"(\p{N}{1,3})",
        "[一-龥぀-ゟ゠-ヿ]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
        " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    };
  }
  if (name == "deepseek-llm") {
    return {
        "[\r\n]",
        "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
        "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
        "\\s+$",
        "[一-龥ࠀ-一가-퟿]+",
        "\\p{N}+",
    };
  }
  if (name == "deepseek-coder") {
    return {
        "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}",
    };
  }
  fail("unknown pre-tokenizer '", name, "' (known: deepseek-v3, deepseek-llm, deepseek-coder)");
}

}  // namespace dsinfer
