// IQ1_S (50-byte blocks: f16 d | idx[32] | u16 qh[8]) <-> IQ1_S_R8 (560 bytes per 8 rows: f16 d[8] |
// codes[8 blocks][4 bytes] | qs [half][chunk][8 rows][4 bytes] of 2-bit points + 1), see tensor/interleave.h.
// Group l (values 8l..8l+7) of block j = 4h + jj of a row is one lattice point: its 8 values + 1, bytes of a
// u64 shifted to bits 2jj, go to chunks 2l (values 8l..8l+3) and 2l + 1 of half h.

#include "tensor/interleave_iq1.h"

#include <array>
#include <cstring>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quant_iq_grid.h"
#include "util/error.h"

namespace dsinfer {
namespace {

constexpr size_t kPlainBlock = 50, kR8Block = 8 * 70, kCodes = 16, kQs = 48;
constexpr int kPoints = 2048, kKeys = 6561;  // 3^8 value patterns

// Lattice point i's 8 values + 1 (0..2), one per byte.
const std::array<uint64_t, kPoints>& points_plus_one() {
  static const auto table = [] {
    std::array<uint64_t, kPoints> t{};
    for (int i = 0; i < kPoints; ++i)
      for (int j = 0; j < 8; ++j) t[i] |= static_cast<uint64_t>(kIQ1SGrid[i][j] + 1) << (8 * j);
    return t;
  }();
  return table;
}

// The base-3 number of 8 values + 1 -> the lattice point's index, or -1 (no point).
const std::vector<int16_t>& index_of_values() {
  static const auto table = [] {
    std::vector<int16_t> t(kKeys, -1);
    for (int i = 0; i < kPoints; ++i) {
      int key = 0;
      for (int j = 7; j >= 0; --j) key = 3 * key + kIQ1SGrid[i][j] + 1;
      t[static_cast<size_t>(key)] = static_cast<int16_t>(i);
    }
    return t;
  }();
  return table;
}

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void or32(uint8_t* p, uint32_t v) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  x |= v;
  std::memcpy(p, &x, 4);
}

}  // namespace

void interleave_iq1_s(const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  const auto& points = points_plus_one();
  const size_t in_row = dtype_row_bytes(DType::IQ1_S, cols), out_row = dtype_row_bytes(DType::IQ1_S_R8, cols);
  for (int64_t r0 = 0; r0 < n_rows; r0 += 8)
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      uint8_t* out = dst + r0 * out_row + sb * kR8Block;
      std::memset(out + kCodes, 0, kR8Block - kCodes);
      for (int i = 0; i < 8; ++i) {
        const uint8_t* in = src + (r0 + i) * in_row + sb * kPlainBlock;
        std::memcpy(out + 2 * i, in, 2);
        for (int j = 0; j < 8; ++j) {
          const uint16_t qh = u16_at(in + 34 + 2 * j);
          out[kCodes + 4 * j + i / 2] = static_cast<uint8_t>(out[kCodes + 4 * j + i / 2] | (qh >> 12) << (4 * (i % 2)));
          uint8_t* half = out + kQs + 256 * (j / 4) + 4 * i;  // chunk c of the row at half + 32 c
          for (int l = 0; l < 4; ++l) {
            const uint64_t v = points[in[2 + 4 * j + l] | ((qh >> (3 * l)) & 7) << 8] << (2 * (j % 4));
            or32(half + 32 * (2 * l), static_cast<uint32_t>(v));
            or32(half + 32 * (2 * l + 1), static_cast<uint32_t>(v >> 32));
          }
        }
      }
    }
}

void deinterleave_iq1_s_row(const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  const auto& index = index_of_values();
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * kR8Block;
    uint8_t* out = dst + sb * kPlainBlock;
    std::memcpy(out, blk + 2 * lane, 2);
    for (int j = 0; j < 8; ++j) {
      uint16_t qh = static_cast<uint16_t>(((blk[kCodes + 4 * j + lane / 2] >> (4 * (lane % 2))) & 15) << 12);
      const uint8_t* half = blk + kQs + 256 * (j / 4) + 4 * lane;
      for (int l = 0; l < 4; ++l) {
        int key = 0;
        bool valid = true;
        for (int v = 7; v >= 0; --v) {  // value 8l + v: chunk 2l + v / 4, byte v % 4
          const int g = (half[32 * (2 * l + v / 4) + v % 4] >> (2 * (j % 4))) & 3;
          valid = valid && g < 3;
          key = 3 * key + g;
        }
        const int idx = valid ? index[static_cast<size_t>(key)] : -1;
        if (idx < 0) fail("IQ1_S_R8: values that are no IQ1_S lattice point (block ", sb * 8 + j, ")");
        out[2 + 4 * j + l] = static_cast<uint8_t>(idx & 255);
        qh = static_cast<uint16_t>(qh | (idx >> 8) << (3 * l));
      }
      std::memcpy(out + 34 + 2 * j, &qh, 2);
    }
  }
}

}  // namespace dsinfer
