// The forward pass against goldens made by the official Hugging Face transformers implementation
// (tools/reference/make_model_goldens.py): logits of every position and the routed experts per layer.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "formats/json_file.h"
#include "kernels/cuda/gpu.h"
#include "model/convert.h"
#include "model/loader.h"
#include "model/transformer.h"
#include "model/sequence.h"
#include "util/error.h"
#include "util/mapped_file.h"
#include "test_models.h"

namespace dsinfer {
namespace {

const std::string kGolden = std::string(DSINFER_TEST_DATA) + "/golden/";

using testing::max_abs;
using testing::max_abs_diff;
using testing::read_floats;


struct Case {
  std::string model;
  AttentionForm form;
  bool converted = false;  // run the GGUF `dsinfer convert` makes of the checkpoint (f32) instead
  std::string gpu;         // hybrid CPU+GPU with these GPU weights (f32 / bf16); skipped without a GPU
};

// The golden checkpoint as `dsinfer convert --dtype f32` writes it (once per process).
std::string converted_gguf(const std::string& model) {
  const std::string path = testing::temp_dir() + "/golden-" + model + "-converted.gguf";
  if (!std::filesystem::exists(path)) {
    ConvertOptions o;
    o.dtype = DType::F32;
    convert_to_gguf(kGolden + model, path, o);
  }
  return path;
}

class Golden : public ::testing::TestWithParam<Case> {};

TEST_P(Golden, LogitsAndExpertsMatchHuggingFace) {
  const Case& k = GetParam();
  const std::string dir = kGolden + k.model;
  LoadOptions lo;
  if (!k.gpu.empty()) {
    std::string why;
    if (gpu::list_devices(&why).empty()) GTEST_SKIP() << why;
    lo.gpu.enabled = true;
    // "+experts": every batch runs the routed experts on the GPU too (streamed, dequantized there)
    const size_t plus = k.gpu.find("+experts");
    lo.gpu.dtype = k.gpu.substr(0, plus);
    lo.gpu.expert_tokens = plus == std::string::npos ? 0 : 1;
  }
  // bf16 GPU weights round every product's operands to 8 significant bits: the logits move by ~1e-3 of
  // their range and a near-tie in a router may pick another expert, so that case checks the logits only.
  const bool bf16 = k.gpu.rfind("bf16", 0) == 0;
  auto m = load_model(k.converted ? converted_gguf(k.model) : dir, lo);
  ThreadPool pool(2);
  Transformer tf(m->config, m->weights, pool);
  tf.set_attention_form(k.form);
  const auto inputs = read_json_file(dir + "/inputs.json")["sequences"];
  ASSERT_GE(inputs.size(), 4u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = inputs[i].get<std::vector<int32_t>>();
    LatentKvCache cache = make_single_sequence_cache(m->config, static_cast<int64_t>(ids.size()));
    const int seq = cache.create_sequence();
    ASSERT_TRUE(cache.reserve(seq, static_cast<int64_t>(ids.size())));
    Batch b;
    for (size_t t = 0; t < ids.size(); ++t) b.add(ids[t], static_cast<int64_t>(t), seq, true);
    ForwardTrace trace;
    const std::vector<float> got = tf.forward(b, cache, &trace);
    const std::vector<float> want = read_floats(cat(dir, "/logits_", i, ".bin"));
    const float diff = max_abs_diff(got, want), scale = max_abs(want);
    std::printf("  %s seq %zu (%zu tokens): max|diff| = %.3g, max|logit| = %.3g, ratio %.3g\n", k.model.c_str(), i,
                ids.size(), diff, scale, diff / scale);
    if (bf16) {  // per position: the median of max|diff| / max|logit| (a flipped expert moves a few a lot)
      const int64_t V = m->config.vocab_size, n = static_cast<int64_t>(ids.size());
      std::vector<float> rel(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t)
        rel[t] = max_abs_diff(std::vector<float>(got.begin() + t * V, got.begin() + (t + 1) * V),
                              std::vector<float>(want.begin() + t * V, want.begin() + (t + 1) * V)) / scale;
      std::sort(rel.begin(), rel.end());
      std::printf("  bf16 GPU weights: per-position median %.3g, max %.3g\n", rel[n / 2], rel.back());
      EXPECT_LE(rel[n / 2], 1.5e-2f) << k.model << " sequence " << i;
      continue;
    }
    EXPECT_LE(diff, 1e-4f * scale) << k.model << " sequence " << i;

    const auto experts = read_json_file(cat(dir, "/experts_", i, ".json"));
    int layers_checked = 0;
    for (int64_t l = 0; l < m->config.num_hidden_layers; ++l) {
      if (!m->config.is_moe_layer(l)) continue;
      const auto want_e = experts.at(cat("layer_", l)).get<std::vector<std::vector<int32_t>>>();
      ASSERT_EQ(trace.experts[l].size(), want_e.size());
      for (size_t t = 0; t < want_e.size(); ++t) EXPECT_EQ(trace.experts[l][t], want_e[t]) << "layer " << l << " token " << t;
      ++layers_checked;
    }
    EXPECT_GT(layers_checked, 0);

    // DeepSeek Sparse Attention: the keys each position kept (an empty row: all earlier positions).
    const std::string index_file = cat(dir, "/index_keys_", i, ".json");
    if (!std::filesystem::exists(index_file)) continue;
    const auto kept = read_json_file(index_file);
    int sparse_rows = 0;
    for (int64_t l = 0; l < m->config.num_hidden_layers; ++l) {
      const auto want_k = kept.at(cat("layer_", l)).get<std::vector<std::vector<int32_t>>>();
      const KeySelection& sel = trace.selected_keys[l];
      for (size_t t = 0; t < want_k.size(); ++t) {
        const std::vector<int32_t> got_k = t < sel.size() ? sel[t] : std::vector<int32_t>{};
        EXPECT_EQ(got_k, want_k[t]) << "layer " << l << " position " << t;
        sparse_rows += !want_k[t].empty();
      }
    }
    if (ids.size() > static_cast<size_t>(m->config.index_topk)) EXPECT_GT(sparse_rows, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, Golden,
                         ::testing::Values(Case{"tiny-v3", AttentionForm::kAbsorbed}, Case{"tiny-v3", AttentionForm::kNaive},
                                           Case{"tiny-v2-lite", AttentionForm::kAbsorbed},
                                           Case{"tiny-v2-lite", AttentionForm::kNaive},
                                           Case{"tiny-v2", AttentionForm::kAbsorbed}, Case{"tiny-v2", AttentionForm::kNaive},
                                           Case{"tiny-v3", AttentionForm::kAbsorbed, true},
                                           Case{"tiny-v2-lite", AttentionForm::kAbsorbed, true},
                                           Case{"tiny-v2", AttentionForm::kNaive, true},
                                           Case{"tiny-v32", AttentionForm::kAbsorbed}, Case{"tiny-v32", AttentionForm::kNaive},
                                           Case{"tiny-v32", AttentionForm::kAbsorbed, true},
                                           Case{"tiny-v3", AttentionForm::kAbsorbed, false, "f32"},
                                           Case{"tiny-v3", AttentionForm::kNaive, false, "f32"},
                                           Case{"tiny-v2-lite", AttentionForm::kAbsorbed, false, "f32"},
                                           Case{"tiny-v2", AttentionForm::kAbsorbed, false, "f32"},
                                           Case{"tiny-v32", AttentionForm::kAbsorbed, false, "f32"},
                                           Case{"tiny-v3", AttentionForm::kAbsorbed, true, "f32"},
                                           Case{"tiny-v3", AttentionForm::kAbsorbed, false, "f32+experts"},
                                           Case{"tiny-v2-lite", AttentionForm::kAbsorbed, false, "f32+experts"},
                                           Case{"tiny-v32", AttentionForm::kAbsorbed, true, "f32+experts"},
                                           Case{"tiny-v3", AttentionForm::kAbsorbed, false, "bf16"},
                                           Case{"tiny-v2-lite", AttentionForm::kAbsorbed, false, "bf16"}),
                         [](const auto& info) {
                           std::string n = info.param.model + (info.param.form == AttentionForm::kNaive ? "_naive" : "_absorbed") +
                                           (info.param.converted ? "_converted_gguf" : "") +
                                           (info.param.gpu.empty() ? "" : "_gpu_" + info.param.gpu);
                           for (auto& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

TEST(Golden, HiddenStatesPerLayerMatchHuggingFace) {
  const std::string dir = kGolden + "tiny-v3";
  auto m = load_model(dir);
  ThreadPool pool(1);
  Transformer tf(m->config, m->weights, pool);
  const auto ids = read_json_file(dir + "/inputs.json")["sequences"][1].get<std::vector<int32_t>>();
  LatentKvCache cache = make_single_sequence_cache(m->config, static_cast<int64_t>(ids.size()));
  const int seq = cache.create_sequence();
  ASSERT_TRUE(cache.reserve(seq, static_cast<int64_t>(ids.size())));
  Batch b;
  for (size_t t = 0; t < ids.size(); ++t) b.add(ids[t], static_cast<int64_t>(t), seq, t + 1 == ids.size());
  ForwardTrace trace;
  tf.forward(b, cache, &trace);
  const std::vector<float> want = read_floats(dir + "/hidden_1.bin");  // [n_layers+1][T][D]
  const size_t per = ids.size() * static_cast<size_t>(m->config.hidden_size);
  ASSERT_EQ(want.size(), per * trace.hidden.size());
  for (size_t l = 0; l < trace.hidden.size(); ++l) {
    std::vector<float> w(want.begin() + static_cast<long>(l * per), want.begin() + static_cast<long>((l + 1) * per));
    EXPECT_LE(max_abs_diff(trace.hidden[l], w), 1e-4f * max_abs(w)) << "after layer " << l;
  }
}

}  // namespace
}  // namespace dsinfer
