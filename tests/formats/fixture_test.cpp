// Files written by the official writers (gguf-py, safetensors, huggingface_hub; see
// tools/reference/make_format_fixtures.py) must read back exactly the values the script recorded.

#include <gtest/gtest.h>

#include "formats/gguf.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "tensor/quant.h"
#include "util/error.h"

namespace dsinfer {
namespace {

const std::string kData = std::string(DSINFER_TEST_DATA) + "/formats/data/";

std::vector<float> values_of(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  dequantize_row(t.dtype, t.data, out.data(), t.numel());  // raw values, no fp8 block scale
  return out;
}

void expect_values(const TensorView& t, const nlohmann::json& want) {
  const auto got = values_of(t);
  ASSERT_EQ(got.size(), want.size()) << t.name;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], static_cast<float>(want[i].get<double>())) << t.name << "[" << i << "]";
}

// Compares one GGUF value with the JSON the script wrote for it (elements have type elem_type).
void expect_gguf_value(const GgufValue& v, GgufType type, const nlohmann::json& want, const std::string& key) {
  SCOPED_TRACE(key);
  ASSERT_EQ(v.type(), type);
  switch (type) {
    case GgufType::kString: EXPECT_EQ(*v.as_string(), want.get<std::string>()); break;
    case GgufType::kBool: EXPECT_EQ(*v.as_bool(), want.get<bool>()); break;
    case GgufType::kFloat32:
    case GgufType::kFloat64: EXPECT_EQ(*v.as_float(), want.get<double>()); break;
    case GgufType::kUint64: EXPECT_EQ(*v.as_uint(), want.get<uint64_t>()); break;
    case GgufType::kArray: FAIL() << "arrays are compared element-wise";
    default: EXPECT_EQ(*v.as_int(), want.get<int64_t>()); break;
  }
}

GgufType type_named(const std::string& name) {
  for (uint32_t t = 0; t < kGgufTypeCount; ++t)
    if (name == gguf_type_name(static_cast<GgufType>(t))) return static_cast<GgufType>(t);
  ADD_FAILURE() << "unknown type " << name;
  return GgufType::kUint8;
}

void expect_gguf_array(const GgufValue& v, const nlohmann::json& want, const std::string& key) {
  ASSERT_TRUE(v.is_array()) << key;
  ASSERT_EQ(v.array_size(), want.size()) << key;
  for (size_t i = 0; i < want.size(); ++i) {
    const GgufValue e = v.element(i);
    if (e.is_array()) {
      expect_gguf_array(e, want[i], cat(key, "[", i, "]"));
    } else {
      expect_gguf_value(e, v.array_type(), want[i], cat(key, "[", i, "]"));
    }
  }
}

TEST(Fixtures, GgufFromGgufPy) {
  const auto want = read_json_file(kData + "gguf_types.expected.json");
  auto f = GgufFile::open(kData + "gguf_types.gguf");
  EXPECT_EQ(f->version(), 3u);
  // gguf-py adds no keys of its own beyond general.architecture, in insertion order.
  ASSERT_EQ(f->metadata().size(), want["metadata"].size());
  for (size_t i = 0; i < f->metadata().size(); ++i) {
    const auto& w = want["metadata"][i];
    const auto& [key, value] = f->metadata()[i];
    EXPECT_EQ(key, w["key"].get<std::string>());
    const GgufType type = type_named(w["type"]);
    if (type == GgufType::kArray) {
      EXPECT_EQ(value.array_type(), type_named(w["elem_type"])) << key;
      expect_gguf_array(value, w["value"], key);
    } else {
      expect_gguf_value(value, type, w["value"], key);
    }
  }
  EXPECT_EQ(f->get_string_array("test.str_array")->at(3), "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
  ASSERT_EQ(f->tensors().size(), want["tensors"].size());
  for (const auto& w : want["tensors"]) {
    const TensorView& t = f->tensor(w["name"].get<std::string>());
    EXPECT_EQ(dtype_name(t.dtype), w["dtype"].get<std::string>());
    EXPECT_EQ(t.shape, w["shape"].get<std::vector<int64_t>>());
    expect_values(t, w["values"]);
  }
}

TEST(Fixtures, GgufSplitFromGgufPy) {
  const auto want = read_json_file(kData + "gguf_split.expected.json");
  auto f = GgufFile::open(kData + "gguf_split-00001-of-00003.gguf");
  EXPECT_EQ(f->paths().size(), 3u);
  EXPECT_EQ(f->get_uint("deepseek2.block_count"), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "deepseek2");
  ASSERT_EQ(f->tensors().size(), 3u);
  for (const auto& w : want["tensors"]) {
    const TensorView& t = f->tensor(w["name"].get<std::string>());
    EXPECT_EQ(t.shape, w["shape"].get<std::vector<int64_t>>());
    expect_values(t, w["values"]);
  }
}

TEST(Fixtures, SafetensorsFromTorch) {
  const auto want = read_json_file(kData + "st_types.expected.json");
  auto m = SafetensorsModel::open_file(kData + "st_types.safetensors");
  EXPECT_EQ(m->metadata(), (want["metadata"].get<std::map<std::string, std::string>>()));
  ASSERT_EQ(m->tensors().size(), want["tensors"].size());
  for (const auto& w : want["tensors"]) {
    const TensorView& t = m->tensor(w["name"].get<std::string>());
    EXPECT_STREQ(dtype_to_safetensors(t.dtype), w["dtype"].get<std::string>().c_str());
    EXPECT_EQ(t.shape, w["shape"].get<std::vector<int64_t>>());
    expect_values(t, w["values"]);
  }
  ASSERT_EQ(m->unsupported_tensors().size(), 1u);
  EXPECT_EQ(m->unsupported_tensors()[0].name, "extra.i64");
  EXPECT_EQ(m->unsupported_tensors()[0].dtype, "I64");
  EXPECT_EQ(m->unsupported_tensors()[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_THROW(m->find_tensor("extra.i64"), Error);
}

TEST(Fixtures, ShardedSafetensorsFromHuggingfaceHub) {
  const auto want = read_json_file(kData + "st_sharded.expected.json");
  auto m = SafetensorsModel::open_dir(kData + "st_sharded");
  EXPECT_EQ(m->paths().size(), 3u);
  ASSERT_EQ(m->tensors().size(), 3u);
  for (const auto& w : want["tensors"]) {
    const TensorView& t = m->tensor(w["name"].get<std::string>());
    EXPECT_EQ(t.dtype, DType::BF16);
    EXPECT_EQ(t.shape, w["shape"].get<std::vector<int64_t>>());
    expect_values(t, w["values"]);
  }
}

}  // namespace
}  // namespace dsinfer
