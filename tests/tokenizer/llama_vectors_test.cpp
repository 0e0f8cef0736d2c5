// llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf.inp/.out, checked by its
// tests/test-tokenizer-0) for the DeepSeek vocabularies. The .out ids were produced by the Hugging Face
// tokenizers and exclude BOS; tests are separated by "\n__ggml_vocab_test__\n".

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

std::string data_path(const std::string& name) { return std::string(DSINFER_TEST_DATA) + "/tokenizer/data/" + name; }

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Vector> read_vectors(const std::string& vocab) {
  std::string inp = read_text_file(data_path(vocab + ".inp"));
  std::istringstream out(read_text_file(data_path(vocab + ".out")));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<Vector> vectors;
  std::string line;
  for (const std::string& t : texts) {
    EXPECT_TRUE(std::getline(out, line)) << vocab << ": fewer .out lines than tests";
    Vector v{t, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) v.ids.push_back(id);
    vectors.push_back(std::move(v));
  }
  return vectors;
}

class LlamaVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaVectors, EncodeMatchesAndRoundTrips) {
  const std::string vocab = GetParam();
  auto tok = load_tokenizer(data_path(vocab));
  ASSERT_TRUE(tok);
  std::vector<Vector> vectors = read_vectors(vocab);
  ASSERT_EQ(vectors.size(), 46u);
  int failures = 0;
  for (const Vector& v : vectors) {
    std::vector<int32_t> ids = tok->encode(v.text, {.add_bos = false, .parse_special = false});
    EXPECT_EQ(ids, v.ids) << vocab << ": text '" << v.text << "'";
    failures += ids != v.ids;
    EXPECT_EQ(tok->decode(ids), v.text);
    // With BOS, the model's own default.
    std::vector<int32_t> with_bos = tok->encode(v.text);
    ASSERT_FALSE(with_bos.empty());
    EXPECT_EQ(with_bos[0], tok->bos_id());
  }
  EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(DeepSeek, LlamaVectors,
                         ::testing::Values("ggml-vocab-deepseek-llm.gguf", "ggml-vocab-deepseek-coder.gguf"));

TEST(GgufVocab, ReadsMetadata) {
  auto tok = load_tokenizer(data_path("ggml-vocab-deepseek-llm.gguf"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->n_vocab(), 102400);
  EXPECT_EQ(tok->bos_id(), 100000);
  EXPECT_EQ(tok->eos_id(), 100001);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_EQ(tok->pre_name(), "deepseek-llm");
  EXPECT_TRUE(tok->is_special(100000));
  EXPECT_FALSE(tok->is_special(100002));  // user-defined, not control
  EXPECT_EQ(tok->token_text(4223), "Ġmonths");
  EXPECT_EQ(tok->token_bytes(4223), " months");
}

TEST(GgufVocab, ControlTokensNeedParseSpecial) {
  auto tok = load_tokenizer(data_path("ggml-vocab-deepseek-coder.gguf"));
  ASSERT_TRUE(tok);
  const std::string text = "<｜begin▁of▁sentence｜>hi<|User|>";
  std::vector<int32_t> parsed = tok->encode(text, {.add_bos = false});
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed.front(), 32013);
  EXPECT_EQ(parsed.back(), 32019);  // user-defined: split out either way
  std::vector<int32_t> plain = tok->encode(text, {.add_bos = false, .parse_special = false});
  EXPECT_NE(plain.front(), 32013);
  EXPECT_EQ(plain.back(), 32019);
  EXPECT_EQ(tok->decode(plain), text);
}

TEST(GgufVocab, CorruptFileIsAnError) {
  std::string bytes = read_text_file(data_path("ggml-vocab-deepseek-coder.gguf"));
  bytes.resize(bytes.size() / 3);
  std::string path = ::testing::TempDir() + "/truncated-vocab.gguf";
  write_file(path, bytes.data(), bytes.size());
  EXPECT_THROW(load_tokenizer(path), Error);
}

TEST(LoadTokenizer, MissingPathIsAnError) {
  EXPECT_THROW(load_tokenizer("/nonexistent/model.gguf"), Error);
  EXPECT_EQ(load_tokenizer(::testing::TempDir()), nullptr);  // a directory without tokenizer.json
}

}  // namespace
}  // namespace dsinfer
