// Load-time repacking (model/repack.h): which weights move into the interleaved layouts, and that a
// repacked model computes what the file layout computes — bit for bit between the SIMD and scalar
// kernels over 256 greedy tokens, and to float rounding against the plain layout.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "kernels/cpu/matmul.h"
#include "tensor/interleave.h"
#include "test_models.h"

namespace dsinfer {
namespace {

struct PathGuard {
  ~PathGuard() { set_matmul_path(MatmulPath::kFast); }
};

std::unique_ptr<LoadedModel> load(const std::string& path, bool repack) {
  LoadOptions o;
  o.repack = repack;
  return load_model(path, o);
}

TEST(Repack, MovesOnlyMatmulAndPerHeadWeightsWithWholeRowGroups) {
  const std::string path =
      testing::synth("tiny-v2-lite", "tiny-v2-lite-repack-which-q4_0.gguf", DType::Q4_0, 3);
  auto plain = load(path, false);
  auto m = load(path, true);
  EXPECT_EQ(plain->repack.tensors, 0);
  ASSERT_GT(m->repack.tensors, 0);
  ASSERT_TRUE(m->repacked);
  int64_t r8 = 0;
  uint64_t bytes = 0;
  for (const WeightRef& r : weight_views(m->weights)) {
    const TensorView& t = *r.view;
    if (!is_interleaved(t.dtype)) continue;
    ++r8;
    bytes += t.nbytes;
    EXPECT_TRUE(r.use == WeightUse::kMatmul || (r.use == WeightUse::kPerHead && t.shape.size() == 3)) << t.name;
    EXPECT_EQ(t.rows() % kInterleaveRows, 0) << t.name;
    EXPECT_GE(static_cast<const uint8_t*>(t.data), m->repacked->data()) << t.name;
  }
  EXPECT_EQ(r8, m->repack.tensors);
  EXPECT_EQ(bytes, m->repack.bytes);
  EXPECT_EQ(m->weights.embed.dtype, DType::Q4_0);  // looked up by row: kept in the file layout
  EXPECT_FALSE(is_interleaved(m->weights.layers[0].attn.kv_b_proj.dtype));
  EXPECT_TRUE(is_interleaved(m->weights.layers.back().moe.experts[0].gate.dtype));
  // Same values, other layout.
  const TensorView& a = plain->weights.layers.back().moe.experts[1].down;
  const TensorView& b = m->weights.layers.back().moe.experts[1].down;
  EXPECT_EQ(to_f32(a), to_f32(b));
}

TEST(Repack, AModelAboveTheMemoryLimitStaysInTheFileMapping) {
  const std::string path = testing::synth("tiny-v3", "tiny-v3-repack-limit-q4_0.gguf", DType::Q4_0, 5);
  LoadOptions o;
  o.repack = true;
  o.repack_limit = 4096;  // far below the eligible bytes
  auto m = load_model(path, o);
  EXPECT_EQ(m->repack.tensors, 0);
  EXPECT_FALSE(m->repacked);
  EXPECT_NE(m->repack.skipped.find("stay in the file mapping"), std::string::npos) << m->repack.skipped;
  for (const WeightRef& r : weight_views(m->weights))
    EXPECT_FALSE(is_interleaved(r.view->dtype)) << r.view->name;
  const auto ids = testing::test_ids(9, static_cast<int>(m->config.vocab_size));
  EXPECT_EQ(testing::logits_of(*m, ids), testing::logits_of(*load(path, false), ids));
}

TEST(Repack, RepackedModelsDecodeAsTheFileLayoutDoes) {
  for (const char* preset : {"tiny-v2-lite", "tiny-v3"})
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q5_1}) {
      const std::string path =
          testing::synth(preset, std::string(preset) + "-repack-" + dtype_name(t) + ".gguf", t, 11);
      auto plain = load(path, false);
      auto m = load(path, true);
      ASSERT_GT(m->repack.tensors, 0) << preset;
      const DType expert = m->weights.layers.back().moe.experts[0].gate.dtype;
      EXPECT_EQ(expert, *interleaved_of(t)) << preset << " " << dtype_name(t);
      // SIMD == scalar kernels on the repacked weights, 256 greedy tokens.
      std::vector<int32_t> fast, scalar;
      {
        PathGuard g;
        fast = testing::greedy(*m, 256);
        set_matmul_path(MatmulPath::kScalar);
        scalar = testing::greedy(*m, 256);
      }
      EXPECT_EQ(fast, scalar) << preset << " " << dtype_name(t);
      // Against the file layout: the same integer sums, float accumulation order aside.
      std::vector<int32_t> ids = testing::test_ids(5, static_cast<int>(m->config.vocab_size));
      ids.insert(ids.end(), fast.begin(), fast.begin() + 40);
      const auto lp = testing::logits_of(*plain, ids), lr = testing::logits_of(*m, ids);
      const int64_t V = m->config.vocab_size, n = static_cast<int64_t>(ids.size());
      std::vector<float> rel;
      for (int64_t i = 0; i < n; ++i)
        rel.push_back(testing::rel_diff(std::vector<float>(lr.begin() + i * V, lr.begin() + (i + 1) * V),
                                        std::vector<float>(lp.begin() + i * V, lp.begin() + (i + 1) * V)));
      // Until a router near-tie sends a token to another expert (after which that position's KV differs
      // for everything later), only float rounding separates the two.
      for (int64_t i = 0; i < 8; ++i)
        EXPECT_LE(rel[i], 1e-5f) << preset << " " << dtype_name(t) << " position " << i;
      std::sort(rel.begin(), rel.end());
      std::printf(
          "  %s %s: repacked vs file layout, per-position max|diff|/max|logit| median %.3g, max %.3g\n",
          preset, dtype_name(t), rel[n / 2], rel.back());
      EXPECT_LE(rel[n / 2], 0.03f) << preset << " " << dtype_name(t);  // FastVsReference's int8 bound
    }
}

// IQ1_S / IQ1_M experts change representation when repacked (lattice indexes -> 2-bit values, +40 %): the
// growth is reported, the values are unchanged, SIMD == scalar on the repacked model, and its logits follow
// the file layout's to float rounding (the same integer products per block, summed in another order).
TEST(Repack, IQ1ExpertsAreUnpackedToTwoBitValuesAndComputeAsTheFileLayout) {
  for (DType t : {DType::IQ1_S, DType::IQ1_M}) {
    const std::string path = testing::synth("tiny-v3-k", std::string("tiny-v3-k-repack-") + dtype_name(t) + ".gguf", t, 13);
    auto plain = load(path, false);
    auto m = load(path, true);
    const TensorView& e = m->weights.layers.back().moe.experts[2].up;
    ASSERT_EQ(e.dtype, *interleaved_of(t)) << dtype_name(t);
    EXPECT_EQ(to_f32(e), to_f32(plain->weights.layers.back().moe.experts[2].up)) << dtype_name(t);
    const RepackPlan plan = plan_repack(plain->weights);
    EXPECT_GT(m->repack.growth_bytes, 0u) << dtype_name(t);
    EXPECT_EQ(m->repack.growth_bytes, plan.growth_bytes) << dtype_name(t);
    {
      PathGuard g;
      const std::vector<int32_t> fast = testing::greedy(*m, 64);
      set_matmul_path(MatmulPath::kScalar);
      EXPECT_EQ(testing::greedy(*m, 64), fast) << dtype_name(t);
    }
    const auto ids = testing::test_ids(8, static_cast<int>(m->config.vocab_size));
    const auto lp = testing::logits_of(*plain, ids), lr = testing::logits_of(*m, ids);
    const int64_t V = m->config.vocab_size;
    for (int64_t i = 0; i < 4; ++i)
      EXPECT_LE(testing::rel_diff(std::vector<float>(lr.begin() + i * V, lr.begin() + (i + 1) * V),
                                  std::vector<float>(lp.begin() + i * V, lp.begin() + (i + 1) * V)),
                1e-5f)
          << dtype_name(t) << " position " << i;
  }
}

// MLA's split per-head projections k_b [H, rkv, dn] / v_b [H, dv, rkv] are repacked when each head holds
// whole 8-row groups (the tiny presets' 16-wide heads cannot be block-quantized, so this config widens them).
// Both attention forms read them: the absorbed one by head row ranges, the naive one also dequantizes k_b.
TEST(Repack, PerHeadProjectionsAreRepackedAndComputeAsTheFileLayout) {
  ModelConfig c = preset_config("tiny-v2-lite");
  c.kv_lora_rank = 64;
  c.qk_nope_head_dim = 32;
  c.v_head_dim = 32;
  const std::string path = testing::temp_dir() + "/tiny-v2-lite-wide-heads-q4_0.gguf";
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.dtype = DType::Q4_0;
    o.seed = 5;
    synth_model(c, o, path);
  }
  auto plain = load(path, false);
  auto m = load(path, true);
  const MlaWeights& a = m->weights.layers[1].attn;
  ASSERT_TRUE(a.split_kv_b());
  EXPECT_EQ(a.k_b.dtype, DType::Q4_0_R8);
  EXPECT_EQ(a.v_b.dtype, DType::Q4_0_R8);
  EXPECT_EQ(to_f32(a.k_b), to_f32(plain->weights.layers[1].attn.k_b));  // same values, other layout
  {
    PathGuard g;
    const std::vector<int32_t> fast = testing::greedy(*m, 64);
    set_matmul_path(MatmulPath::kScalar);
    EXPECT_EQ(testing::greedy(*m, 64), fast);  // SIMD == scalar on the repacked heads
  }
  const auto ids = testing::test_ids(40, static_cast<int>(m->config.vocab_size));
  for (AttentionForm f : {AttentionForm::kAbsorbed, AttentionForm::kNaive}) {
    const float d = testing::rel_diff(testing::logits_of(*m, ids, f), testing::logits_of(*plain, ids, f));
    std::printf("  wide heads, %s form: repacked vs file layout %.3g\n", f == AttentionForm::kNaive ? "naive" : "absorbed", d);
    EXPECT_LE(d, 0.03f);  // int8 activations: the file layout's kernels round other partial sums
  }
}

}  // namespace
}  // namespace dsinfer
