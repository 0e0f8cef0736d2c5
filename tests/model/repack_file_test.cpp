// `dsinfer repack` files (model/repack_file.h): the R8 layouts stored in a GGUF load byte for byte as
// load-time repacking builds them, compute the same logits, and a file that puts an R8 type where the
// forward pass needs the file layout is refused.

#include <gtest/gtest.h>

#include <cstring>

#include "formats/gguf.h"
#include "model/repack_file.h"
#include "tensor/interleave.h"
#include "test_models.h"

namespace dsinfer {
namespace {

using testing::error_of;

std::unique_ptr<LoadedModel> load(const std::string& path, bool repack, bool mtp = false) {
  LoadOptions o;
  o.repack = repack;
  o.mtp = mtp;
  return load_model(path, o);
}

// tiny-v3 with an MTP module, Q4_0 (seed 3).
std::string source_model() {
  const std::string path = testing::temp_dir() + "/tiny-v3-mtp-q4_0-for-repack.gguf";
  if (!std::filesystem::exists(path)) {
    ModelConfig c = preset_config("tiny-v3");
    c.num_nextn_predict_layers = 1;
    SynthOptions o;
    o.dtype = DType::Q4_0;
    o.seed = 3;
    synth_model(c, o, path);
  }
  return path;
}

TEST(RepackFile, StoresWhatLoadTimeRepackingBuildsByteForByte) {
  const std::string src = source_model(), out = testing::temp_dir() + "/tiny-v3-mtp-r8.gguf";
  const RepackFileReport rep = write_repacked_gguf(src, out);
  ASSERT_EQ(rep.files, std::vector<std::string>{out});
  EXPECT_GT(rep.tensors_repacked, 0);
  EXPECT_GT(rep.tensors_copied, 0);  // norms, the embedding
  EXPECT_EQ(rep.tensors_left_out, 0);

  auto at_load = load(src, true, true);
  auto stored = load(out, false, true);
  EXPECT_EQ(stored->r8_tensors_in_file, at_load->repack.tensors);
  EXPECT_EQ(stored->r8_bytes_in_file, at_load->repack.bytes);
  EXPECT_EQ(load(out, true, true)->repack.tensors, 0);  // nothing left to repack at load
  const std::vector<WeightRef> a = weight_views(at_load->weights), b = weight_views(stored->weights);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const TensorView &x = *a[i].view, &y = *b[i].view;
    ASSERT_EQ(x.dtype, y.dtype) << x.name;
    ASSERT_EQ(x.shape, y.shape) << x.name;
    ASSERT_EQ(x.nbytes, y.nbytes) << x.name;
    EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes), 0) << x.name;
  }
  EXPECT_TRUE(is_interleaved(stored->weights.mtp[0].eh_proj.dtype));  // the module's own weights too
  EXPECT_EQ(stored->weights.embed.dtype, DType::Q4_0);               // looked up by row: file layout

  // Metadata as it was, plus the layout key.
  auto in = GgufFile::open(src), o = GgufFile::open(out);
  EXPECT_EQ(o->get_string(kLayoutKey), std::optional<std::string>(kLayoutR8));
  EXPECT_EQ(o->metadata().size(), in->metadata().size() + 1);
  for (const auto& [key, value] : in->metadata()) {
    ASSERT_NE(o->find(key), nullptr) << key;
    EXPECT_EQ(o->find(key)->to_string(), value.to_string()) << key;
  }

  const auto ids = testing::test_ids(12, static_cast<int>(stored->config.vocab_size));
  EXPECT_EQ(testing::logits_of(*stored, ids), testing::logits_of(*at_load, ids));
}

TEST(RepackFile, SplitsIntoPartsThatLoadAsOne) {
  const std::string src = source_model(), prefix = testing::temp_dir() + "/tiny-v3-mtp-r8-split";
  RepackFileOptions opt;
  opt.max_part_bytes = 256 << 10;
  const RepackFileReport rep = write_repacked_gguf(src, prefix + ".gguf", opt);
  ASSERT_GT(rep.files.size(), 1u);
  EXPECT_EQ(rep.files[0], gguf_split_path(prefix, 0, static_cast<int>(rep.files.size())));
  auto stored = load(rep.files[0], false);
  auto at_load = load(src, true);
  EXPECT_EQ(stored->r8_tensors_in_file, at_load->repack.tensors);
  const auto ids = testing::test_ids(7, static_cast<int>(stored->config.vocab_size));
  EXPECT_EQ(testing::logits_of(*stored, ids), testing::logits_of(*at_load, ids));
}

TEST(RepackFile, RefusesWhatItCannotRepack) {
  const std::string r8 = testing::temp_dir() + "/tiny-v3-r8-twice.gguf";
  write_repacked_gguf(source_model(), r8);
  EXPECT_NE(error_of([&] { write_repacked_gguf(r8, r8 + ".again.gguf"); }).find("nothing to repack"), std::string::npos);
  const std::string f32 = testing::synth("tiny-v3", "tiny-v3-f32-for-repack.gguf", DType::F32);
  EXPECT_NE(error_of([&] { write_repacked_gguf(f32, f32 + ".r8.gguf"); }).find("nothing to repack"), std::string::npos);
  const std::string hf = testing::synth("tiny-v3", "tiny-v3-hf-for-repack", DType::BF16);
  EXPECT_NE(error_of([&] { write_repacked_gguf(hf, hf + ".gguf"); }).find("takes a GGUF file"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(f32 + ".r8.gguf"));
}

// A hand-made file whose embedding (read one row at a time) is stored as Q4_0_R8: a clear error at load,
// not rows read in the wrong layout.
TEST(RepackFile, AnR8TensorWhereTheFileLayoutIsNeededIsRefused) {
  auto in = GgufFile::open(source_model());
  GgufWriter w;
  for (const auto& [key, value] : in->metadata()) w.add_kv(key, value);
  std::vector<uint8_t> embed_r8;
  for (const TensorView& t : in->tensors()) {
    if (t.name != "token_embd.weight") {
      w.add_tensor(t.name, t.dtype, t.shape, t.data, t.nbytes);
      continue;
    }
    ASSERT_EQ(t.dtype, DType::Q4_0);
    embed_r8.resize(t.nbytes);
    interleave_rows(t.dtype, static_cast<const uint8_t*>(t.data), t.rows(), t.cols(), embed_r8.data());
    w.add_tensor(t.name, DType::Q4_0_R8, t.shape, embed_r8.data(), embed_r8.size());
  }
  ASSERT_FALSE(embed_r8.empty());
  const std::string path = testing::temp_dir() + "/tiny-v3-r8-embedding.gguf";
  w.write(path);
  const std::string e = error_of([&] { load(path, true); });
  EXPECT_NE(e.find("tensor 'token_embd.weight' is stored as q4_0_r8, but only matmul weights"), std::string::npos) << e;
}

}  // namespace
}  // namespace dsinfer
