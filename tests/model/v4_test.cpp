// DeepSeek-V4's forward pass against goldens made by the official Hugging Face transformers implementation
// (tools/reference/make_v4_goldens.py): the logits of every position, the routed experts and the compressed
// entries the CSA indexer keeps — for whole sequences and for one fed in uneven chunks.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/json_file.h"
#include "model/v4_transformer.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "test_models.h"

namespace dsinfer {
namespace {

const std::string kDir = std::string(DSINFER_TEST_DATA) + "/golden/tiny-v4";

using testing::max_abs;
using testing::max_abs_diff;
using testing::read_floats;


std::vector<int32_t> ids_of(const nlohmann::json& seq) { return seq.get<std::vector<int32_t>>(); }

// f() must throw an Error whose message contains needle.
template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(V4Config, ReadsTheTransformersConfig) {
  const V4Config c = v4_config_from_hf_json(read_json_file(kDir + "/config.json"), "config.json");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.rope_dim, 8);
  EXPECT_EQ(c.compress_rate_csa, 4);
  EXPECT_EQ(c.compress_rate_hca, 8);
  ASSERT_EQ(c.layer_types.size(), 4u);
  EXPECT_EQ(c.layer_types[0], V4Attention::kSliding);
  EXPECT_EQ(c.layer_types[1], V4Attention::kHeavilyCompressed);
  EXPECT_EQ(c.layer_types[2], V4Attention::kCompressedSparse);
  EXPECT_EQ(c.mlp_layer_types[0], V4Router::kHash);
  EXPECT_EQ(c.mlp_layer_types[1], V4Router::kTopK);
  EXPECT_FALSE(c.rope_main.yarn);
  EXPECT_TRUE(c.rope_compress.yarn);
  EXPECT_DOUBLE_EQ(c.rope_compress.theta, 160000.0);
  EXPECT_DOUBLE_EQ(c.rope_compress.factor, 4.0);
  EXPECT_DOUBLE_EQ(c.swiglu_limit, 1.5);
}

TEST(V4Config, ReadsTheReleaseLayout) {
  // DeepSeek's own config.json: per-layer compress_ratios, num_hash_layers, qk_rope_head_dim, a flat YaRN.
  nlohmann::json j = read_json_file(kDir + "/config.json");
  j.erase("layer_types");
  j.erase("mlp_layer_types");
  j.erase("compress_rates");
  j.erase("partial_rotary_factor");
  j["compress_ratios"] = {0, 128, 4, 4};
  j["num_hash_layers"] = 1;
  j["qk_rope_head_dim"] = 8;
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 16}, {"original_max_position_embeddings", 65536}};
  j.erase("rope_parameters");
  const V4Config c = v4_config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.layer_types[1], V4Attention::kHeavilyCompressed);
  EXPECT_EQ(c.layer_types[2], V4Attention::kCompressedSparse);
  EXPECT_EQ(c.mlp_layer_types[0], V4Router::kHash);
  EXPECT_EQ(c.mlp_layer_types[1], V4Router::kTopK);
  EXPECT_TRUE(c.rope_compress.yarn);
  EXPECT_DOUBLE_EQ(c.rope_compress.factor, 16.0);
  EXPECT_DOUBLE_EQ(c.rope_main.theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rope_compress.theta, 160000.0);
}

TEST(V4Config, BadFieldsAreNamed) {
  nlohmann::json j = read_json_file(kDir + "/config.json");
  auto expect_config_error = [](const nlohmann::json& bad, const std::string& needle) {
    expect_error([&] { v4_config_from_hf_json(bad, "config.json"); }, needle);
  };
  nlohmann::json b = j;
  b["o_groups"] = 3;
  expect_config_error(b, "o_groups");
  b = j;
  b["layer_types"] = {"sliding_attention"};
  expect_config_error(b, "layer_types");
  b = j;
  b["layer_types"][1] = "full_attention";
  expect_config_error(b, "full_attention");
  b = j;
  b["num_key_value_heads"] = 4;
  expect_config_error(b, "num_key_value_heads");
  b = j;
  b["scoring_func"] = "softmax";
  expect_config_error(b, "scoring_func");
  b = j;
  b["sliding_window"] = 1 << 24;
  expect_config_error(b, "sliding_window");
  b = j;
  b["hidden_size"] = "64";
  expect_config_error(b, "wrong type");
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  const float tol = 1e-4f * max_abs(want), diff = max_abs_diff(got, want);
  EXPECT_LE(diff, tol) << what;
  std::printf("  %s: max |diff| %.3g (%.2g of max |logit|)\n", what.c_str(), diff, diff / max_abs(want));
}

TEST(V4Golden, LogitsExpertsAndIndexMatchHuggingFace) {
  auto m = load_v4_model(kDir);
  ThreadPool pool(2);
  V4Transformer tf(m->config, m->weights, pool);
  const auto inputs = read_json_file(kDir + "/inputs.json")["sequences"];
  ASSERT_EQ(inputs.size(), 4u);
  const int64_t V = m->config.vocab_size;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int32_t> ids = ids_of(inputs[i]);
    V4State st = tf.new_state();
    V4Trace trace;
    const std::vector<float> logits = tf.forward(ids, st, /*all_logits=*/true, &trace);
    const std::vector<float> want = read_floats(cat(kDir, "/logits_", i, ".bin"));
    ASSERT_EQ(want.size(), ids.size() * static_cast<size_t>(V));
    expect_close(logits, want, cat("sequence ", i));
    const auto experts = read_json_file(cat(kDir, "/experts_", i, ".json"));
    for (int64_t l = 0; l < m->config.num_hidden_layers; ++l)
      EXPECT_EQ(trace.experts[static_cast<size_t>(l)],
                experts[cat("layer_", l)].get<std::vector<std::vector<int32_t>>>())
          << "sequence " << i << " layer " << l;
    const auto index = read_json_file(cat(kDir, "/index_keys_", i, ".json"));
    for (const auto& [layer, rows] : index.items()) {
      const int64_t l = std::stoll(layer.substr(6));
      EXPECT_EQ(trace.index_entries[static_cast<size_t>(l)], rows.get<std::vector<std::vector<int32_t>>>())
          << "sequence " << i << " " << layer;
    }
  }
}

TEST(V4Golden, ChunkedFeedingMatchesHuggingFace) {
  auto m = load_v4_model(kDir);
  ThreadPool pool(2);
  V4Transformer tf(m->config, m->weights, pool);
  const auto in = read_json_file(kDir + "/inputs.json");
  const std::vector<int32_t> ids = ids_of(in["sequences"][3]);
  const auto chunks = in["chunks"].get<std::vector<int64_t>>();
  V4State st = tf.new_state();
  std::vector<float> all;
  size_t pos = 0;
  for (int64_t n : chunks) {
    std::vector<int32_t> part(ids.begin() + static_cast<long>(pos), ids.begin() + static_cast<long>(pos + n));
    const std::vector<float> l = tf.forward(part, st, /*all_logits=*/true);
    all.insert(all.end(), l.begin(), l.end());
    pos += static_cast<size_t>(n);
  }
  ASSERT_EQ(pos, ids.size());
  expect_close(all, read_floats(kDir + "/logits_chunked_3.bin"), "chunked");
  // And token by token from the start: the last logits equal the whole-sequence run's.
  V4State one = tf.new_state();
  std::vector<float> last;
  for (int32_t t : ids) last = tf.forward({t}, one);
  const std::vector<float> want = read_floats(kDir + "/logits_3.bin");
  const int64_t V = m->config.vocab_size;
  expect_close(last, std::vector<float>(want.end() - V, want.end()), "token by token");
}

TEST(V4Golden, BadInputIsAnError) {
  auto m = load_v4_model(kDir);
  ThreadPool pool(1);
  V4Transformer tf(m->config, m->weights, pool);
  V4State st = tf.new_state();
  EXPECT_THROW(tf.forward({}, st), Error);
  EXPECT_THROW(tf.forward({static_cast<int32_t>(m->config.vocab_size)}, st), Error);
  EXPECT_THROW(tf.forward({-1}, st), Error);
  EXPECT_EQ(st.n_past, 0);
}

}  // namespace
}  // namespace dsinfer

namespace dsinfer {
namespace {

// A checkpoint that does not fit its config is an Error naming the tensor, never a crash.
TEST(V4Golden, MisshapenOrMissingTensorsAreNamed) {
  const std::string dir = testing::temp_dir() + "/v4-misfit";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kDir + "/model.safetensors", dir + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  nlohmann::json cfg = read_json_file(kDir + "/config.json");
  auto expect_load_error = [&](const nlohmann::json& c, const std::string& needle) {
    const std::string text = c.dump();
    write_file(dir + "/config.json", text.data(), text.size());
    expect_error([&] { load_v4_model(dir); }, needle);
  };
  nlohmann::json c = cfg;
  c["o_lora_rank"] = 8;
  expect_load_error(c, "wo_a.weight");
  c = cfg;
  c["n_routed_experts"] = 9;
  expect_load_error(c, "gate.weight");
  c = cfg;
  c["layer_types"][0] = "compressed_sparse_attention";  // layer 0 has no compressor in the file
  expect_load_error(c, "layers.0.attn.compressor");
  c = cfg;
  c["vocab_size"] = 300;
  expect_load_error(c, "embed");
}

}  // namespace
}  // namespace dsinfer
