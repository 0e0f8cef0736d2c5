#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include "formats/json_file.h"
#include "test_util.h"
#include "util/error.h"

namespace dsinfer {
namespace {

using testing::TempDir;

// A safetensors image with the given JSON header and `data_bytes` bytes of data.
std::vector<uint8_t> image(const std::string& header_json, size_t data_bytes) {
  testing::Bytes b;
  b.put<uint64_t>(header_json.size());
  b.b.insert(b.b.end(), header_json.begin(), header_json.end());
  b.b.resize(b.b.size() + data_bytes, 0);
  return b.b;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    SafetensorsModel::from_memory(bytes.data(), bytes.size(), "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR(bytes, text)                                                       \
  do {                                                                                  \
    const std::string msg_ = error_of(bytes);                                           \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_;               \
    EXPECT_EQ(msg_.rfind("bad.safetensors: ", 0), 0u) << "no file name: " << msg_;      \
  } while (0)

struct Tensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<Tensor> sample_tensors() {
  std::vector<Tensor> out = {
      {"a.fp8", DType::F8_E4M3, {3, 5}, {}},  // 15 bytes: written last so the others stay aligned
      {"b.f32", DType::F32, {2, 3}, {}},
      {"c.bf16", DType::BF16, {7}, {}},
      {"d.f16", DType::F16, {1, 1, 3}, {}},
      {"e.scalar", DType::F32, {}, {}},
      {"f.empty", DType::F32, {0, 4}, {}},
  };
  uint32_t seed = 10;
  for (auto& t : out) t.bytes = testing::random_bytes(checked_tensor_bytes(t.dtype, t.shape), seed++);
  return out;
}

void expect_tensors(const SafetensorsModel& m, const std::vector<Tensor>& want) {
  ASSERT_EQ(m.tensors().size(), want.size());
  for (const auto& t : want) {
    const TensorView* v = m.find_tensor(t.name);
    ASSERT_NE(v, nullptr) << t.name;
    EXPECT_EQ(v->dtype, t.dtype);
    EXPECT_EQ(v->shape, t.shape);
    ASSERT_EQ(v->nbytes, t.bytes.size());
    if (v->nbytes) {
      EXPECT_EQ(0, std::memcmp(v->data, t.bytes.data(), v->nbytes)) << t.name;
    }
    const size_t elem = dtype_block_bytes(t.dtype);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v->data) % elem, 0u) << t.name << " is not aligned to its element size";
  }
}

TEST(Safetensors, SingleFileRoundTrip) {
  TempDir dir;
  const auto tensors = sample_tensors();
  SafetensorsWriter w;
  w.add_metadata("format", "pt");
  for (const auto& t : tensors) w.add_tensor(t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size());
  w.write(dir.file("m.safetensors"));

  auto m = SafetensorsModel::open_file(dir.file("m.safetensors"));
  expect_tensors(*m, tensors);
  EXPECT_EQ(m->metadata().at("format"), "pt");
  EXPECT_EQ(m->paths(), std::vector<std::string>{dir.file("m.safetensors")});
  // The header is padded to 8 bytes and the data follows without gaps.
  const auto bytes = testing::read_bytes(dir.file("m.safetensors"));
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  size_t total = 0;
  for (const auto& t : tensors) total += t.bytes.size();
  EXPECT_EQ(bytes.size(), 8 + header_len + total);

  // open_dir without an index takes every .safetensors file.
  auto d = SafetensorsModel::open_dir(dir.path());
  expect_tensors(*d, tensors);
}

TEST(Safetensors, WriterRejectsBadTensors) {
  SafetensorsWriter w;
  const std::vector<uint8_t> buf(64);
  EXPECT_THROW(w.add_tensor("q", DType::Q8_0, {32}, buf.data(), 34), Error);
  EXPECT_THROW(w.add_tensor("x", DType::F32, {3}, buf.data(), 8), Error);
  EXPECT_THROW(w.add_tensor("__metadata__", DType::F32, {1}, buf.data(), 4), Error);
  w.add_tensor("x", DType::F32, {1}, buf.data(), 4);
  EXPECT_THROW(w.add_tensor("x", DType::F32, {1}, buf.data(), 4), Error);
}

TEST(Safetensors, ShardedRoundTripWithLazyTensors) {
  TempDir dir;
  SafetensorsWriter w;
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 5; ++i) {
    w.add_tensor_lazy(cat("layers.", i, ".w"), DType::F32, {4, 4}, [i](uint8_t* dst) {
      for (int k = 0; k < 16; ++k) reinterpret_cast<float*>(dst)[k] = static_cast<float>(i * 100 + k);
    });
  }
  const auto paths = w.write_sharded(dir.path(), 150);  // 64 bytes each: two per shard
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[2], dir.file("model-00003-of-00003.safetensors"));
  const auto index = read_json_file(dir.file("model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], 5 * 64);
  EXPECT_EQ(index["weight_map"]["layers.4.w"], "model-00003-of-00003.safetensors");

  auto m = SafetensorsModel::open_dir(dir.path());
  EXPECT_EQ(m->paths(), paths);
  ASSERT_EQ(m->tensors().size(), 5u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(static_cast<const float*>(m->tensor(cat("layers.", i, ".w")).data)[15], i * 100 + 15);
}

TEST(Safetensors, DirectoryErrors) {
  TempDir dir;
  SafetensorsWriter w;
  const std::vector<float> x(4, 1.0f);
  for (int i = 0; i < 3; ++i) w.add_tensor(cat("t", i), DType::F32, {4}, x.data(), 16);
  const auto paths = w.write_sharded(dir.path(), 16);
  ASSERT_EQ(paths.size(), 3u);
  const std::string index_path = dir.file("model.safetensors.index.json");
  auto expect_error = [&](const std::string& text) {
    try {
      SafetensorsModel::open_dir(dir.path());
      ADD_FAILURE() << "no error, expected " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };

  std::filesystem::rename(paths[1], dir.file("moved"));
  expect_error("shard 'model-00002-of-00003.safetensors' (holding tensor 't1') is missing");
  std::filesystem::rename(dir.file("moved"), paths[1]);

  auto index = read_json_file(index_path);
  index["weight_map"]["ghost"] = "model-00001-of-00003.safetensors";
  {
    const std::string text = index.dump();
    write_file(index_path, text.data(), text.size());
  }
  expect_error("tensor 'ghost' is listed in shard 'model-00001-of-00003.safetensors' but that file does not contain it");

  index["weight_map"].erase("ghost");
  index["weight_map"]["t0"] = "model-00002-of-00003.safetensors";  // swapped with t1
  index["weight_map"]["t1"] = "model-00001-of-00003.safetensors";
  {
    const std::string text = index.dump();
    write_file(index_path, text.data(), text.size());
  }
  expect_error("tensor 't0' is listed in shard 'model-00002-of-00003.safetensors' but is stored in");

  write_file(index_path, "{\"weight_map\": {\"t0\": \"../etc/passwd\"}}", 39);
  expect_error("is not a file in the directory");
  write_file(index_path, "{\"weight_map\": [}", 17);
  expect_error("model.safetensors.index.json: invalid JSON");

  // Without an index, a tensor in two files is an error.
  std::filesystem::remove(index_path);
  std::filesystem::copy_file(paths[0], dir.file("copy.safetensors"));
  expect_error("tensor 't0' also appears in an earlier file");

  TempDir empty;
  EXPECT_THROW(SafetensorsModel::open_dir(empty.path()), Error);
  EXPECT_THROW(SafetensorsModel::open_dir(empty.file("nope")), Error);
}

TEST(SafetensorsValidation, HeaderErrors) {
  EXPECT_ERROR(std::vector<uint8_t>(7), "too small");
  auto huge = image("{}", 0);
  huge[7] = 0x10;
  EXPECT_ERROR(huge, "header length");
  EXPECT_ERROR(image("{\"a\": ", 0), "invalid JSON");
  EXPECT_ERROR(image("[1, 2]", 0), "not a JSON object");
  EXPECT_ERROR(image(R"({"__metadata__": {"k": 1}})", 0), "__metadata__ 'k' is not a string");
  EXPECT_ERROR(image(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 7),
               "tensor 'w': data_offsets [0, 8) run past the end of the data (7 bytes)");
  EXPECT_ERROR(image(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 16),
               "F32 [3] needs 12 bytes but data_offsets [0, 8) hold 8");
  EXPECT_ERROR(image(R"({"w": {"dtype": "I64", "shape": [3], "data_offsets": [0, 8]}})", 16), "needs 24 bytes");
  EXPECT_ERROR(image(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}})", 16),
               "a dimension must be a non-negative integer");
  EXPECT_ERROR(image(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 16), "dimension");
  EXPECT_ERROR(image(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 16), "end before they begin");
  EXPECT_ERROR(image(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})", 16), "data_offsets");
  EXPECT_ERROR(image(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 16), "dtype");
  EXPECT_ERROR(image(R"({"w": 5})", 16), "not an object");
  EXPECT_ERROR(image(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 8]}})", 16),
               "64 bits");
  EXPECT_ERROR(image(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                         "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", 16),
               "'a' and 'b' overlap");
}

TEST(SafetensorsValidation, UnsupportedDTypesAreListedAndRefusedByName) {
  const auto bytes = image(R"({"ids": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},
                               "x": {"dtype": "F4_MYSTERY", "shape": [3], "data_offsets": [16, 18]},
                               "w": {"dtype": "BF16", "shape": [1], "data_offsets": [18, 20]}})", 20);
  auto m = SafetensorsModel::from_memory(bytes.data(), bytes.size(), "m.safetensors");
  ASSERT_EQ(m->tensors().size(), 1u);
  ASSERT_EQ(m->unsupported_tensors().size(), 2u);
  EXPECT_EQ(m->unsupported_tensors()[0].dtype, "I64");
  try {
    m->find_tensor("ids");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.safetensors: tensor 'ids' [2] has dtype I64, which dsinfer cannot load"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(m->find_tensor("absent"), nullptr);
}

std::vector<uint8_t> small_valid_file(const TempDir& dir) {
  SafetensorsWriter w;
  w.add_metadata("format", "pt");
  const auto tensors = sample_tensors();
  for (const auto& t : tensors) w.add_tensor(t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size());
  w.write(dir.file("s.safetensors"));
  return testing::read_bytes(dir.file("s.safetensors"));
}

bool load_checked(const std::vector<uint8_t>& bytes) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes.size() + 1]);
  if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
  try {
    auto m = SafetensorsModel::from_memory(buf.get(), bytes.size(), "fuzz.safetensors");
    for (const auto& t : m->tensors()) {
      const auto* p = static_cast<const uint8_t*>(t.data);
      EXPECT_GE(p, buf.get());
      EXPECT_LE(p + t.nbytes, buf.get() + bytes.size());
      EXPECT_EQ(t.nbytes, checked_tensor_bytes(t.dtype, t.shape));
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(SafetensorsValidation, EveryTruncationIsAnError) {
  TempDir dir;
  const auto full = small_valid_file(dir);
  ASSERT_TRUE(load_checked(full));
  for (size_t n = 0; n < full.size(); ++n)
    EXPECT_FALSE(load_checked(std::vector<uint8_t>(full.begin(), full.begin() + n))) << n;
}

TEST(SafetensorsValidation, ByteFlipsAreErrorsOrLoadInBounds) {
  TempDir dir;
  const auto full = small_valid_file(dir);
  uint64_t header_len;
  std::memcpy(&header_len, full.data(), 8);
  for (size_t i = 0; i < 8 + header_len; ++i)
    for (uint8_t x : {0x01, 0x02, 0x08, 0x20, 0x80, 0xff}) {
      auto bad = full;
      bad[i] ^= x;
      load_checked(bad);
    }
}

TEST(JsonFile, ErrorsNameTheFileAndPosition) {
  TempDir dir;
  const std::string text = "{\n  \"a\": 1,\n  \"b\": ]\n}";
  write_file(dir.file("config.json"), text.data(), text.size());
  try {
    read_json_file(dir.file("config.json"));
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(dir.file("config.json") + ": invalid JSON: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("line 3, column 8"), std::string::npos) << msg;
  }
  EXPECT_THROW(read_json_file(dir.file("absent.json")), Error);
  EXPECT_EQ(parse_json("{\"x\": [1, 2]}", "inline")["x"][1], 2);
}

}  // namespace
}  // namespace dsinfer
