// Round-trip error of each GGML block format on Gaussian data, degenerate rows, and bad sizes.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "util/error.h"

namespace dsinfer {
namespace {

struct RoundTripCase {
  DType type;
  double max_rel_rms;  // generous bound; llama.cpp's own figures are about 60% of these
};

class QuantRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(QuantRoundTrip, RelativeRmsErrorIsWithinBound) {
  const auto [t, bound] = GetParam();
  const int64_t n = 256 * 64;
  std::mt19937 gen(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(gen);
  std::vector<uint8_t> q(dtype_row_bytes(t, n));
  quantize_row(t, x.data(), q.data(), n);
  std::vector<float> y(n);
  dequantize_row(t, q.data(), y.data(), n);
  double err2 = 0, ref2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    err2 += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    ref2 += static_cast<double>(x[i]) * x[i];
  }
  const double rel = std::sqrt(err2 / ref2);
  std::printf("[ measured ] %s round-trip RMS error / RMS value = %.3f%%\n", dtype_name(t), 100 * rel);
  EXPECT_LT(rel, bound) << dtype_name(t);
  EXPECT_GT(rel, bound / 20) << dtype_name(t) << ": suspiciously exact, is the quantizer a copy?";
}

TEST_P(QuantRoundTrip, ZerosStayZeroAndOutputIsDeterministic) {
  const DType t = GetParam().type;
  const int64_t n = 512;
  std::vector<float> zeros(n, 0.0f);
  std::vector<uint8_t> q(dtype_row_bytes(t, n), 0xab);
  quantize_row(t, zeros.data(), q.data(), n);
  std::vector<float> y(n, 1.0f);
  dequantize_row(t, q.data(), y.data(), n);
  for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t);

  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
  std::vector<uint8_t> a(q.size(), 0x11), b(q.size(), 0x77);  // different garbage before writing
  quantize_row(t, x.data(), a.data(), n);
  quantize_row(t, x.data(), b.data(), n);
  EXPECT_EQ(a, b) << dtype_name(t) << ": every output byte must be written";
}

TEST_P(QuantRoundTrip, RowsNotAWholeNumberOfBlocksThrow) {
  const DType t = GetParam().type;
  const int64_t block = dtype_block_elems(t);
  std::vector<float> x(2 * block, 1.0f);
  std::vector<uint8_t> q(dtype_row_bytes(t, 2 * block));
  EXPECT_THROW(quantize_row(t, x.data(), q.data(), block + 1), Error);
  EXPECT_THROW(quantize_row(t, x.data(), q.data(), 16), Error);
  EXPECT_THROW(quantize_row(t, x.data(), q.data(), -block), Error);
  EXPECT_THROW(dequantize_row(t, q.data(), x.data(), block - 1), Error);
  EXPECT_THROW(dequantize_row(t, q.data(), x.data(), -1), Error);
  // Zero values is a valid (empty) row.
  EXPECT_NO_THROW(quantize_row(t, x.data(), q.data(), 0));
  try {
    dequantize_blocks(t, q.data(), x.data(), block + 1);
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dtype_name(t)), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(AllBlockTypes, QuantRoundTrip,
                         ::testing::Values(RoundTripCase{DType::Q8_0, 0.006},
                                           RoundTripCase{DType::Q4_0, 0.14}, RoundTripCase{DType::Q5_0, 0.07},
                                           RoundTripCase{DType::Q5_1, 0.07}, RoundTripCase{DType::Q4_K, 0.10},
                                           RoundTripCase{DType::Q5_K, 0.05},
                                           RoundTripCase{DType::Q6_K, 0.025}, RoundTripCase{DType::Q2_K, 0.45},
                                           RoundTripCase{DType::Q3_K, 0.25}, RoundTripCase{DType::IQ4_NL, 0.12},
                                           RoundTripCase{DType::IQ4_XS, 0.12}),
                         [](const auto& info) { return std::string(dtype_name(info.param.type)); });

TEST(QuantBlocks, NonBlockTypesAreRejected) {
  float x[32] = {};
  uint8_t q[128] = {};
  EXPECT_THROW(quantize_blocks(DType::F32, x, q, 32), Error);
  EXPECT_THROW(dequantize_blocks(DType::BF16, q, x, 32), Error);
}

// A hand-built Q4_K block, decoded by the layout in ggml-common.h: group 5 keeps its scale's low
// nibble in byte 9 and its top two bits in byte 1; its min in byte 9's high nibble and byte 5.
TEST(QuantBlocks, Q4KSixBitScalesOfUpperGroupsAreSplitAcrossBytes) {
  uint8_t block[144] = {};
  block[0] = 0x00, block[1] = 0x3c;  // d = 1.0
  block[2] = 0x00, block[3] = 0x38;  // dmin = 0.5
  // group 5: scale = 0b10'0111 = 39, min = 0b01'1010 = 26
  block[4 + 1] = static_cast<uint8_t>(2 << 6);  // scales[1] top bits = scale5 >> 4
  block[4 + 5] = static_cast<uint8_t>(1 << 6);  // scales[5] top bits = min5 >> 4
  block[4 + 9] = static_cast<uint8_t>(0x7 | (0xa << 4));
  // values 160..191 (group 5 = pass 2, high nibbles) all get q = 3
  for (int l = 0; l < 32; ++l) block[16 + 64 + l] = 0x30;
  std::vector<float> y(256);
  dequantize_row(DType::Q4_K, block, y.data(), 256);
  EXPECT_EQ(y[160], 39.0f * 3 - 0.5f * 26);
  EXPECT_EQ(y[191], 39.0f * 3 - 0.5f * 26);
  EXPECT_EQ(y[128], 0.0f);  // group 4: scale 0, min 0
}

}  // namespace
}  // namespace dsinfer
