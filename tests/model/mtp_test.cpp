// The multi-token-prediction module (spec 10) against goldens made from transformers' own decoder block
// (tools/reference/make_mtp_goldens.py), and the same module read from every layout dsinfer writes.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "formats/json_file.h"
#include "model/loader.h"
#include "model/sequence.h"
#include "model/transformer.h"
#include "test_models.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

using testing::max_abs;
using testing::read_floats;
using testing::rel_diff;

const std::string kGoldenDir = std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3-mtp";

// MTP logits of every position of ids: one main pass (all rows, final-normed hidden states), then the
// module over (h_i, t_{i+1}) at positions i = 0..n-2 — in one batch, or one token per call (decode-like,
// through the module's own cache layer).
std::vector<float> mtp_logits(const LoadedModel& m, const std::vector<int32_t>& ids, AttentionForm form,
                              bool one_by_one) {
  ThreadPool pool(2);
  Transformer tf(m.config, m.weights, pool);
  tf.set_attention_form(form);
  const int64_t n = static_cast<int64_t>(ids.size()), D = m.config.hidden_size;
  LatentKvCache cache = make_single_sequence_cache(m.config, n, DType::F32, true);
  const int seq = cache.create_sequence();
  if (!cache.reserve(seq, n)) fail("cache");
  Batch main;
  for (int64_t t = 0; t < n; ++t) main.add(ids[t], t, seq, true);
  std::vector<float> hidden;
  tf.forward(main, cache, nullptr, &hidden);
  if (static_cast<int64_t>(hidden.size()) != n * D) fail("normed_hidden has ", hidden.size(), " values");
  std::vector<float> out;
  for (int64_t i0 = 0; i0 < n - 1;) {
    const int64_t i1 = one_by_one ? i0 + 1 : n - 1;
    Batch b;
    for (int64_t i = i0; i < i1; ++i) b.add(ids[i + 1], i, seq, true);
    const std::vector<float> l = tf.mtp_forward(b, hidden.data() + i0 * D, cache);
    out.insert(out.end(), l.begin(), l.end());
    i0 = i1;
  }
  return out;
}

TEST(Mtp, ModuleMatchesTransformersDecoderBlock) {
  LoadOptions o;
  o.mtp = true;
  auto m = load_model(kGoldenDir, o);
  ASSERT_EQ(m->config.num_nextn_predict_layers, 1);
  ASSERT_EQ(m->weights.mtp.size(), 1u);
  ASSERT_EQ(m->weights.layers.size(), static_cast<size_t>(m->config.num_hidden_layers + 1));
  const auto golden = read_json_file(kGoldenDir + "/golden.json");
  const auto inputs = read_json_file(kGoldenDir + "/inputs.json")["sequences"];
  int checked = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto ids = inputs[i].get<std::vector<int32_t>>();
    if (ids.size() < 2) continue;
    const std::vector<float> want = read_floats(cat(kGoldenDir, "/mtp_logits_", i, ".bin"));
    ASSERT_EQ(want.size(), (ids.size() - 1) * static_cast<size_t>(m->config.vocab_size));
    for (AttentionForm form : {AttentionForm::kAbsorbed, AttentionForm::kNaive})
      for (bool one_by_one : {false, true}) {
        const float r = rel_diff(mtp_logits(*m, ids, form, one_by_one), want);
        std::printf("  seq %zu (%zu tokens) %s %s: max|diff| / max|logit| = %.3g\n", i, ids.size(),
                    form == AttentionForm::kNaive ? "naive" : "absorbed", one_by_one ? "one by one" : "one batch", r);
        EXPECT_LE(r, golden["tolerance"]["rel"].get<float>()) << "sequence " << i;
      }
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(Mtp, MainModelUnchangedAndModuleOptional) {
  // The same directory without LoadOptions::mtp: the main model as before, no module mapped.
  auto plain = load_model(kGoldenDir);
  EXPECT_TRUE(plain->weights.mtp.empty());
  EXPECT_EQ(plain->weights.layers.size(), static_cast<size_t>(plain->config.num_hidden_layers));
  const auto ids = read_json_file(kGoldenDir + "/inputs.json")["sequences"][1].get<std::vector<int32_t>>();
  const std::vector<float> want = read_floats(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3/logits_1.bin");
  EXPECT_LE(rel_diff(testing::logits_of(*plain, ids), want), 1e-4f);
  LoadOptions o;
  o.mtp = true;
  auto with = load_model(kGoldenDir, o);
  EXPECT_LE(rel_diff(testing::logits_of(*with, ids), want), 1e-4f);

  // A model without a module says so; a cache without the module's layer is refused.
  try {
    load_model(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3", o);
    FAIL() << "loaded an MTP module from a model without one";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_nextn_predict_layers = 0"), std::string::npos) << e.what();
  }
  ThreadPool pool(1);
  Transformer tf(with->config, with->weights, pool);
  LatentKvCache cache = make_single_sequence_cache(with->config, 8);
  const int seq = cache.create_sequence();
  ASSERT_TRUE(cache.reserve(seq, 8));
  Batch b;
  b.add(3, 0, seq, true);
  std::vector<float> h(static_cast<size_t>(with->config.hidden_size), 1.0f);
  EXPECT_THROW(tf.mtp_forward(b, h.data(), cache), Error);
}

// dsinfer synth --mtp 1 writes the module in every layout from the same values: GGUF (llama.cpp's
// blk.N.nextn.* names, block_count counting it, no copies of the embedding and head) and HF give the
// same MTP logits; quantized files stay close.
TEST(Mtp, SynthesizedLayoutsAgree) {
  ModelConfig c = preset_config("tiny-v3");
  c.num_nextn_predict_layers = 1;
  auto make = [&](const std::string& name, DType t) {
    const std::string path = testing::temp_dir() + "/" + name;
    SynthOptions so;
    so.dtype = t;
    so.seed = 11;
    so.threads = 2;
    synth_model(c, so, path);
    LoadOptions o;
    o.mtp = true;
    return load_model(path, o);
  };
  auto hf = make("mtp-hf", DType::F32);
  auto gguf = make("mtp.gguf", DType::F32);
  auto q8 = make("mtp-q8.gguf", DType::Q8_0);
  LoadOptions repacked_opts;
  repacked_opts.mtp = true;
  repacked_opts.repack = true;
  auto q8r = load_model(testing::temp_dir() + "/mtp-q8.gguf", repacked_opts);
  ASSERT_GT(q8r->repack.tensors, 0);
  EXPECT_EQ(q8r->weights.mtp[0].head.data, q8r->weights.lm_head.data);  // the head followed its repacking
  EXPECT_EQ(q8r->weights.mtp[0].head.dtype, q8r->weights.lm_head.dtype);
  auto fp8 = make("mtp-fp8", DType::F8_E4M3);
  EXPECT_EQ(gguf->config.num_hidden_layers, c.num_hidden_layers);
  EXPECT_EQ(gguf->config.num_nextn_predict_layers, 1);
  EXPECT_EQ(gguf->find_tensor("blk.3.nextn.embed_tokens.weight"), nullptr);
  ASSERT_NE(gguf->find_tensor("blk.3.nextn.eh_proj.weight"), nullptr);
  EXPECT_EQ(gguf->weights.mtp[0].embed.data, gguf->weights.embed.data);  // the main views stand in
  EXPECT_TRUE(gguf->weights.mtp[0].head_is_main);
  EXPECT_FALSE(hf->weights.mtp[0].head_is_main);
  EXPECT_NE(hf->find_tensor("model.layers.3.shared_head.head.weight"), nullptr);
  EXPECT_EQ(fp8->find_tensor("model.layers.3.eh_proj.weight")->dtype, DType::BF16);

  const std::vector<int32_t> ids = testing::test_ids(20, static_cast<int>(hf->config.vocab_size));
  const std::vector<float> want = mtp_logits(*hf, ids, AttentionForm::kAbsorbed, false);
  ASSERT_GT(max_abs(want), 0.1f);
  EXPECT_LE(rel_diff(mtp_logits(*gguf, ids, AttentionForm::kAbsorbed, false), want), 1e-5f);
  // Quantized: the median position (routing flips under rounding make single positions differ more, as
  // for the main model's logits in consistency_test.cpp).
  const int64_t V = hf->config.vocab_size;
  auto median_rel = [&](const std::vector<float>& got) {
    std::vector<float> per_pos;
    for (size_t t = 0; t + 1 < ids.size(); ++t)
      per_pos.push_back(rel_diff({got.begin() + t * V, got.begin() + (t + 1) * V},
                                 {want.begin() + t * V, want.begin() + (t + 1) * V}));
    std::sort(per_pos.begin(), per_pos.end());
    return per_pos[per_pos.size() / 2];
  };
  const float q8_rel = median_rel(mtp_logits(*q8, ids, AttentionForm::kAbsorbed, false));
  const float repack_rel = rel_diff(mtp_logits(*q8r, ids, AttentionForm::kAbsorbed, false),
                                    mtp_logits(*q8, ids, AttentionForm::kAbsorbed, false));
  std::printf("  q8_0 repacked against the file layout: %.3g\n", repack_rel);
  EXPECT_LE(repack_rel, 1e-4f);
  const float fp8_rel = median_rel(mtp_logits(*fp8, ids, AttentionForm::kAbsorbed, false));
  std::printf("  median per-position relative difference: q8_0 %.3g, block-fp8 %.3g\n", q8_rel, fp8_rel);
  EXPECT_LE(q8_rel, 0.1f);
  EXPECT_LE(fp8_rel, 0.2f);
}

// LoadOptions::mtp_from: a GGUF made without the module (as llama.cpp's converter makes them) takes it
// from the Hugging Face copy of the model, and drafts exactly as that copy does.
TEST(Mtp, ModuleFromTheHuggingFaceCopy) {
  ModelConfig c = preset_config("tiny-v3");
  SynthOptions so;
  so.seed = 11;
  so.threads = 2;
  const std::string gguf = testing::temp_dir() + "/no-mtp.gguf", hf = testing::temp_dir() + "/with-mtp-hf";
  synth_model(c, so, gguf);
  ModelConfig with = c;
  with.num_nextn_predict_layers = 1;
  synth_model(with, so, hf);
  LoadOptions o;
  o.mtp_from = hf;
  auto m = load_model(gguf, o);
  ASSERT_EQ(m->weights.mtp.size(), 1u);
  EXPECT_EQ(m->config.num_nextn_predict_layers, 1);
  LoadOptions own;
  own.mtp = true;
  auto ref = load_model(hf, own);
  const std::vector<int32_t> ids = testing::test_ids(20, 256);
  EXPECT_LE(rel_diff(mtp_logits(*m, ids, AttentionForm::kAbsorbed, false),
                     mtp_logits(*ref, ids, AttentionForm::kAbsorbed, false)), 1e-5f);

  auto expect_refused = [&](const std::string& from, const std::string& needle) {
    LoadOptions bad;
    bad.mtp_from = from;
    try {
      load_model(gguf, bad);
      ADD_FAILURE() << "loaded the module from " << from;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string other = testing::synth("tiny-v2-lite", "other-hf", DType::F32);
  expect_refused(other, "not the same model");
  const std::string no_module = testing::temp_dir() + "/no-mtp-hf";
  synth_model(c, so, no_module);
  expect_refused(no_module, "num_nextn_predict_layers = 0");
  expect_refused(gguf, "Hugging Face model directory");
}

}  // namespace
}  // namespace dsinfer
