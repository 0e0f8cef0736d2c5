// `synth --dtype q4_K_M / q5_K_M ...`: llama.cpp's tensor mixes (llama-quant.cpp, llama_tensor_get_type; all of
// them are checked against llama-quantize itself in convert_test.cpp), so benchmark files carry the Q6_K / Q8_0
// tensors that real DeepSeek K_M GGUFs do — and such files run.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <cstring>

#include "formats/gguf.h"
#include "model/convert.h"
#include "model/gguf_export.h"
#include "kernels/cpu/matmul.h"
#include "test_models.h"

namespace dsinfer {
namespace {

// tiny-v2-lite with 256-wide rows (so the K-quants apply), 8 layers and a 512-token vocabulary.
ModelConfig wide_rows_config() {
  ModelConfig c = preset_config("tiny-v2-lite");
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.moe_intermediate_size = 256;
  c.num_hidden_layers = 8;
  c.vocab_size = 512;
  return c;
}

// llama.cpp's use_more_bits(i, 8): the first and last eighth, and every third layer between.
bool more_bits(int64_t layer) {
  return layer == 0 || layer == 3 || layer == 6 || layer == 7;
}

TEST(SynthMix, KMFilesFollowLlamaCppsRecipeAndRun) {
  const ModelConfig c = wide_rows_config();
  for (const DType base : {DType::Q4_K, DType::Q5_K}) {
    SCOPED_TRACE(dtype_name(base));
    SynthOptions o;
    o.dtype = base;
    o.mix = base == DType::Q4_K ? LlamaMix::kQ4_K_M : LlamaMix::kQ5_K_M;
    o.threads = 2;
    const std::string path = testing::temp_dir() + cat("/mix-", dtype_name(base), ".gguf");
    synth_model(c, o, path);
    const auto f = GgufFile::open(path);
    EXPECT_EQ(f->tensor("output.weight").dtype, DType::Q6_K);
    EXPECT_EQ(f->tensor("token_embd.weight").dtype, base);
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      const DType down = more_bits(l) ? DType::Q6_K : base;
      if (l < c.first_k_dense_replace) {
        // the dense FFN's 512-wide down rows fit Q6_K and the base type alike
        EXPECT_EQ(f->tensor(cat("blk.", l, ".ffn_down.weight")).dtype, down) << l;
        continue;
      }
      EXPECT_EQ(f->tensor(cat("blk.", l, ".ffn_down_exps.weight")).dtype, down) << l;
      EXPECT_EQ(f->tensor(cat("blk.", l, ".ffn_down_shexp.weight")).dtype, down) << l;
      EXPECT_EQ(f->tensor(cat("blk.", l, ".ffn_gate_exps.weight")).dtype, base) << l;
      EXPECT_EQ(f->tensor(cat("blk.", l, ".ffn_up_shexp.weight")).dtype, base) << l;
      // 64-wide rows (4 heads x 16): the base type's fallback, as llama.cpp writes it
      EXPECT_EQ(f->tensor(cat("blk.", l, ".attn_output.weight")).dtype,
                base == DType::Q4_K ? DType::Q5_0 : DType::Q5_1) << l;
    }
    // The file runs. Repacked: the SIMD kernels give the scalar mirror's tokens; against the file layout
    // only float rounding separates the logits until a router near-tie sends a token to another expert
    // (this small random model has many), so position 0 is held to rounding and the median to the int8
    // bound of FastVsReference.
    LoadOptions lo;
    lo.repack = false;
    const auto plain = load_model(path, lo);
    lo.repack = true;
    const auto m = load_model(path, lo);
    std::vector<int32_t> fast, scalar;
    {
      struct PathGuard {
        ~PathGuard() { set_matmul_path(MatmulPath::kFast); }
      } guard;
      fast = testing::greedy(*m, 32);
      set_matmul_path(MatmulPath::kScalar);
      scalar = testing::greedy(*m, 32);
    }
    EXPECT_EQ(fast, scalar);
    const std::vector<int32_t> ids = {3, 8, 100, 42, 17, 250, 300, 11};
    const auto lp = testing::logits_of(*plain, ids), lr = testing::logits_of(*m, ids);
    const int64_t V = c.vocab_size, n = static_cast<int64_t>(ids.size());
    std::vector<float> rel;
    for (int64_t i = 0; i < n; ++i)
      rel.push_back(testing::rel_diff(std::vector<float>(lr.begin() + i * V, lr.begin() + (i + 1) * V),
                                      std::vector<float>(lp.begin() + i * V, lp.begin() + (i + 1) * V)));
    EXPECT_LE(rel[0], 1e-5f);
    std::sort(rel.begin(), rel.end());
    EXPECT_LE(rel[n / 2], 0.03f);
  }
}

TEST(SynthMix, AMixGoesWithItsOwnTypeAndOnlyInGguf) {
  SynthOptions o;
  o.dtype = DType::Q4_0;
  o.mix = LlamaMix::kQ4_K_M;
  EXPECT_THROW(synth_model(preset_config("tiny-v3"), o, testing::temp_dir() + "/mix-q4_0.gguf"), Error);
  o.dtype = DType::Q4_K;
  EXPECT_THROW(synth_model(preset_config("tiny-v3"), o, testing::temp_dir() + "/mix-hf"), Error);
}

// The grid i-quants (unsloth's dynamic files): synth puts them in the routed experts only, as random codes at the
// drawn weights' scale; the rest Q4_K (its fallbacks for narrow rows), output Q6_K. Such files run; the same
// seed gives the same bytes. convert refuses them: dsinfer has no quantizer for these types.
TEST(SynthMix, GridIQuantsGoToTheRoutedExpertsAsRandomCodes) {
  const ModelConfig c = wide_rows_config();
  SynthOptions o;
  o.dtype = DType::IQ2_XXS;
  o.threads = 2;
  const std::string path = testing::temp_dir() + "/mix-iq2_xxs.gguf";
  synth_model(c, o, path);
  const std::string again_path = testing::temp_dir() + "/mix-iq2_xxs-again.gguf";
  synth_model(c, o, again_path);
  const auto f = GgufFile::open(path);
  const auto again = GgufFile::open(again_path);
  EXPECT_EQ(f->get_uint("general.file_type"), 19u);  // LLAMA_FTYPE_MOSTLY_IQ2_XXS
  EXPECT_EQ(f->tensor("output.weight").dtype, DType::Q6_K);
  EXPECT_EQ(f->tensor("token_embd.weight").dtype, DType::Q4_K);
  for (int64_t l = c.first_k_dense_replace; l < c.num_hidden_layers; ++l) {
    for (const char* part : {"gate", "up", "down"}) {
      const TensorView& e = f->tensor(cat("blk.", l, ".ffn_", part, "_exps.weight"));
      ASSERT_EQ(e.dtype, DType::IQ2_XXS) << l << part;
      EXPECT_EQ(std::memcmp(e.data, again->tensor(e.name).data, e.nbytes), 0) << e.name;
      std::vector<float> row(static_cast<size_t>(e.cols()));
      dequantize_rows(e, 0, 1, row.data());
      double ss = 0;
      for (float v : row) ss += static_cast<double>(v) * v;
      const double rms = std::sqrt(ss / static_cast<double>(row.size()));
      EXPECT_GT(rms, 1e-3) << e.name;  // the drawn init's scale (std ~0.02), not zeros or garbage
      EXPECT_LT(rms, 0.2) << e.name;
    }
    EXPECT_EQ(f->tensor(cat("blk.", l, ".ffn_up_shexp.weight")).dtype, DType::Q4_K) << l;
    EXPECT_EQ(f->tensor(cat("blk.", l, ".attn_output.weight")).dtype, DType::Q5_0) << l;  // 64 wide: Q4_K's fallback
  }
  auto m = load_model(path);
  float gap = 0;
  EXPECT_EQ(testing::greedy(*m, 8, &gap).size(), 8u);

  ConvertOptions co;
  co.dtype = DType::IQ2_XXS;
  const std::string f32 = testing::temp_dir() + "/mix-f32-src.gguf";
  SynthOptions fo;
  synth_model(c, fo, f32);
  try {
    convert_to_gguf(f32, testing::temp_dir() + "/mix-iq2_xxs-converted.gguf", co);
    FAIL() << "convert wrote IQ2_XXS";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot quantize to iq2_xxs"), std::string::npos) << e.what();
  }
}

// The legacy attn_kv_b layout, which llama.cpp counts as attn_v (n_gqa = 1 there: head_count_kv = heads).
// No llama-quantize golden covers it (dsinfer writes that layout only when requantizing such a file), so
// the rules are pinned as read from llama-quant.cpp: Q2_K -> Q3_K, Q3_K_M Q5_K in the first two layers and
// Q4_K after, Q3_K_L Q5_K, Q4_K_M / Q5_K_M Q6_K where use_more_bits picks, Q3_K_S and IQ4_XS (whose attn_v
// rule needs n_gqa >= 4) the default.
TEST(SynthMix, LegacyKvBFollowsLlamaCppsAttnVRules) {
  ModelConfig c = wide_rows_config();
  c.kv_lora_rank = 256;  // (attn_kv_b's rows are 256 wide: the K-quants apply)
  std::vector<WeightSpec> kv_b;
  for (const WeightSpec& s : weight_specs(c, WeightLayout::kGgufLegacyKvB))
    if (s.file_name.find("attn_kv_b.weight") != std::string::npos) kv_b.push_back(s);
  ASSERT_EQ(kv_b.size(), 8u);
  for (const WeightSpec& s : kv_b) {
    const int64_t n = gguf_block_count(c);
    EXPECT_EQ(gguf_dtype_for(s, DType::Q2_K, LlamaMix::kQ2_K, n), DType::Q3_K);
    EXPECT_EQ(gguf_dtype_for(s, DType::Q3_K, LlamaMix::kQ3_K_S, n), DType::Q3_K);
    EXPECT_EQ(gguf_dtype_for(s, DType::Q3_K, LlamaMix::kQ3_K_M, n), s.layer < 2 ? DType::Q5_K : DType::Q4_K);
    EXPECT_EQ(gguf_dtype_for(s, DType::Q3_K, LlamaMix::kQ3_K_L, n), DType::Q5_K);
    EXPECT_EQ(gguf_dtype_for(s, DType::Q4_K, LlamaMix::kQ4_K_M, n), more_bits(s.layer) ? DType::Q6_K : DType::Q4_K);
    EXPECT_EQ(gguf_dtype_for(s, DType::IQ4_XS, LlamaMix::kIQ4_XS, n), DType::IQ4_XS);
    EXPECT_EQ(gguf_dtype_for(s, DType::Q4_K, LlamaMix::kNone, n), DType::Q4_K);
  }
}

}  // namespace
}  // namespace dsinfer
