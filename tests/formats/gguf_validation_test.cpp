// Malformed GGUF input: every kind of damage must be a dsinfer::Error naming the file (never a crash,
// never another exception type), and anything that does load must describe only bytes inside the buffer.

#include <gtest/gtest.h>

#include "formats/gguf.h"
#include "test_util.h"
#include "util/error.h"

namespace dsinfer {
namespace {

using testing::Bytes;
using testing::TempDir;

constexpr uint32_t kF32 = 0, kQ4_1 = 3;

// Header of a GGUF v3 image with the given counts.
Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes b;
  b.put<uint32_t>(0x46554747).put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  return b;
}

// One tensor info; ne innermost first as in the file.
void tensor_info(Bytes& b, const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
  b.str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) b.put<uint64_t>(d);
  b.put<uint32_t>(type).put<uint64_t>(offset);
}

std::string error_of(const std::vector<uint8_t>& bytes, const std::string& name = "bad.gguf") {
  try {
    GgufFile::from_memory(bytes.data(), bytes.size(), name);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR(bytes, text)                                                            \
  do {                                                                                       \
    const std::string msg_ = error_of(bytes);                                                \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_;                    \
    EXPECT_EQ(msg_.rfind("bad.gguf: ", 0), 0u) << "message does not start with the file: " << msg_; \
  } while (0)

TEST(GgufValidation, HeaderErrorsNameTheProblem) {
  EXPECT_ERROR(Bytes().put<uint16_t>(0x4747).b, "too small");
  EXPECT_ERROR(Bytes().put<uint32_t>(0x4c4d4747).put<uint32_t>(3).b, "not a GGUF file");
  EXPECT_ERROR(header(0, 0, 1).b, "unsupported GGUF version 1");
  EXPECT_ERROR(header(0, 0, 4).b, "unsupported GGUF version 4");
  EXPECT_ERROR(header(0, 0, 0x03000000).b, "big-endian");
  EXPECT_ERROR(Bytes().put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint32_t>(0).b, "truncated");
  EXPECT_ERROR(header(0, uint64_t{1} << 60).b, "metadata entries");
  EXPECT_ERROR(header(uint64_t{1} << 60, 0).b, "tensors, more than");
}

TEST(GgufValidation, EmptyV2AndV3FilesLoad) {
  for (uint32_t v : {2u, 3u}) {
    const auto b = header(0, 0, v).b;
    auto f = GgufFile::from_memory(b.data(), b.size(), "empty.gguf");
    EXPECT_EQ(f->version(), v);
    EXPECT_TRUE(f->tensors().empty());
    EXPECT_TRUE(f->metadata().empty());
  }
}

TEST(GgufValidation, MetadataErrors) {
  // A string length larger than the file must not allocate.
  Bytes huge_str = header(0, 1);
  huge_str.str("k").put<uint32_t>(8).put<uint64_t>(uint64_t{1} << 62);
  EXPECT_ERROR(huge_str.b, "metadata 'k': truncated");
  Bytes huge_key = header(0, 1);
  huge_key.put<uint64_t>(~uint64_t{0}).put<uint64_t>(0);
  EXPECT_ERROR(huge_key.b, "metadata entry 0: truncated");
  Bytes huge_array = header(0, 1);
  huge_array.str("k").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(uint64_t{1} << 61);
  EXPECT_ERROR(huge_array.b, "cannot fit");
  Bytes huge_str_array = header(0, 1);
  huge_str_array.str("k").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(1000);
  EXPECT_ERROR(huge_str_array.b, "cannot fit");
  Bytes bad_type = header(0, 1);
  bad_type.str("k").put<uint32_t>(13).put<uint64_t>(0);
  EXPECT_ERROR(bad_type.b, "invalid value type 13");
  Bytes bad_elem = header(0, 1);
  bad_elem.str("k").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(0);
  EXPECT_ERROR(bad_elem.b, "invalid element type 77");
  Bytes dup = header(0, 2);
  dup.str("k").put<uint32_t>(0).put<uint8_t>(1).str("k").put<uint32_t>(0).put<uint8_t>(2);
  EXPECT_ERROR(dup.b, "'k' appears twice");
  // Arrays nested deeper than the reader allows.
  Bytes deep = header(0, 1);
  deep.str("k").put<uint32_t>(9);
  for (int i = 0; i < 20; ++i) deep.put<uint32_t>(9).put<uint64_t>(1);
  deep.put<uint32_t>(0).put<uint64_t>(0);
  EXPECT_ERROR(deep.b, "nested more than");
  Bytes align = header(0, 1);
  align.str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
  EXPECT_ERROR(align.b, "general.alignment is 48");
  Bytes align_str = header(0, 1);
  align_str.str("general.alignment").put<uint32_t>(8).str("32");
  EXPECT_ERROR(align_str.b, "general.alignment");
}

TEST(GgufValidation, TensorInfoErrors) {
  auto one = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes) {
    Bytes b = header(1, 0);
    tensor_info(b, "blk.3.attn_k_b.weight", std::move(ne), type, offset);
    b.pad_to(32);
    b.b.resize(b.b.size() + data_bytes);
    return b.b;
  };
  EXPECT_NO_THROW(GgufFile::from_memory(one({4, 2}, kF32, 0, 32).data(), one({4, 2}, kF32, 0, 32).size(), "ok"));
  EXPECT_ERROR(one({4, 2}, kF32, 0, 31), "tensor 'blk.3.attn_k_b.weight'");
  EXPECT_ERROR(one({4, 2}, kF32, 0, 31), "runs past the end of the file");
  EXPECT_ERROR(one({4, 2}, kF32, 32, 32), "runs past the end");
  EXPECT_ERROR(one({4, 2}, kF32, 4, 64), "not a multiple of the alignment 32");
  EXPECT_ERROR(one({4, 2}, kF32, ~uint64_t{0} - 31, 64), "runs past the end");
  EXPECT_ERROR(one({1, 1, 1, 1, 1}, kF32, 0, 32), "n_dims 5");
  EXPECT_ERROR(one({4, 0}, kF32, 0, 32), "dimension 1 is 0");
  EXPECT_ERROR(one({4, ~uint64_t{0}}, kF32, 0, 32), "must be positive");
  EXPECT_ERROR(one({uint64_t{1} << 40, uint64_t{1} << 40}, kF32, 0, 32), "more elements than fit in 64 bits");
  EXPECT_ERROR(one({uint64_t{1} << 31, uint64_t{1} << 31}, kF32, 0, 32), "byte size overflows");
  EXPECT_ERROR(one({uint64_t{1} << 30, uint64_t{1} << 30}, kF32, 0, 32), "runs past the end");
  EXPECT_ERROR(one({33, 1}, 8 /* q8_0 */, 0, 64), "not a multiple of the q8_0 block size 32");
  // dsinfer's R8 types (dsinfer repack) hold whole 8-row groups: 3 rows would leave a group short.
  const uint32_t q4_0_r8 = dtype_to_ggml(DType::Q4_0_R8);
  EXPECT_ERROR(one({32, 3}, q4_0_r8, 0, 3 * 18), "q4_0_r8 stores rows in groups of 8, but there are 3 rows");
  const std::vector<uint8_t> r8 = one({32, 8}, q4_0_r8, 0, 8 * 18);
  EXPECT_EQ(GgufFile::from_memory(r8.data(), r8.size(), "ok")->tensors().at(0).dtype, DType::Q4_0_R8);

  Bytes dup = header(2, 0);
  tensor_info(dup, "w", {8}, kF32, 0);
  tensor_info(dup, "w", {8}, kF32, 32);
  dup.pad_to(32).b.resize(dup.b.size() + 64);
  EXPECT_ERROR(dup.b, "tensor 'w' appears twice");

  Bytes overlap = header(2, 0);
  tensor_info(overlap, "a", {16}, kF32, 0);
  tensor_info(overlap, "b", {8}, kF32, 32);
  overlap.pad_to(32).b.resize(overlap.b.size() + 64);
  EXPECT_ERROR(overlap.b, "'a' and 'b' overlap");

  Bytes no_data = header(1, 0);
  tensor_info(no_data, "a", {1}, kF32, 0);
  EXPECT_ERROR(no_data.b, "tensor data should start at offset");
}

TEST(GgufValidation, UnsupportedTypesAreListedAndRefusedByName) {
  Bytes b = header(2, 0);
  tensor_info(b, "ok", {8}, kF32, 0);
  tensor_info(b, "blk.0.ffn_down_exps.weight", {32, 2}, kQ4_1, 32);
  b.pad_to(32).b.resize(b.b.size() + 32 + 40);
  auto f = GgufFile::from_memory(b.b.data(), b.b.size(), "m.gguf");
  ASSERT_EQ(f->tensors().size(), 1u);
  ASSERT_EQ(f->unsupported_tensors().size(), 1u);
  EXPECT_EQ(f->unsupported_tensors()[0].shape, (std::vector<int64_t>{2, 32}));
  try {
    f->find_tensor("blk.0.ffn_down_exps.weight");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.gguf: tensor 'blk.0.ffn_down_exps.weight' [2, 32] has ggml type q4_1"),
              std::string::npos)
        << e.what();
  }
}

// A small valid file with several value kinds and two tensors, written by our writer.
std::vector<uint8_t> small_valid_file(const TempDir& dir) {
  GgufWriter w;
  w.add_kv("general.architecture", GgufValue::string("deepseek2"));
  w.add_kv("n", GgufValue::uint32(7));
  w.add_kv("f", GgufValue::float32(1.5f));
  w.add_kv("toks", GgufValue::string_array({"a", "bc", "def"}));
  w.add_kv("types", GgufValue::array_of(std::vector<int32_t>{1, 2, 3}));
  w.add_kv("nest", GgufValue::array(GgufType::kArray, {GgufValue::array_of(std::vector<uint8_t>{9})}));
  const std::vector<float> a(6, 2.0f);
  const std::vector<uint8_t> q(34, 1);
  w.add_tensor("a", DType::F32, {2, 3}, a.data(), 24);
  w.add_tensor("q", DType::Q8_0, {32}, q.data(), 34);
  w.write(dir.file("small.gguf"));
  return testing::read_bytes(dir.file("small.gguf"));
}

// Loads bytes (copied into an exact-size heap buffer so the sanitizer sees any overread); returns true if
// it loaded. Anything other than dsinfer::Error fails the test.
bool load_checked(const std::vector<uint8_t>& bytes) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes.size() + 1]);
  if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
  try {
    auto f = GgufFile::from_memory(buf.get(), bytes.size(), "fuzz.gguf");
    for (const auto& t : f->tensors()) {
      const auto* p = static_cast<const uint8_t*>(t.data);
      EXPECT_GE(p, buf.get());
      EXPECT_LE(p + t.nbytes, buf.get() + bytes.size());
      EXPECT_EQ(t.nbytes, t.expected_bytes());
    }
    for (const auto& [k, v] : f->metadata()) (void)v.to_string();
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(GgufValidation, EveryTruncationIsAnErrorOrLoadsInBounds) {
  TempDir dir;
  const auto full = small_valid_file(dir);
  ASSERT_TRUE(load_checked(full));
  size_t loaded = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    if (load_checked(cut)) ++loaded;
  }
  // Only cuts inside the zero padding after the last tensor's 34 bytes may still load.
  EXPECT_LE(loaded, 32u);
}

TEST(GgufValidation, ByteFlipsAreErrorsOrLoadInBounds) {
  TempDir dir;
  const auto full = small_valid_file(dir);
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t x : {0x01, 0x80, 0xff, 0x10}) {
      auto bad = full;
      bad[i] ^= x;
      load_checked(bad);
    }
  }
}

TEST(GgufValidation, OpenNamesTheFile) {
  TempDir dir;
  testing::write_bytes(dir.file("x.gguf"), {1, 2, 3, 4, 5});
  try {
    GgufFile::open(dir.file("x.gguf"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir.file("x.gguf") + ": not a GGUF file", 0), 0u) << e.what();
  }
  EXPECT_THROW(GgufFile::open(dir.file("missing.gguf")), Error);
}

}  // namespace
}  // namespace dsinfer
