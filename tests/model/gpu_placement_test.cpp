// Hybrid CPU+GPU (model/gpu_placement.h): which weights go to the GPU, what happens without one, and —
// on a machine with a GPU — that the hybrid forward pass is the CPU reference path's: greedy decoding of
// 256 tokens picks the same tokens and the logits along the way agree to float32 rounding. (The golden
// tests against Hugging Face also run with --gpu: golden_test.cpp.)

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "kernels/cpu/matmul.h"
#include "kernels/cuda/gpu.h"
#include "model/gpu_placement.h"
#include "test_models.h"

namespace dsinfer {
namespace {

const std::string kGolden = std::string(DSINFER_TEST_DATA) + "/golden/";

bool have_gpu() {
  std::string why;
  return !gpu::list_devices(&why).empty();
}

// Every weight a token reads whatever experts it picks goes, and nothing else: not a routed expert, not the
// router (exact float32 routing stays on the CPU), not the embedding (a row lookup), not MLA's kv_b.
TEST(GpuPlacement, PlacesWhatEveryTokenReadsButNotTheRoutedExperts) {
  for (const char* model : {"tiny-v3", "tiny-v2-lite", "tiny-v32"}) {
    auto m = load_model(kGolden + model);
    const ModelConfig& c = m->config;
    const std::vector<TensorView*> views = gpu_weight_views(m->weights);
    std::set<const TensorView*> placed(views.begin(), views.end());
    EXPECT_EQ(placed.size(), views.size()) << "a weight listed twice";
    int64_t want = 1;  // lm_head
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      LayerWeights& lw = m->weights.layers[l];
      const MlaWeights& a = lw.attn;
      want += c.q_lora_rank == 0 ? 3 : 4;  // q (or q_a and q_b), kv_a, o
      if (a.indexer.present()) want += 3;
      want += 3;                           // the dense MLP or the shared expert
      for (const TensorView* v : {&a.q_a_proj, &a.kv_a_proj, &a.o_proj}) {
        if (v->data) {
          EXPECT_TRUE(placed.count(v)) << v->name;
        }
      }
      EXPECT_FALSE(placed.count(&lw.attn.kv_b_proj)) << model;
      EXPECT_FALSE(placed.count(&lw.moe.router)) << model;
      for (const MlpWeights& e : lw.moe.experts)
        EXPECT_FALSE(placed.count(&e.gate) || placed.count(&e.up) || placed.count(&e.down)) << e.gate.name;
      if (c.is_moe_layer(l)) {
        EXPECT_TRUE(placed.count(&lw.moe.shared.down)) << model << " layer " << l;
      }
    }
    EXPECT_FALSE(placed.count(&m->weights.embed));
    EXPECT_TRUE(placed.count(&m->weights.lm_head));
    EXPECT_EQ(static_cast<int64_t>(views.size()), want) << model;
  }
}

TEST(GpuPlacement, WithoutAGpuLoadingSaysSo) {
  if (have_gpu()) GTEST_SKIP() << "this machine has a GPU";
  LoadOptions o;
  o.gpu.enabled = true;
  try {
    load_model(kGolden + "tiny-v3", o);
    FAIL() << "loaded onto a GPU that is not there";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tiny-v3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("CUDA"), std::string::npos) << msg;
  }
}

struct PathGuard {
  ~PathGuard() { set_matmul_path(MatmulPath::kFast); }
};

// The hybrid pass (f32 on the GPU) against the CPU's reference path (dequantize + float dot products):
// the same products summed in another order, so 256 greedy tokens agree and so do the logits.
TEST(GpuPlacement, HybridDecodeMatchesTheCpuReferenceFor256Tokens) {
  if (!have_gpu()) GTEST_SKIP() << "no GPU";
  PathGuard guard;
  set_matmul_path(MatmulPath::kReference);
  for (const char* preset : {"tiny-v2-lite", "tiny-v3"})
    for (DType t : {DType::Q4_0, DType::Q8_0}) {
      const std::string path = testing::synth(preset, std::string(preset) + "-gpu-" + dtype_name(t) + ".gguf", t, 11);
      auto cpu = load_model(path);
      LoadOptions o;
      o.gpu.enabled = true;
      o.gpu.dtype = "f32";
      // Q4_0 runs the routed experts of every batch on the GPU (streamed, dequantized there), Q8_0 never.
      o.gpu.expert_tokens = t == DType::Q4_0 ? 1 : 0;
      auto hybrid = load_model(path, o);
      ASSERT_TRUE(hybrid->gpu.device);
      EXPECT_GT(hybrid->gpu.tensors, 0);
      EXPECT_EQ(hybrid->gpu.streamed_layers > 0, t == DType::Q4_0);
      float gap_cpu = 0, gap_gpu = 0;
      const auto want = testing::greedy(*cpu, 256, &gap_cpu);
      const auto got = testing::greedy(*hybrid, 256, &gap_gpu);
      std::printf("  %s %s: smallest top-2 logit gap %.3g\n", preset, dtype_name(t), gap_cpu);
      EXPECT_EQ(got, want) << preset << " " << dtype_name(t);
      std::vector<int32_t> ids = testing::test_ids(5, static_cast<int>(cpu->config.vocab_size));
      ids.insert(ids.end(), want.begin(), want.begin() + 60);
      const std::vector<float> a = testing::logits_of(*cpu, ids), b = testing::logits_of(*hybrid, ids);
      const float rel = testing::max_abs_diff(a, b) / testing::max_abs(a);
      std::printf("  %s %s: logits of %zu positions, max|diff|/max|logit| %.3g\n", preset, dtype_name(t), ids.size(), rel);
      EXPECT_LE(rel, 1e-5f) << preset << " " << dtype_name(t);
    }
}

// Which layers stream their routed experts: those whose experts' types the GPU dequantizes (block-FP8 not).
TEST(GpuPlacement, ExpertsStreamOnlyInTypesTheGpuDequantizes) {
  if (!have_gpu()) GTEST_SKIP() << "no GPU";
  SynthOptions fp8;
  fp8.dtype = DType::F8_E4M3;
  const std::string dir = testing::synth_with("tiny-v3", "tiny-v3-gpu-fp8", fp8);
  LoadOptions o;
  o.gpu.enabled = true;
  auto m = load_model(dir, o);
  EXPECT_EQ(m->gpu.streamed_layers, 0);
  EXPECT_NE(m->gpu.not_streamed.find("f8_e4m3"), std::string::npos) << m->gpu.not_streamed;
  const std::string k = testing::synth("tiny-v3-k", "tiny-v3-k-gpu-q4_K_M.gguf", DType::Q4_K, 3);
  EXPECT_GT(load_model(k, o)->gpu.streamed_layers, 0);  // K-quants stream (R8 forms put back by the host)
  auto g = load_model(kGolden + "tiny-v3", o);  // F32
  int64_t moe_layers = 0;
  for (int64_t l = 0; l < g->config.num_hidden_layers; ++l) moe_layers += g->config.is_moe_layer(l);
  EXPECT_EQ(g->gpu.streamed_layers, moe_layers);
  EXPECT_TRUE(g->gpu.not_streamed.empty());
}

}  // namespace
}  // namespace dsinfer
