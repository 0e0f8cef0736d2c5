#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <limits>

#include "test_util.h"
#include "util/error.h"

namespace dsinfer {
namespace {

using testing::Bytes;
using testing::TempDir;

std::vector<std::pair<std::string, GgufValue>> every_value_type() {
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {"general.architecture", GgufValue::string("deepseek2")},
      {"t.u8", GgufValue::uint8(255)},
      {"t.i8", GgufValue::int8(-128)},
      {"t.u16", GgufValue::uint16(65535)},
      {"t.i16", GgufValue::int16(-32768)},
      {"t.u32", GgufValue::uint32(4294967295u)},
      {"t.i32", GgufValue::int32(std::numeric_limits<int32_t>::min())},
      {"t.f32", GgufValue::float32(0.1f)},
      {"t.bool", GgufValue::boolean(true)},
      {"t.false", GgufValue::boolean(false)},
      {"t.string", GgufValue::string(std::string("with\0nul and \xe2\x9c\x93", 17))},
      {"t.empty_string", GgufValue::string("")},
      {"t.u64", GgufValue::uint64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", GgufValue::int64(std::numeric_limits<int64_t>::min())},
      {"t.f64", GgufValue::float64(-1e300)},
      {"t.strings", GgufValue::string_array({"a", "", "\xc4\xa0the", std::string(300, 'x')})},
      {"t.i32s", GgufValue::array_of(std::vector<int32_t>{1, -2, 3})},
      {"t.u8s", GgufValue::array_of(std::vector<uint8_t>{0, 255})},
      {"t.f32s", GgufValue::array_of(std::vector<float>{0.5f, -1.25f})},
      {"t.f64s", GgufValue::array_of(std::vector<double>{1e-300})},
      {"t.u64s", GgufValue::array_of(std::vector<uint64_t>{7})},
      {"t.i16s", GgufValue::array_of(std::vector<int16_t>{-7, 7})},
      {"t.empty", GgufValue::array_of(std::vector<int64_t>{})},
      {"t.empty_f32s", GgufValue::array_of(std::vector<float>{})},
      {"t.bools", GgufValue::array(GgufType::kBool, {GgufValue::boolean(true), GgufValue::boolean(false)})},
      {"t.nested", GgufValue::array(GgufType::kArray,
                                    {GgufValue::array_of(std::vector<int32_t>{1, 2}),
                                     GgufValue::string_array({"x"}),
                                     GgufValue::array(GgufType::kArray, {GgufValue::array_of(std::vector<float>{})})})},
  };
  return kv;
}

struct TestTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<TestTensor> every_dtype_tensors() {
  std::vector<TestTensor> out;
  uint32_t seed = 1;
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                  DType::Q2_K, DType::Q3_K, DType::IQ4_NL, DType::IQ4_XS}) {
    const int64_t cols = dtype_block_elems(t) * 2;
    std::vector<int64_t> shape = {3, cols};
    if (t == DType::F16) shape = {2, 3, 2, cols};  // 4 dims
    if (t == DType::F32) shape = {7};              // 1 dim, odd size (data needs padding)
    TestTensor tt{cat("blk.", seed, ".", dtype_name(t)), t, shape, {}};
    TensorView v;
    v.dtype = t;
    v.shape = shape;
    tt.bytes = testing::random_bytes(v.expected_bytes(), seed++);
    out.push_back(std::move(tt));
  }
  return out;
}

TEST(Gguf, RoundTripsEveryValueTypeAndDType) {
  TempDir dir;
  GgufWriter w;
  const auto kv = every_value_type();
  for (const auto& [k, v] : kv) w.add_kv(k, v);
  const auto tensors = every_dtype_tensors();
  for (const auto& t : tensors) w.add_tensor(t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size());
  w.write(dir.file("m.gguf"));

  auto f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  ASSERT_EQ(f->metadata().size(), kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, kv[i].first);
    EXPECT_TRUE(f->metadata()[i].second == kv[i].second) << kv[i].first << ": " << f->metadata()[i].second.to_string();
  }
  ASSERT_EQ(f->tensors().size(), tensors.size());
  const auto base = reinterpret_cast<uintptr_t>(f->tensors()[0].data);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorView& v = f->tensors()[i];
    EXPECT_EQ(v.name, tensors[i].name);
    EXPECT_EQ(v.dtype, tensors[i].dtype);
    EXPECT_EQ(v.shape, tensors[i].shape);
    ASSERT_EQ(v.nbytes, tensors[i].bytes.size());
    EXPECT_EQ(0, std::memcmp(v.data, tensors[i].bytes.data(), v.nbytes)) << v.name;
    EXPECT_EQ((reinterpret_cast<uintptr_t>(v.data) - base) % 32, 0u);
    EXPECT_EQ(f->find_tensor(v.name), &v);
  }
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
  EXPECT_THROW(f->tensor("nope"), Error);
  EXPECT_EQ(f->file_bytes(), testing::read_bytes(dir.file("m.gguf")).size());
}

TEST(Gguf, TypedGettersConvertAndRejectOtherTypes) {
  GgufWriter w;
  for (const auto& [k, v] : every_value_type()) w.add_kv(k, v);
  TempDir dir;
  w.write(dir.file("m.gguf"));
  auto f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f->get_uint("t.u8"), 255u);
  EXPECT_EQ(f->get_uint("t.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f->get_int("t.i8"), -128);
  EXPECT_EQ(f->get_int("t.u32"), 4294967295);
  EXPECT_THROW(f->get_uint("t.i8"), Error);  // negative
  EXPECT_THROW(f->get_int("t.u64"), Error);  // does not fit int64
  EXPECT_EQ(f->get_float("t.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(f->get_float("t.i16"), -32768.0);
  EXPECT_EQ(f->get_bool("t.bool"), true);
  EXPECT_EQ(f->get_bool("t.false"), false);
  EXPECT_EQ(f->get_string("general.architecture"), "deepseek2");
  EXPECT_EQ(f->get_string("missing"), std::nullopt);
  EXPECT_EQ(f->get_uint("missing"), std::nullopt);
  EXPECT_EQ(f->get_string_array("missing"), nullptr);
  ASSERT_NE(f->get_string_array("t.strings"), nullptr);
  EXPECT_EQ(f->get_string_array("t.strings")->at(2), "\xc4\xa0the");
  EXPECT_EQ(f->get_int_array("t.i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->get_float_array("t.f32s"), (std::vector<float>{0.5f, -1.25f}));
  EXPECT_EQ(f->get_float_array("t.i32s"), (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(f->get_float_array("t.empty_f32s"), std::vector<float>{});  // fuzzer: memcpy from null
  EXPECT_EQ(f->get_int_array("t.empty"), std::vector<int64_t>{});
  try {
    f->get_string("t.u8");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.gguf: metadata 't.u8' is uint8 255, expected a string"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(f->get_bool("t.u8"), Error);
  EXPECT_THROW(f->get_int_array("t.strings"), Error);
  EXPECT_THROW(f->get_string_array("t.i32s"), Error);
  EXPECT_THROW(f->get_float("t.string"), Error);
  EXPECT_EQ(f->find("t.nested")->array_values().at(1).array_strings().at(0), "x");
  EXPECT_EQ(f->find("t.strings")->to_string(2), "[\"a\", \"\", ... (4 string)]");
}

TEST(Gguf, LazyTensorsCustomAlignmentAndWriterErrors) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("general.alignment", GgufValue::uint32(64));
  EXPECT_THROW(w.add_kv("general.alignment", GgufValue::uint32(64)), Error);  // duplicate key
  int calls = 0;
  w.add_tensor_lazy("a", DType::F32, {3}, [&](uint8_t* dst) {
    ++calls;
    const float v[3] = {1, 2, 3};
    std::memcpy(dst, v, sizeof v);
  });
  const std::vector<uint8_t> q8(34 * 2, 0x11);
  w.add_tensor("b", DType::Q8_0, {64}, q8.data(), q8.size());
  EXPECT_THROW(w.add_tensor("c", DType::F8_E4M3, {4}, q8.data(), 4), Error);  // not a GGUF type
  EXPECT_THROW(w.add_tensor("c", DType::Q8_0, {64}, q8.data(), 10), Error);   // wrong size
  EXPECT_THROW(w.add_tensor("c", DType::Q8_0, {48}, q8.data(), 34), Error);   // not whole blocks
  EXPECT_THROW(w.add_tensor("c", DType::F32, {1, 1, 1, 1, 1}, q8.data(), 4), Error);
  EXPECT_THROW(w.add_tensor("c", DType::F32, {0}, q8.data(), 0), Error);
  EXPECT_THROW(w.add_tensor("b", DType::Q8_0, {64}, q8.data(), q8.size()), Error);  // duplicate name
  w.write(dir.file("m.gguf"));
  EXPECT_EQ(calls, 1);
  auto f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(static_cast<const float*>(f->tensor("a").data)[2], 3.0f);
  const auto* base = static_cast<const uint8_t*>(f->tensor("a").data);
  EXPECT_EQ(static_cast<const uint8_t*>(f->tensor("b").data) - base, 64);
  EXPECT_EQ(f->tensor("b").shape, (std::vector<int64_t>{64}));

  // A failing fill leaves no file behind.
  GgufWriter bad;
  bad.add_tensor_lazy("x", DType::F32, {1}, [](uint8_t*) { fail("generator broke"); });
  EXPECT_THROW(bad.write(dir.file("bad.gguf")), Error);
  EXPECT_FALSE(file_exists(dir.file("bad.gguf")));
  EXPECT_FALSE(file_exists(dir.file("bad.gguf.tmp")));
}

TEST(Gguf, SplitFilesAreFoundAndMerged) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("general.architecture", GgufValue::string("deepseek2"));
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 5; ++i) data.push_back(std::vector<float>(16, static_cast<float>(i)));
  for (int i = 0; i < 5; ++i) w.add_tensor(cat("t", i), DType::F32, {4, 4}, data[i].data(), 64);
  // 64 bytes each: at most two tensors per part -> parts of 2, 2, 1.
  const auto paths = w.write_split(dir.file("model"), 128);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0], dir.file("model-00001-of-00003.gguf"));
  EXPECT_EQ(paths[2], dir.file("model-00003-of-00003.gguf"));

  for (const auto& open_path : paths) {  // any part finds the others
    auto f = GgufFile::open(open_path);
    EXPECT_EQ(f->paths(), paths);
    EXPECT_EQ(f->get_string("general.architecture"), "deepseek2");
    EXPECT_EQ(f->get_uint("split.count"), 3u);
    EXPECT_EQ(f->get_int("split.tensors.count"), 5);
    ASSERT_EQ(f->tensors().size(), 5u);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(static_cast<const float*>(f->tensor(cat("t", i)).data)[15], i);
  }
  // Later parts hold only the split keys.
  const auto bytes2 = testing::read_bytes(paths[1]);
  auto part2 = GgufFile::from_memory(bytes2.data(), bytes2.size(), paths[1]);
  ASSERT_EQ(part2->metadata().size(), 3u);
  EXPECT_EQ(part2->metadata()[0].first, "split.no");
  EXPECT_EQ(part2->metadata()[0].second, GgufValue::uint16(1));
  EXPECT_EQ(part2->metadata()[1].second, GgufValue::uint16(3));
  EXPECT_EQ(part2->metadata()[2].second, GgufValue::int32(5));
  EXPECT_EQ(part2->tensors().size(), 2u);
}

TEST(Gguf, MissingOrMismatchedSplitPartIsAnError) {
  TempDir dir;
  GgufWriter w;
  std::vector<float> x(4, 1.0f);
  for (int i = 0; i < 3; ++i) w.add_tensor(cat("t", i), DType::F32, {4}, x.data(), 16);
  const auto paths = w.write_split(dir.file("m"), 16);
  ASSERT_EQ(paths.size(), 3u);
  std::filesystem::rename(paths[1], dir.file("elsewhere.gguf"));
  try {
    GgufFile::open(paths[0]);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("split part 2 of 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("is missing"), std::string::npos) << e.what();
  }
  // Part 3 copied in place of part 2: its split.no says 3.
  std::filesystem::copy_file(paths[2], paths[1]);
  EXPECT_THROW(GgufFile::open(paths[0]), Error);
  // A renamed first part cannot find its siblings.
  std::filesystem::copy_file(paths[0], dir.file("renamed.gguf"));
  EXPECT_THROW(GgufFile::open(dir.file("renamed.gguf")), Error);
}

}  // namespace
}  // namespace dsinfer
