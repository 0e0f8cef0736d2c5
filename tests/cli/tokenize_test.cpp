// `dsinfer tokenize` end to end.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "run_binary.h"

namespace dsinfer {
namespace {

using Output = testing::RunResult;

Output tokenize(const std::string& args) { return testing::run_dsinfer("tokenize " + args); }

const std::string kLlmVocab = std::string(DSINFER_TEST_DATA) + "/tokenizer/data/ggml-vocab-deepseek-llm.gguf";
const std::string kV3Dir = std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3";

TEST(TokenizeCommand, GgufVocabIds) {
  // llama.cpp's vector for "Hello world" (ggml-vocab-deepseek-llm.gguf.out), BOS 100000 in front.
  EXPECT_EQ(tokenize("-m " + kLlmVocab + " --no-bos 'Hello world'").out, "17464,1843\n");
  EXPECT_EQ(tokenize("-m " + kLlmVocab + " 'Hello world'").out, "100000,17464,1843\n");
}

TEST(TokenizeCommand, TokenizerJsonAndJsonOutput) {
  Output r = tokenize("--tokenizer " + kV3Dir + "/tokenizer.json --json 'Hi<｜User｜>'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["id"], 0);
  EXPECT_EQ(j[0]["piece"], "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(j[2]["id"], 128803);
  EXPECT_EQ(j[2]["piece"], "<｜User｜>");
  // A directory works too; --no-special keeps BOS text as text.
  r = tokenize("--tokenizer " + kV3Dir + " --no-bos --no-special '<｜begin▁of▁sentence｜>'");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out, "0\n");
  EXPECT_NE(r.out.find(','), std::string::npos);
}

TEST(TokenizeCommand, Errors) {
  EXPECT_EQ(tokenize("'no model'").exit_code, 1);
  EXPECT_EQ(tokenize("-m /nonexistent.gguf x").exit_code, 1);
  EXPECT_EQ(tokenize("-m " + kLlmVocab + " --tokenizer " + kV3Dir + " x").exit_code, 1);
  EXPECT_EQ(tokenize("-m " + kLlmVocab).exit_code, 1);  // no text
  Output r = tokenize("-m " + std::string(DSINFER_TEST_DATA) + "/tokenizer/data/ggml-vocab-deepseek-llm.gguf.inp x");
  EXPECT_EQ(r.exit_code, 1) << r.out;  // not a GGUF file
  EXPECT_NE(r.out.find("dsinfer: error:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dsinfer
