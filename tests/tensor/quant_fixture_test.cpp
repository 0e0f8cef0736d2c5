// Our GGML block quantize/dequantize against vectors made by tools/reference/make_quant_vectors.py
// from two references written outside this project: llama.cpp's ggml-quants.c (quantize_row_*_ref,
// compiled from source) and gguf-py's numpy dequantizers (checked there against ggml's dequantize_row_*).
// Quantized bytes and dequantized floats must match bit for bit.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/half.h"
#include "tensor/quant.h"

namespace dsinfer {
namespace {

std::vector<uint8_t> read_fixture(const std::string& name) {
  const std::string path = std::string(DSINFER_TEST_DATA) + "/tensor/data/quant/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Reads records `u32 n | part A | part B` with the sizes given as functions of n.
struct Reader {
  const std::vector<uint8_t>& buf;
  size_t pos = 0;
  bool done() const { return pos >= buf.size(); }
  uint32_t u32() {
    uint32_t v = 0;
    if (pos + 4 > buf.size()) throw std::runtime_error("fixture truncated");
    std::memcpy(&v, buf.data() + pos, 4);
    pos += 4;
    return v;
  }
  const uint8_t* take(size_t n) {
    if (pos + n > buf.size()) throw std::runtime_error("fixture truncated");
    const uint8_t* p = buf.data() + pos;
    pos += n;
    return p;
  }
};

std::vector<float> floats(const uint8_t* p, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  std::memcpy(v.data(), p, static_cast<size_t>(n) * 4);
  return v;
}

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || f32_bits(a) == f32_bits(b);
}

// Every record of <type>_dequantize.bin decodes to gguf-py's floats, bit for bit.
void check_dequantize_fixture(DType t) {
  const auto buf = read_fixture(std::string(dtype_name(t)) + "_dequantize.bin");
  Reader r{buf};
  int records = 0;
  while (!r.done()) {
    const int64_t n = r.u32();
    const uint8_t* data = r.take(dtype_row_bytes(t, n));
    const auto expected = floats(r.take(static_cast<size_t>(n) * 4), n);
    std::vector<float> got(static_cast<size_t>(n));
    dequantize_row(t, data, got.data(), n);
    int n_diff = 0;
    int64_t first = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (!same_float(got[i], expected[i])) {
        if (first < 0) first = i;
        ++n_diff;
      }
    }
    EXPECT_EQ(n_diff, 0) << dtype_name(t) << " record " << records << ": first mismatch at " << first
                         << ": got " << (first >= 0 ? got[first] : 0) << " expected "
                         << (first >= 0 ? expected[first] : 0);
    ++records;
  }
  EXPECT_EQ(records, 3);
}

class QuantFixture : public ::testing::TestWithParam<DType> {};

TEST_P(QuantFixture, QuantizeMatchesLlamaCppReferenceBytes) {
  const DType t = GetParam();
  const auto buf = read_fixture(std::string(dtype_name(t)) + "_quantize.bin");
  Reader r{buf};
  int records = 0;
  while (!r.done()) {
    const int64_t n = r.u32();
    const auto x = floats(r.take(static_cast<size_t>(n) * 4), n);
    const size_t nbytes = dtype_row_bytes(t, n);
    const uint8_t* expected = r.take(nbytes);
    std::vector<uint8_t> got(nbytes, 0xcd);
    quantize_row(t, x.data(), got.data(), n);
    size_t first_diff = nbytes;
    int n_diff = 0;
    for (size_t i = 0; i < nbytes; ++i) {
      if (got[i] != expected[i]) {
        if (first_diff == nbytes) first_diff = i;
        ++n_diff;
      }
    }
    EXPECT_EQ(n_diff, 0) << dtype_name(t) << " record " << records << " (n=" << n << "): " << n_diff
                         << " bytes differ, first at byte " << first_diff << " (block "
                         << first_diff / dtype_block_bytes(t) << ", offset "
                         << first_diff % dtype_block_bytes(t) << ")";
    ++records;
  }
  EXPECT_GE(records, 15);
}

TEST_P(QuantFixture, DequantizeMatchesGgufPy) { check_dequantize_fixture(GetParam()); }

// Dequantizing what we quantized must give what gguf-py gives for the same (reference) bytes, which
// the dequantize test pins down; here we check the quantize fixtures decode to finite values close
// to their inputs, so a fixture/decoder pairing error (e.g. a shifted record) cannot go unnoticed.
TEST_P(QuantFixture, QuantizeFixturesDecodeNearTheirInputs) {
  const DType t = GetParam();
  const auto buf = read_fixture(std::string(dtype_name(t)) + "_quantize.bin");
  Reader r{buf};
  while (!r.done()) {
    const int64_t n = r.u32();
    const auto x = floats(r.take(static_cast<size_t>(n) * 4), n);
    const uint8_t* bytes = r.take(dtype_row_bytes(t, n));
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(t, bytes, y.data(), n);
    double amax = 0;
    for (float v : x) amax = std::max(amax, static_cast<double>(std::fabs(v)));
    if (amax > 1e6 || amax < 1e-3) continue;  // f16 scale overflow / underflow rows
    // 2- and 3-bit groups of 16 have 4 or 8 levels, their 4- or 6-bit scales are quantized again: coarser.
    const double tol = (t == DType::Q2_K || t == DType::Q3_K) ? 0.5 : 0.25;
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(y[i], x[i], tol * amax) << dtype_name(t) << " n=" << n << " i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllBlockTypes, QuantFixture,
                         ::testing::Values(DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K, DType::Q2_K, DType::Q3_K, DType::IQ4_NL, DType::IQ4_XS),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// The grid i-quants: dsinfer reads them, it does not make them (quantize_row fails with a clear error).
class GridQuantFixture : public ::testing::TestWithParam<DType> {};

TEST_P(GridQuantFixture, DequantizeMatchesGgufPy) { check_dequantize_fixture(GetParam()); }

TEST_P(GridQuantFixture, QuantizingIsRefusedClearly) {
  std::vector<float> x(256, 0.5f);
  std::vector<uint8_t> out(dtype_row_bytes(GetParam(), 256));
  try {
    quantize_row(GetParam(), x.data(), out.data(), 256);
    FAIL() << "quantize_row accepted " << dtype_name(GetParam());
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("cannot quantize"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(GridIQuants, GridQuantFixture,
                         ::testing::Values(DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S,
                                           DType::IQ1_S, DType::IQ1_M),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace dsinfer
