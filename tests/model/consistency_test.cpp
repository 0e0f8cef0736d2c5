// Self-consistency of the forward pass across forms, layouts, dtypes and cache use.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "formats/gguf.h"
#include "kernels/cpu/matmul.h"
#include "tensor/quant.h"
#include "test_models.h"

namespace dsinfer {
namespace {

using namespace dsinfer::testing;

TEST(Consistency, GgufF32AndSafetensorsOfOneSeedGiveTheSameLogits) {
  for (const char* preset : {"tiny-v3", "tiny-v2-lite"}) {
    auto g = load_model(synth(preset, cat(preset, "-f32.gguf"), DType::F32));
    auto h = load_model(synth(preset, cat(preset, "-f32-hf"), DType::F32));
    EXPECT_EQ(g->layout, WeightLayout::kGguf);
    EXPECT_EQ(h->layout, WeightLayout::kHf);
    const auto ids = test_ids(19, 256);
    const float d = rel_diff(logits_of(*g, ids), logits_of(*h, ids));
    std::printf("  %s gguf vs safetensors: %.3g\n", preset, d);
    EXPECT_LE(d, 1e-5f) << preset;
  }
}

// The same weights in llama.cpp's legacy attn_kv_b layout, split into several GGUF files, and as sharded
// safetensors with an index all give the logits of the single-file split-MLA GGUF.
TEST(Consistency, LegacyKvBSplitGgufAndShardedSafetensorsLoadTheSameModel) {
  auto base = load_model(synth("tiny-v3", "tiny-v3-f32.gguf", DType::F32));
  SynthOptions o;
  o.seed = 7;
  o.gguf_legacy_kv_b = true;
  auto legacy = load_model(synth_with("tiny-v3", "tiny-v3-legacy.gguf", o));
  EXPECT_EQ(legacy->layout, WeightLayout::kGgufLegacyKvB);
  o.gguf_legacy_kv_b = false;
  o.max_shard_bytes = 100 << 10;
  const std::string split_first = synth_with("tiny-v3", "tiny-v3-split.gguf", o);
  const std::string first_part = temp_dir() + "/tiny-v3-split-00001-of-";
  std::string found;
  for (const auto& e : std::filesystem::directory_iterator(temp_dir()))
    if (e.path().string().rfind(first_part, 0) == 0) found = e.path().string();
  ASSERT_FALSE(found.empty()) << "no split parts written";
  auto split = load_model(found);
  EXPECT_GT(split->gguf->paths().size(), 2u);
  auto sharded = load_model(synth_with("tiny-v3", "tiny-v3-sharded-hf", o));
  EXPECT_TRUE(std::filesystem::exists(temp_dir() + "/tiny-v3-sharded-hf/model.safetensors.index.json"));
  const auto ids = test_ids(21, 256);
  const std::vector<float> want = logits_of(*base, ids);
  EXPECT_LE(rel_diff(logits_of(*legacy, ids), want), 1e-5f);
  EXPECT_LE(rel_diff(logits_of(*legacy, ids, AttentionForm::kNaive), want), 1e-5f);
  EXPECT_LE(rel_diff(logits_of(*split, ids), want), 0.0f);
  EXPECT_LE(rel_diff(logits_of(*sharded, ids), want), 1e-5f);
}

TEST(Consistency, DecodeWithCacheEqualsRecomputingTheSequence) {
  auto m = load_model(synth("tiny-v3", "tiny-v3-f32.gguf", DType::F32));
  const auto ids = test_ids(24, 256);
  const std::vector<float> full = logits_of(*m, ids);
  ThreadPool pool(2);
  Transformer tf(m->config, m->weights, pool);
  LatentKvCache cache(m->config.num_hidden_layers, m->config.latent_dim(), 4, 8);  // several pages
  const int seq = cache.create_sequence();
  ASSERT_TRUE(cache.reserve(seq, 24));
  const int64_t V = m->config.vocab_size;
  for (int64_t t = 0; t < 24; ++t) {
    Batch b;
    b.add(ids[t], t, seq, true);
    const std::vector<float> step = tf.forward(b, cache);
    std::vector<float> want(full.begin() + t * V, full.begin() + (t + 1) * V);
    EXPECT_LE(rel_diff(step, want), 1e-5f) << "position " << t;
  }
}

// An f16 latent cache: logits stay within f16 rounding of the f32 cache's, in both attention forms, for
// prefill and for decode steps over the cache; and the cache takes half the bytes.
TEST(Consistency, F16CacheStaysCloseToF32Cache) {
  auto m = load_model(synth("tiny-v3", "tiny-v3-f32.gguf", DType::F32));
  const auto ids = test_ids(40, 256);
  auto run = [&](DType kv, AttentionForm f, int64_t chunk) {
    ThreadPool pool(2);
    Transformer tf(m->config, m->weights, pool);
    tf.set_attention_form(f);
    LatentKvCache cache = make_single_sequence_cache(m->config, 40, kv);
    return all_logits(tf, cache, ids, chunk);
  };
  for (AttentionForm f : {AttentionForm::kAbsorbed, AttentionForm::kNaive})
    for (int64_t chunk : {1, 40}) {
      const auto a = run(DType::F32, f, chunk), b = run(DType::F16, f, chunk);
      const float d = rel_diff(b, a);
      EXPECT_LE(d, 5e-3f) << "chunk " << chunk;
      EXPECT_GT(d, 0.0f) << "an f16 cache should round something";
    }
  EXPECT_EQ(LatentKvCache::bytes_per_token(3, 576, DType::F16) * 2, LatentKvCache::bytes_per_token(3, 576));
  EXPECT_THROW(LatentKvCache(3, 576, 4, 2, DType::Q8_0), Error);
}

TEST(Consistency, AbsorbedEqualsNaiveAttention) {
  for (const char* name : {"tiny-v3-f32.gguf", "tiny-v2-lite-f32-hf"}) {
    const std::string preset = std::string(name).rfind("tiny-v3", 0) == 0 ? "tiny-v3" : "tiny-v2-lite";
    auto m = load_model(synth(preset, name, DType::F32));
    const auto ids = test_ids(30, 256);
    EXPECT_LE(rel_diff(logits_of(*m, ids, AttentionForm::kNaive), logits_of(*m, ids)), 1e-5f) << name;
  }
}

// kAuto: a prompt chunk of one sequence with >= kNaiveMinTokens tokens runs the naive form, shorter
// chunks (and decode) the absorbed form — bit for bit what forcing that form computes.
TEST(Consistency, AutoFormPicksNaiveForLongChunksAndAbsorbedOtherwise) {
  auto m = load_model(synth("tiny-v3", "tiny-v3-f32.gguf", DType::F32));
  const auto ids = test_ids(static_cast<int>(kNaiveMinTokens) + 8, 256);
  const int64_t n = static_cast<int64_t>(ids.size());
  auto run = [&](AttentionForm f, int64_t chunk) {
    ThreadPool pool(2);
    Transformer tf(m->config, m->weights, pool);
    tf.set_attention_form(f);
    LatentKvCache cache = make_single_sequence_cache(m->config, n);
    return all_logits(tf, cache, ids, chunk);
  };
  EXPECT_EQ(run(AttentionForm::kAuto, n), run(AttentionForm::kNaive, n));
  EXPECT_EQ(run(AttentionForm::kAuto, kNaiveMinTokens - 1), run(AttentionForm::kAbsorbed, kNaiveMinTokens - 1));
  EXPECT_NE(run(AttentionForm::kNaive, n), run(AttentionForm::kAbsorbed, n));  // the forms do differ in rounding
}

// A long prompt chunk with a long cached context in front of it: naive == absorbed.
TEST(Consistency, NaiveFormAfterACachedContextEqualsAbsorbed) {
  auto m = load_model(synth("tiny-v2-lite", "tiny-v2-lite-f32-hf", DType::F32));
  const auto ids = test_ids(150, 256);
  auto run = [&](AttentionForm f) {
    ThreadPool pool(2);
    Transformer tf(m->config, m->weights, pool);
    tf.set_attention_form(f);
    LatentKvCache cache = make_single_sequence_cache(m->config, 150);
    return all_logits(tf, cache, ids, 100);  // chunks of 100 then 50: the second attends to 100 cached keys
  };
  EXPECT_LE(rel_diff(run(AttentionForm::kNaive), run(AttentionForm::kAbsorbed)), 1e-5f);
}

// Work is split across threads by rows, heads, keys or columns, never inside one dot product, and the
// pool hands out ranges dynamically: the logits must be bit for bit the same for any thread count,
// for a prompt in one chunk and for decode steps (a quantized model: the int8 kernels and repacked
// 8-row groups; tiny-v2-lite: dense FFN, shared and routed experts).
// Decode steps over >= 64 cached rows split the attention's keys, heads and latent columns across threads:
// 80 tokens, and a latent of 64 (the tiny presets' 16 is below the column split's 32-wide units).
TEST(Consistency, LogitsDoNotDependOnTheThreadCount) {
  ModelConfig c = preset_config("tiny-v2-lite");
  c.kv_lora_rank = 64;
  const std::string path = temp_dir() + "/tiny-v2-lite-rkv64-q4_0.gguf";
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.dtype = DType::Q4_0;
    synth_model(c, o, path);
  }
  LoadOptions lo;
  lo.repack = true;
  auto m = load_model(path, lo);
  const int64_t n = 80;
  const auto ids = test_ids(static_cast<int>(n), 256);
  for (int64_t chunk : {n, int64_t{1}}) {
    std::vector<std::vector<float>> got;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      Transformer tf(m->config, m->weights, pool);
      LatentKvCache cache = make_single_sequence_cache(m->config, n);
      got.push_back(all_logits(tf, cache, ids, chunk));
    }
    EXPECT_EQ(got[1], got[0]) << "2 threads, chunk " << chunk;
    EXPECT_EQ(got[2], got[0]) << "3 threads, chunk " << chunk;
  }
}

TEST(Consistency, BatchOfSequencesEqualsEachSequenceAlone) {
  auto m = load_model(synth("tiny-v3", "tiny-v3-f32.gguf", DType::F32));
  ThreadPool pool(2);
  Transformer tf(m->config, m->weights, pool);
  LatentKvCache cache(m->config.num_hidden_layers, m->config.latent_dim(), 8, 16);
  const auto a = test_ids(9, 256), b = test_ids(13, 200);
  const int sa = cache.create_sequence(), sb = cache.create_sequence();
  ASSERT_TRUE(cache.reserve(sa, 9));
  ASSERT_TRUE(cache.reserve(sb, 13));
  Batch both;  // interleaved tokens of two sequences in one call
  for (int t = 0; t < 13; ++t) {
    if (t < 9) both.add(a[t], t, sa, t == 8);
    both.add(b[t], t, sb, t == 12);
  }
  const std::vector<float> got = tf.forward(both, cache);
  const int64_t V = m->config.vocab_size;
  const std::vector<float> la = logits_of(*m, a), lb = logits_of(*m, b);
  EXPECT_LE(rel_diff(std::vector<float>(got.begin(), got.begin() + V), std::vector<float>(la.end() - V, la.end())), 1e-5f);
  EXPECT_LE(rel_diff(std::vector<float>(got.begin() + V, got.end()), std::vector<float>(lb.end() - V, lb.end())), 1e-5f);
}

// A block-FP8 checkpoint must compute exactly what its dequantized weights compute: the FP8 model against
// the same model with every FP8 tensor replaced by its dequantization (float32).
TEST(Consistency, BlockFp8GivesTheLogitsOfItsDequantizedWeights) {
  auto m = load_model(synth("tiny-v3", "tiny-v3-fp8-hf", DType::F8_E4M3));
  std::vector<std::vector<float>> owned;
  ModelWeights deq = m->weights;
  int converted = 0;
  auto dequant = [&](TensorView& t) {
    if (t.dtype != DType::F8_E4M3) return;
    owned.push_back(to_f32(t));
    t.dtype = DType::F32;
    t.data = owned.back().data();
    t.nbytes = owned.back().size() * 4;
    t.block_scale = nullptr;
    ++converted;
  };
  owned.reserve(1000);
  for (auto& L : deq.layers) {
    for (auto* t : {&L.attn.q_a_proj, &L.attn.q_b_proj, &L.attn.kv_a_proj, &L.attn.kv_b_proj, &L.attn.o_proj, &L.dense.gate,
                    &L.dense.up, &L.dense.down, &L.moe.shared.gate, &L.moe.shared.up, &L.moe.shared.down})
      dequant(*t);
    for (auto& e : L.moe.experts) {
      dequant(e.gate);
      dequant(e.up);
      dequant(e.down);
    }
  }
  EXPECT_GT(converted, 50);
  const auto ids = test_ids(17, 256);
  ThreadPool pool(2);
  LatentKvCache c1 = make_single_sequence_cache(m->config, 17), c2 = make_single_sequence_cache(m->config, 17);
  Transformer fp8(m->config, m->weights, pool), ref(m->config, deq, pool);
  const float d = rel_diff(all_logits(fp8, c1, ids), all_logits(ref, c2, ids));
  std::printf("  fp8 vs dequantized f32: %.3g\n", d);
  EXPECT_LE(d, 1e-5f);
  // And the FP8 weights really are not the f32 ones (the quantization changed them).
  auto f32 = load_model(synth("tiny-v3", "tiny-v3-f32-hf", DType::F32));
  EXPECT_GT(rel_diff(logits_of(*m, ids), logits_of(*f32, ids)), 1e-3f);
}

// Quantization error of whole models. A quantized router can flip a near-tie between experts, which
// changes one position's logits a lot, so the bound is on the median position and the worst is reported.
// The fast kernels also quantize activations to int8 for the block types, which adds to the error.
TEST(Consistency, QuantizedGgufStaysCloseToF32) {
  auto ref = load_model(synth("tiny-v3", "tiny-v3-f32.gguf", DType::F32));
  const auto ids = test_ids(16, 256);
  const std::vector<float> want = logits_of(*ref, ids);
  const int64_t V = ref->config.vocab_size;
  struct Q {
    DType t;
    float bound;
  };
  // BF16 on AVX512-BF16 CPUs also rounds the activations to bf16 (kern::KernelSet::bf16_rounds_activations):
  // measured median 0.025 on a Sapphire Rapids against 0.007 with exact fp32 products (routing flips included).
  const float bf16_bound = matmul_kernels().bf16_rounds_activations ? 4e-2f : 2e-2f;
  for (Q q : {Q{DType::F16, 2e-3f}, Q{DType::BF16, bf16_bound}, Q{DType::Q8_0, 6e-2f}, Q{DType::Q4_0, 0.35f}}) {
    auto m = load_model(synth("tiny-v3", cat("tiny-v3-", dtype_name(q.t), ".gguf"), q.t));
    const std::vector<float> got = logits_of(*m, ids);
    std::vector<float> per_pos;
    for (size_t t = 0; t < ids.size(); ++t) {
      std::vector<float> a(got.begin() + t * V, got.begin() + (t + 1) * V), b(want.begin() + t * V, want.begin() + (t + 1) * V);
      per_pos.push_back(rel_diff(a, b));
    }
    std::sort(per_pos.begin(), per_pos.end());
    const float median = per_pos[per_pos.size() / 2];
    std::printf("  %s vs f32: max|diff|/max|logit| per position: median %.4f, worst %.4f\n", dtype_name(q.t), median,
                per_pos.back());
    EXPECT_LE(median, q.bound) << dtype_name(q.t);
    EXPECT_GT(median, 0.0f) << dtype_name(q.t) << " should differ from f32 at all";
  }
}

}  // namespace
}  // namespace dsinfer
