// The bundled DeepSeek-V3 tokenizer.json against Hugging Face `tokenizers` on a broad corpus
// (tests/tokenizer/golden/deepseek_v3_corpus.json, made by tools/reference/make_tokenizer_goldens.py).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

using nlohmann::json;

const std::string kTokenizerJson = std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3/tokenizer.json";

json golden(const std::string& name) {
  return json::parse(read_text_file(std::string(DSINFER_TEST_DATA) + "/tokenizer/golden/" + name));
}

const Tokenizer& v3() {
  static const std::unique_ptr<Tokenizer> tok = load_tokenizer(kTokenizerJson);
  return *tok;
}

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += (c < 0x20 || c == 0x7f) ? cat("\\x", std::hex, int(c)) : std::string(1, char(c));
  return out;
}

TEST(HfCorpus, LoadsTokenizerJsonAndConfig) {
  const Tokenizer& tok = v3();
  EXPECT_EQ(tok.n_vocab(), 128815);
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.pre_name(), "deepseek-v3");
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_FALSE(tok.is_special(128803));  // <｜User｜> is an added token but not special
  EXPECT_EQ(tok.find_token("<｜User｜>"), 128803);
  EXPECT_NE(tok.chat_template().find("<｜Assistant｜>"), std::string::npos);
}

TEST(HfCorpus, EncodeMatchesHuggingFace) {
  json g = golden("deepseek_v3_corpus.json");
  const Tokenizer& tok = v3();
  size_t n = 0, mismatches = 0, bytes = 0;
  for (const json& c : g["cases"]) {
    const std::string text = c["text"];
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> got = tok.encode(text, {.add_bos = false});
    EXPECT_EQ(got, ids) << "text: '" << show(text) << "'";
    mismatches += got != ids;
    EXPECT_EQ(tok.encode(text), c["ids_bos"].get<std::vector<int32_t>>()) << "with BOS: '" << show(text) << "'";
    EXPECT_EQ(tok.encode(text, {.add_bos = false, .parse_special = false}),
              c["ids_no_special"].get<std::vector<int32_t>>())
        << "special tokens as text: '" << show(text) << "'";
    EXPECT_EQ(tok.decode(got), text);
    ++n;
    bytes += text.size();
  }
  EXPECT_GE(n, 300u);
  EXPECT_EQ(mismatches, 0u) << "of " << n << " texts (" << bytes << " bytes)";
}

// The pre-tokenizer regexes use \p{L} \p{N} \p{P} \p{S} \p{M} and \s; Hugging Face runs them on Oniguruma,
// dsinfer on PCRE2. Every code point must be classified the same way by both.
TEST(HfCorpus, Pcre2ClassesMatchOniguruma) {
  json g = golden("onig_classes.json");
  for (auto& [name, ranges] : g.items()) {
    std::string pattern = onig_to_pcre2(name == "s" ? std::string("\\s") : cat("\\p{", name, "}"));
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, nullptr);
    ASSERT_TRUE(re) << pattern;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
    std::vector<bool> onig(0x110000, false);
    for (const json& r : ranges)
      for (uint32_t cp = r[0]; cp <= r[1].get<uint32_t>(); ++cp) onig[cp] = true;
    int differ = 0;
    std::string examples;
    for (uint32_t cp = 1; cp < 0x110000; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      char buf[4];
      int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (len == 1) buf[0] = char(cp);
      if (len == 2) buf[0] = char(0xC0 | (cp >> 6)), buf[1] = char(0x80 | (cp & 0x3F));
      if (len == 3) buf[0] = char(0xE0 | (cp >> 12)), buf[1] = char(0x80 | ((cp >> 6) & 0x3F)), buf[2] = char(0x80 | (cp & 0x3F));
      if (len == 4)
        buf[0] = char(0xF0 | (cp >> 18)), buf[1] = char(0x80 | ((cp >> 12) & 0x3F)),
        buf[2] = char(0x80 | ((cp >> 6) & 0x3F)), buf[3] = char(0x80 | (cp & 0x3F));
      bool pcre = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(buf), size_t(len), 0, 0, md, nullptr) >= 0;
      if (pcre != onig[cp]) {
        if (++differ <= 10) examples += cat(" U+", std::hex, cp, pcre ? "(pcre)" : "(onig)");
      }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    EXPECT_EQ(differ, 0) << "class " << name << " differs on" << examples;
  }
}

TEST(HfCorpus, BadTokenizerJsonIsAnError) {
  EXPECT_THROW(vocab_from_json_text("{not json", "", "bad.json"), Error);
  EXPECT_THROW(vocab_from_json_text(R"({"model": {"type": "Unigram"}})", "", "bad.json"), Error);
  EXPECT_THROW(vocab_from_json_text(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]},
                                       "pre_tokenizer": {"type": "ByteLevel", "use_regex": false}})",
                                    "", "bad.json"),
               Error);
  // A merge whose result is not in the vocabulary.
  VocabData v = vocab_from_json_text(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]},
                                         "pre_tokenizer": {"type": "ByteLevel", "use_regex": false}})",
                                     "", "bad.json");
  EXPECT_THROW(Tokenizer{v}, Error);
  EXPECT_THROW(v3().decode(std::vector<int32_t>{5, 999999}), Error);
}

}  // namespace
}  // namespace dsinfer
