#pragma once
// Pre-tokenization: cutting text into the pieces that BPE encodes one by one.
//
// A pre-tokenizer is a sequence of regex Splits with Hugging Face's "Isolated" behaviour: each regex runs
// over every piece the previous one produced, and both its matches and the gaps between them become
// pieces. Regexes see one piece at a time, so a lookahead such as `\s+(?!\S)` stops at the piece's end,
// as in Hugging Face tokenizers. The regexes are written in Hugging Face's (Oniguruma) dialect and run on
// PCRE2 (UTF + UCP, JIT when available), rewritten so that the classes match Oniguruma's for every code
// point: `\s` / `\S` get Oniguruma's set, which also contains U+0085 (NEL), and \p{L} \p{N} \p{P} \p{S}
// \p{M} get the code points that Oniguruma's newer Unicode tables assign and PCRE2 10.42's (Unicode 14)
// do not (unicode_newer.inc). tests/tokenizer/hf_corpus_test.cpp checks every code point.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsinfer {

// A piece of the input: bytes [begin, end).
struct TextSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
};

class PreTokenizer {
 public:
  // Compiles the regexes once; throws Error naming the regex if one does not compile.
  explicit PreTokenizer(std::vector<std::string> patterns);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Cuts text into pieces, appended to out as spans of text, in order, covering all of it. Throws Error
  // if the text is not valid UTF-8.
  void split(std::string_view text, std::vector<TextSpan>& out) const;
  // Convenience for tests: the pieces as strings.
  std::vector<std::string> split(std::string_view text) const;

  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  struct Compiled;
  std::vector<std::string> patterns_;
  std::vector<std::unique_ptr<Compiled>> regexes_;
};

// The Split regexes (Hugging Face dialect) of a named pre-tokenizer, as GGUF's `tokenizer.ggml.pre` names
// it: "deepseek-v3" (V3/R1), "deepseek-llm" (V2/V2-Lite, DeepSeek LLM), "deepseek-coder". Throws Error for
// other names.
std::vector<std::string> pretokenizer_patterns(std::string_view name);

// Rewrites an Oniguruma pattern so PCRE2 classifies every code point the same way (see above).
std::string onig_to_pcre2(std::string_view pattern);

}  // namespace dsinfer
