// StreamDecoder: token-by-token text is the whole text, and never contains half a character.

#include "tokenizer/stream_decoder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

const Tokenizer& v3() {
  static const auto tok = load_tokenizer(std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3/tokenizer.json");
  return *tok;
}

TEST(StreamDecoder, CorpusRoundTripsTokenByToken) {
  auto g = nlohmann::json::parse(read_text_file(std::string(DSINFER_TEST_DATA) + "/tokenizer/golden/deepseek_v3_corpus.json"));
  size_t cut_tokens = 0;
  for (const auto& c : g["cases"]) {
    const std::string text = c["text"];
    StreamDecoder dec(v3(), /*skip_special=*/false);
    std::string joined;
    for (int32_t id : c["ids"].get<std::vector<int32_t>>()) {
      std::string piece = dec.push(id);
      EXPECT_EQ(utf8_sanitize(piece), piece) << "half a character in a piece of '" << text << "'";
      cut_tokens += piece.size() != v3().token_bytes(id).size();
      joined += piece;
    }
    joined += dec.flush();
    EXPECT_EQ(joined, text);
  }
  EXPECT_GT(cut_tokens, 0u);  // the corpus does contain tokens that end inside a character
}

TEST(StreamDecoder, SkipsSpecialTokensAndReplacesBrokenBytes) {
  const Tokenizer& tok = v3();
  StreamDecoder dec(tok);
  EXPECT_EQ(dec.push(tok.bos_id()), "");
  std::vector<int32_t> ids = tok.encode("🙂", {.add_bos = false});
  ASSERT_GT(ids.size(), 1u);  // an emoji is several byte tokens
  EXPECT_EQ(dec.push(ids[0]), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");  // the stream ended inside the character
  StreamDecoder keep(tok, /*skip_special=*/false);
  EXPECT_EQ(keep.push(tok.eos_id()), "<｜end▁of▁sentence｜>");
}

TEST(Utf8, SanitizeUsesMaximalSubparts) {
  EXPECT_EQ(utf8_sanitize("ok"), "ok");
  EXPECT_EQ(utf8_sanitize("\xE2\x82" "A"), "\xEF\xBF\xBD" "A");        // cut 3-byte sequence: one U+FFFD
  EXPECT_EQ(utf8_sanitize("\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");    // two stray continuations
  EXPECT_EQ(utf8_sanitize("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");    // overlong
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(utf8_sanitize("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_sanitize("\xF0\x9F\x99\x82"), "🙂");
}

TEST(PreTokenizer, DeepSeekV3Pieces) {
  PreTokenizer pre(pretokenizer_patterns("deepseek-v3"));
  EXPECT_EQ(pre.split("12345 ab"), (std::vector<std::string>{"123", "45", " ab"}));
  EXPECT_EQ(pre.split("hello   world  "), (std::vector<std::string>{"hello", "  ", " world", "  "}));
  EXPECT_EQ(pre.split("你好world"), (std::vector<std::string>{"你好", "world"}));
  EXPECT_EQ(pre.split(""), std::vector<std::string>{});
  EXPECT_THROW(PreTokenizer({"(unclosed"}), Error);
  EXPECT_THROW(pretokenizer_patterns("gpt-4o"), Error);
}

TEST(PreTokenizer, InvalidUtf8IsAnError) {
  for (const char* bad : {"abc\xff", "\xC3", "ok \xE2\x82 no", "\xED\xA0\x80", "\xC0\xAF"}) {
    EXPECT_THROW(v3().encode(bad), Error) << bad;
  }
  EXPECT_EQ(utf8_valid_length("ab\xC3"), 2u);
  EXPECT_EQ(utf8_valid_length("añ🙂"), std::string("añ🙂").size());
}

TEST(ByteLevel, MappingIsGpt2) {
  EXPECT_EQ(byte_level_encode(" "), "Ġ");
  EXPECT_EQ(byte_level_encode("\n"), "Ċ");
  EXPECT_EQ(byte_level_encode("a"), "a");
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(byte_level_decode(byte_level_encode(all)), all);
}

}  // namespace
}  // namespace dsinfer
