// `dsinfer convert` (model/convert.h): a Hugging Face checkpoint becomes the GGUF that `dsinfer synth`
// writes for the same values — tensor bytes, types and metadata alike — in every type, with the MTP
// module when asked; block-FP8 checkpoints are dequantized with their block scales. (The golden tests run
// the converted goldens against transformers' logits: golden_test.cpp.)

#include <gtest/gtest.h>

#include <cstring>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/json_file.h"
#include "kernels/cpu/matmul.h"
#include "util/hash.h"
#include "model/convert.h"
#include "test_models.h"

namespace dsinfer {
namespace {

using testing::error_of;

// synth writes both layouts from the same values, so converting its HF directory must give its GGUF.
void expect_same_gguf(const std::string& got_path, const std::string& want_path) {
  auto got = GgufFile::open(got_path), want = GgufFile::open(want_path);
  ASSERT_EQ(got->tensors().size(), want->tensors().size());
  for (size_t i = 0; i < want->tensors().size(); ++i) {
    const TensorView &g = got->tensors()[i], &w = want->tensors()[i];
    ASSERT_EQ(g.name, w.name);
    ASSERT_EQ(g.dtype, w.dtype) << w.name;
    ASSERT_EQ(g.shape, w.shape) << w.name;
    EXPECT_EQ(std::memcmp(g.data, w.data, w.nbytes), 0) << w.name << " (" << dtype_name(w.dtype) << ")";
  }
  ASSERT_EQ(got->metadata().size(), want->metadata().size());
  for (const auto& [key, value] : want->metadata()) {
    if (key == "general.name") continue;
    ASSERT_NE(got->find(key), nullptr) << key;
    EXPECT_EQ(got->find(key)->to_string(), value.to_string()) << key;
  }
}

TEST(Convert, WritesTheGgufSynthWritesForTheSameValues) {
  struct Case {
    const char* dtype;
    DType type;
    LlamaMix mix;
  };
  for (const char* preset : {"tiny-v3", "tiny-v2-lite"}) {
    SynthOptions hf;
    hf.seed = 21;
    // The real tokenizer (129k tokens, chat template) once: its keys must come through as synth writes them.
    if (std::string(preset) == "tiny-v3") hf.tokenizer = std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3";
    const std::string dir = testing::synth_with(preset, std::string(preset) + "-convert-src", hf);
    for (const Case& c : {Case{"f32", DType::F32, LlamaMix::kNone}, Case{"q8_0", DType::Q8_0, LlamaMix::kNone},
                          Case{"q4_0", DType::Q4_0, LlamaMix::kNone}, Case{"q4_K_M", DType::Q4_K, LlamaMix::kQ4_K_M}}) {
      SynthOptions g = hf;
      g.dtype = c.type;
      g.mix = c.mix;
      const std::string want = testing::synth_with(preset, cat(preset, "-convert-want-", c.dtype, ".gguf"), g);
      ConvertOptions o;
      o.dtype = c.type;
      o.mix = c.mix;
      const std::string got = cat(testing::temp_dir(), "/", preset, "-converted-", c.dtype, ".gguf");
      EXPECT_EQ(convert_to_gguf(dir, got, o), std::vector<std::string>{got});
      SCOPED_TRACE(cat(preset, " ", c.dtype));
      expect_same_gguf(got, want);
    }
  }
}

void expect_llama_quantize_golden(const std::string& file, size_t n_types) {
  SCOPED_TRACE(file);
  const auto golden = read_json_file(std::string(DSINFER_TEST_DATA) + "/golden/llama-quantize/" + file);
  SynthOptions f32;
  f32.seed = 1;
  const int64_t layers = golden["synth_layers"].get<int64_t>();
  const std::string dir = cat(testing::temp_dir(), "/tiny-v3-k-llama-quantize-src-", layers);
  if (!std::filesystem::exists(dir)) synth_model(preset_config("tiny-v3-k", layers), f32, dir);
  ASSERT_EQ(golden["types"].size(), n_types);
  for (const auto& [type, want] : golden["types"].items()) {
    SCOPED_TRACE(type);
    // (llama-quantize's "Q2_K", "IQ4_NL" and "IQ4_XS" are mixes, dsinfer's q2_K_M, iq4_nl_M and iq4_xs_M; its
    // Q6_K and dsinfer's q6_K are pure)
    const bool mix_named_as_type = type == "Q2_K" || type == "IQ4_NL" || type == "IQ4_XS";
    const auto choice = parse_gguf_type(mix_named_as_type ? type + "_M" : type);
    ASSERT_TRUE(choice.has_value());
    ConvertOptions o;
    o.dtype = choice->dtype;
    o.mix = choice->mix;
    const std::string path = cat(testing::temp_dir(), "/tiny-v3-k-", layers, "-", type, ".gguf");
    convert_to_gguf(dir, path, o);
    auto got = GgufFile::open(path);
    ASSERT_EQ(got->tensors().size(), want["tensors"].size());
    for (const auto& t : want["tensors"]) {
      const TensorView* v = got->find_tensor(t["name"].get<std::string>());
      ASSERT_NE(v, nullptr) << t["name"];
      EXPECT_EQ(dtype_from_name(t["type"].get<std::string>()), std::optional<DType>(v->dtype)) << t["name"];
      const std::string_view bytes(static_cast<const char*>(v->data), v->nbytes);
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(bytes)));
      EXPECT_EQ(std::string(hex), t["fnv1a64"].get<std::string>()) << t["name"];
    }
    size_t keys = 0;
    for (const auto& [key, value] : got->metadata()) keys += key != "general.name";
    EXPECT_EQ(keys + 1, want["metadata"].size());
    for (const auto& [key, value] : want["metadata"].items()) {
      ASSERT_NE(got->find(key), nullptr) << key;
      if (value.is_boolean()) EXPECT_EQ(got->get_bool(key), std::optional<bool>(value.get<bool>())) << key;
      else if (value.is_number()) EXPECT_EQ(got->get_float(key), std::optional<double>(value.get<double>())) << key;
    }
  }
}

// Against llama.cpp itself: llama-quantize's output for the same F32 model (tools/reference/
// make_llama_quantize_goldens.py) — tensor types (its mixes and fallbacks), bytes (FNV-1a 64) and metadata.
// Two sources: 3 layers in every mix, and 17 layers in the mixes whose choice depends on the layer (Q3_K_M's
// first block_count / 16 ffn_down in Q5_K, Q4_K_M's use_more_bits).
TEST(Convert, WritesTheBytesLlamaQuantizeWrites) {
  for (const auto& [file, n_types] : {std::pair<std::string, size_t>{"tiny-v3-k.json", 8}, {"tiny-v3-k-17.json", 3}})
    expect_llama_quantize_golden(file, n_types);
}

TEST(Convert, KeepsTheMtpModuleWhenAskedAndSplits) {
  ModelConfig cfg = preset_config("tiny-v3");
  cfg.num_nextn_predict_layers = 1;
  const std::string dir = testing::temp_dir() + "/tiny-v3-mtp-convert-src", want = dir + "-want.gguf";
  SynthOptions s;
  s.seed = 4;
  if (!std::filesystem::exists(dir)) synth_model(cfg, s, dir);
  s.dtype = DType::Q8_0;
  if (!std::filesystem::exists(want)) synth_model(cfg, s, want);

  ConvertOptions o;
  o.dtype = DType::Q8_0;
  o.mtp = true;
  const std::string got = testing::temp_dir() + "/tiny-v3-mtp-converted.gguf";
  convert_to_gguf(dir, got, o);
  expect_same_gguf(got, want);

  o.mtp = false;  // as llama.cpp's converter: no module, and no layer counted for it
  const std::string plain = testing::temp_dir() + "/tiny-v3-mtp-converted-without.gguf";
  convert_to_gguf(dir, plain, o);
  auto g = GgufFile::open(plain);
  EXPECT_EQ(g->get_uint("deepseek2.block_count"), std::optional<uint64_t>(3));
  EXPECT_EQ(g->find_tensor("blk.3.nextn.eh_proj.weight"), nullptr);
  EXPECT_NE(GgufFile::open(got)->find_tensor("blk.3.nextn.eh_proj.weight"), nullptr);

  o.max_part_bytes = 64 << 10;
  const auto parts = convert_to_gguf(dir, testing::temp_dir() + "/tiny-v3-converted-split.gguf", o);
  ASSERT_GT(parts.size(), 1u);
  const auto ids = testing::test_ids(9, static_cast<int>(cfg.vocab_size));
  EXPECT_EQ(testing::logits_of(*load_model(parts[0]), ids), testing::logits_of(*load_model(plain), ids));
}

// DeepSeek-V3's own format: FP8 weights with 128x128 block scales, dequantized on the way.
TEST(Convert, BlockFp8CheckpointsBecomeTheValuesTheyEncode) {
  SynthOptions s;
  s.seed = 8;
  s.dtype = DType::F8_E4M3;
  const std::string dir = testing::synth_with("tiny-v3", "tiny-v3-fp8-convert-src", s);
  ConvertOptions o;
  o.dtype = DType::F32;
  const std::string got = testing::temp_dir() + "/tiny-v3-fp8-converted.gguf";
  convert_to_gguf(dir, got, o);
  auto hf = load_model(dir), gguf = load_model(got);
  EXPECT_EQ(to_f32(gguf->weights.layers[2].moe.experts[3].up), to_f32(hf->weights.layers[2].moe.experts[3].up));
  EXPECT_EQ(to_f32(gguf->weights.layers[1].attn.q_b_proj), to_f32(hf->weights.layers[1].attn.q_b_proj));
  // The same values give the same logits on the reference path (float products: the fast kernels of an
  // AVX512-BF16 CPU round the activations of the checkpoint's BF16 tensors, e.g. lm_head, to bf16).
  const auto ids = testing::test_ids(11, static_cast<int>(hf->config.vocab_size));
  set_matmul_path(MatmulPath::kReference);
  const float rel = testing::rel_diff(testing::logits_of(*gguf, ids), testing::logits_of(*hf, ids));
  set_matmul_path(MatmulPath::kFast);
  EXPECT_LE(rel, 1e-5f);
}

// A GGUF source, as llama-quantize takes one: float tensors quantized (the bytes synth writes for that type),
// tensors already in the written type copied, other quantized ones only when requantizing is allowed.
TEST(Convert, RequantizesAGgufAsLlamaQuantizeDoes) {
  for (const char* preset : {"tiny-v3", "tiny-v2"}) {
    SynthOptions f32;
    f32.seed = 12;
    f32.tokenizer = std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3";
    const std::string src = testing::synth_with(preset, cat(preset, "-requant-src-f32.gguf"), f32);
    SynthOptions q = f32;
    q.dtype = DType::Q4_K;
    q.mix = LlamaMix::kQ4_K_M;
    const std::string want = testing::synth_with(preset, cat(preset, "-requant-want-q4_K_M.gguf"), q);
    ConvertOptions o;
    o.dtype = DType::Q4_K;
    o.mix = LlamaMix::kQ4_K_M;
    const std::string got = cat(testing::temp_dir(), "/", preset, "-requantized-q4_K_M.gguf");
    convert_to_gguf(src, got, o);
    SCOPED_TRACE(preset);
    expect_same_gguf(got, want);
  }
  // Legacy kv_b files keep their layout.
  SynthOptions legacy;
  legacy.gguf_legacy_kv_b = true;
  const std::string old_file = testing::synth_with("tiny-v3", "tiny-v3-legacy-f32.gguf", legacy);
  ConvertOptions o8;
  o8.dtype = DType::Q8_0;
  const std::string old_q8 = testing::temp_dir() + "/tiny-v3-legacy-q8_0.gguf";
  convert_to_gguf(old_file, old_q8, o8);
  EXPECT_NE(GgufFile::open(old_q8)->find_tensor("blk.1.attn_kv_b.weight"), nullptr);
  legacy.dtype = DType::Q8_0;
  expect_same_gguf(old_q8, testing::synth_with("tiny-v3", "tiny-v3-legacy-q8_0-want.gguf", legacy));

  // Already Q8_0: the same type is a copy; another quantized type needs allow_requantize.
  const std::string q8 = testing::synth("tiny-v3", "tiny-v3-requant-q8_0.gguf", DType::Q8_0);
  const std::string copy = testing::temp_dir() + "/tiny-v3-requant-q8_0-copy.gguf";
  convert_to_gguf(q8, copy, o8);
  auto a = GgufFile::open(copy), b = GgufFile::open(q8);
  for (const TensorView& t : b->tensors())
    EXPECT_EQ(std::memcmp(a->find_tensor(t.name)->data, t.data, t.nbytes), 0) << t.name;
  ConvertOptions o4;
  o4.dtype = DType::Q4_0;
  const std::string e = error_of([&] { convert_to_gguf(q8, copy + ".q4_0.gguf", o4); });
  EXPECT_NE(e.find("is q8_0 already"), std::string::npos) << e;
  o4.allow_requantize = true;
  convert_to_gguf(q8, copy + ".q4_0.gguf", o4);
  EXPECT_EQ(load_model(copy + ".q4_0.gguf")->weights.layers[1].moe.experts[0].up.dtype, DType::Q4_0);
}

TEST(Convert, RefusesWhatItCannotConvert) {
  EXPECT_NE(error_of([&] { convert_to_gguf(testing::temp_dir() + "/absent", testing::temp_dir() + "/x.gguf", {}); })
                .find("takes a Hugging Face model directory (config.json + safetensors) or a GGUF file"),
            std::string::npos);
  const std::string dir = testing::synth("tiny-v3", "tiny-v3-convert-refuse-hf", DType::F32);
  EXPECT_NE(error_of([&] { convert_to_gguf(dir, dir + ".bin", {}); }).find("must end in .gguf"), std::string::npos);
  ConvertOptions o;
  o.mtp = true;
  EXPECT_NE(error_of([&] { convert_to_gguf(dir, dir + ".mtp.gguf", o); }).find("num_nextn_predict_layers = 0"),
            std::string::npos);
  o.mtp = false;
  o.dtype = DType::Q4_0;
  o.mix = LlamaMix::kQ4_K_M;
  EXPECT_NE(error_of([&] { convert_to_gguf(dir, dir + ".mix.gguf", o); }).find("the q4_K_M mix is made around q4_K"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + ".mix.gguf"));
  // A damaged checkpoint: a tensor with the wrong shape is named.
  std::filesystem::create_directories(dir + "-bad");
  std::filesystem::copy_file(dir + "/config.json", dir + "-bad/config.json", std::filesystem::copy_options::overwrite_existing);
  SynthOptions other;
  const std::string other_dir = testing::synth_with("tiny-v2-lite", "tiny-v2-lite-convert-refuse-hf", other);
  std::filesystem::copy_file(other_dir + "/model.safetensors", dir + "-bad/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_NE(error_of([&] { convert_to_gguf(dir + "-bad", dir + "-bad.gguf", {}); }).find("tensor '"), std::string::npos);
}

}  // namespace
}  // namespace dsinfer
