// ModelConfig from the releases' own config.json files and from GGUF metadata, and the clear errors a
// damaged or hostile configuration gets (never a loop over billions of layers, never an overflowing size).

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "model/model_config.h"
#include "test_models.h"

namespace dsinfer {
namespace {

using testing::error_of;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

const std::string kV3 = std::string(DSINFER_TEST_DATA) + "/data/deepseek-v3/config.json";
const std::string kV2Lite = std::string(DSINFER_TEST_DATA) + "/data/deepseek-v2-lite/config.json";

TEST(ModelConfig, ReadsTheReleasesConfigs) {
  const ModelConfig v3 = config_from_hf_json(read_json(kV3), "v3");
  EXPECT_EQ(v3.num_hidden_layers, 61);
  EXPECT_EQ(v3.num_nextn_predict_layers, 1);
  EXPECT_EQ(v3.n_routed_experts, 256);
  EXPECT_EQ(v3.num_experts_per_tok, 8);
  EXPECT_EQ(v3.latent_dim(), 576);
  EXPECT_EQ(v3.scoring_func, ScoringFunc::kSigmoid);
  EXPECT_EQ(v3.topk_method, TopkMethod::kNoauxTc);
  EXPECT_TRUE(v3.rope.yarn);
  EXPECT_FALSE(v3.is_moe_layer(2));
  EXPECT_TRUE(v3.is_moe_layer(3));

  const ModelConfig lite = config_from_hf_json(read_json(kV2Lite), "v2-lite");
  EXPECT_EQ(lite.q_lora_rank, 0);
  EXPECT_EQ(lite.n_routed_experts, 64);
  EXPECT_EQ(lite.scoring_func, ScoringFunc::kSoftmax);
}

TEST(ModelConfig, DamagedFieldsAreNamed) {
  struct Case {
    const char* field;
    nlohmann::json value;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"num_hidden_layers", 1500000000, "'num_hidden_layers': is 1500000000; must be in [1, 1024]"},
      {"num_hidden_layers", 0, "'num_hidden_layers': is 0; must be in [1, 1024]"},
      {"vocab_size", int64_t{1} << 40, "'vocab_size': is 1099511627776"},
      {"hidden_size", -7168, "'hidden_size': is -7168"},
      {"n_routed_experts", int64_t{1} << 32, "'n_routed_experts': is 4294967296"},
      {"num_attention_heads", 1 << 20, "'num_attention_heads'"},
      {"kv_lora_rank", 0, "'kv_lora_rank': is 0"},
      {"qk_rope_head_dim", 63, "'qk_rope_head_dim': must be even"},
      {"intermediate_size", int64_t{1} << 50, "'intermediate_size'"},
      {"num_experts_per_tok", 300, "'num_experts_per_tok': must be in [1, n_routed_experts=256]"},
      {"n_group", 7, "'n_group': must divide n_routed_experts=256"},
      {"num_nextn_predict_layers", 17, "'num_nextn_predict_layers': is 17"},
      {"first_k_dense_replace", 62, "'first_k_dense_replace'"},
      {"hidden_size", "7168", "field 'hidden_size' has the wrong type (string)"},
  };
  const nlohmann::json base = read_json(kV3);
  for (const Case& c : cases) {
    nlohmann::json j = base;
    j[c.field] = c.value;
    EXPECT_NE(error_of([&] { config_from_hf_json(j, "config.json"); }).find(c.expected), std::string::npos)
        << c.field << " = " << c.value.dump() << ": "
        << error_of([&] { config_from_hf_json(j, "config.json"); });
  }
  nlohmann::json j = base;
  j.erase("kv_lora_rank");
  EXPECT_NE(error_of([&] { config_from_hf_json(j, "config.json"); }).find("required field 'kv_lora_rank' is missing"),
            std::string::npos);
}

// The GGUF path: a whole deepseek2 metadata set (the fuzzer's seed) read as is, then with a block count
// of 1.5 billion — as a fuzzed file once asked for; it took 10 s to refuse under the sanitizers.
TEST(ModelConfig, GgufBlockCountIsBounded) {
  const std::string seed = std::string(DSINFER_TEST_DATA) + "/../fuzz/seeds/gguf/deepseek2-mtp-metadata.gguf";
  auto file = GgufFile::open(seed);
  const ModelConfig c = config_from_gguf(*file);
  EXPECT_EQ(c.num_nextn_predict_layers, 1);

  GgufWriter w;
  for (const auto& [key, value] : file->metadata()) {
    w.add_kv(key, key == "deepseek2.block_count" ? GgufValue::uint32(1500000000u) : value);
  }
  const std::string path = testing::temp_dir() + "/huge-block-count.gguf";
  w.write(path);
  auto huge = GgufFile::open(path);
  EXPECT_NE(error_of([&] { config_from_gguf(*huge); }).find("'num_hidden_layers': is 1499999999; must be in [1, 1024]"),
            std::string::npos)
      << error_of([&] { config_from_gguf(*huge); });
}

}  // namespace
}  // namespace dsinfer
