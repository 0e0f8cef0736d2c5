// IQ1_S (50-byte blocks: f16 d | idx[32] | u16 qh[8]) and IQ1_M (56: idx[32] | qh[16] | u16 scales[4]) <->
// IQ1_S_R8 / IQ1_M_R8 (8 rows: f16 d[8] | scale and delta-sign codes | qs [half][chunk][8 rows][4 bytes] of
// 2-bit points + 1), see tensor/interleave.h. Group l (values 8l..8l+7) of block j = 4h + jj of a row is one
// lattice point: its 8 values + 1, bytes of a u64 shifted to bits 2jj, go to chunks 2l (values 8l..8l+3)
// and 2l + 1 of half h.

#include "tensor/interleave_iq1.h"

#include <array>
#include <cstring>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/interleave.h"
#include "tensor/quant_iq_grid.h"
#include "util/error.h"

namespace dsinfer {
namespace {

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

// The qs of row `lane` of block j in the R8 block at qs: chunk c of the row at row_qs(...) + 32 c.
uint8_t* row_qs(uint8_t* qs, int j, int lane) { return qs + 256 * (j / 4) + 4 * lane; }
const uint8_t* row_qs(const uint8_t* qs, int j, int lane) { return qs + 256 * (j / 4) + 4 * lane; }

// Lattice point `idx` as group l of block j (qs zeroed before).
void put_point(uint8_t* row, int j, int l, int idx) {
  const uint64_t v = points_plus_one()[static_cast<size_t>(idx)] << (2 * (j % 4));
  or32(row + 32 * (2 * l), static_cast<uint32_t>(v));
  or32(row + 32 * (2 * l + 1), static_cast<uint32_t>(v >> 32));
}

// The lattice point of group l of block j; fails on values that are none (only bytes no repacking made).
int get_point(const uint8_t* row, int j, int l) {
  int key = 0;
  bool valid = true;
  for (int v = 7; v >= 0; --v) {  // value 8l + v: chunk 2l + v / 4, byte v % 4
    const int g = (row[32 * (2 * l + v / 4) + v % 4] >> (2 * (j % 4))) & 3;
    valid = valid && g < 3;
    key = 3 * key + g;
  }
  const int idx = valid ? index_of_values()[static_cast<size_t>(key)] : -1;
  if (idx < 0) fail("IQ1 R8 layout: values that are no IQ1_S lattice point (block ", j, " of a super-block)");
  return idx;
}

// The nibble of row `lane` in 4 bytes holding 8 rows' nibbles; and setting it (bytes zeroed before).
int nibble(const uint8_t* p, int lane) { return (p[lane / 2] >> (4 * (lane % 2))) & 15; }
void put_nibble(uint8_t* p, int lane, int v) {
  p[lane / 2] = static_cast<uint8_t>(p[lane / 2] | (v & 15) << (4 * (lane % 2)));
}

// IQ1_M's f16 d, spread over the top nibbles of its 4 scale words, and back.
uint16_t iq1_m_d(const uint8_t* scales) {
  uint16_t h = 0;
  for (int w = 0; w < 4; ++w) h = static_cast<uint16_t>(h | (u16_at(scales + 2 * w) >> 12) << (4 * w));
  return h;
}

}  // namespace

void interleave_iq1_s(const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  constexpr size_t kPlain = 50, kR8 = IQ1SR8Block::kBytes, kCodes = IQ1SR8Block::kCodes, kQs = IQ1SR8Block::kQs;
  const size_t in_row = dtype_row_bytes(DType::IQ1_S, cols), out_row = dtype_row_bytes(DType::IQ1_S_R8, cols);
  for (int64_t r0 = 0; r0 < n_rows; r0 += 8)
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      uint8_t* out = dst + r0 * out_row + sb * kR8;
      std::memset(out + kCodes, 0, kR8 - kCodes);
      for (int i = 0; i < 8; ++i) {
        const uint8_t* in = src + (r0 + i) * in_row + sb * kPlain;
        std::memcpy(out + 2 * i, in, 2);
        for (int j = 0; j < 8; ++j) {
          const uint16_t qh = u16_at(in + 34 + 2 * j);
          put_nibble(out + kCodes + 4 * j, i, qh >> 12);
          for (int l = 0; l < 4; ++l) put_point(row_qs(out + kQs, j, i), j, l, in[2 + 4 * j + l] | ((qh >> (3 * l)) & 7) << 8);
        }
      }
    }
}

void deinterleave_iq1_s_row(const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  constexpr size_t kPlain = 50, kR8 = IQ1SR8Block::kBytes, kCodes = IQ1SR8Block::kCodes, kQs = IQ1SR8Block::kQs;
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * kR8;
    uint8_t* out = dst + sb * kPlain;
    std::memcpy(out, blk + 2 * lane, 2);
    for (int j = 0; j < 8; ++j) {
      uint16_t qh = static_cast<uint16_t>(nibble(blk + kCodes + 4 * j, lane) << 12);
      for (int l = 0; l < 4; ++l) {
        const int idx = get_point(row_qs(blk + kQs, j, lane), j, l);
        out[2 + 4 * j + l] = static_cast<uint8_t>(idx & 255);
        qh = static_cast<uint16_t>(qh | (idx >> 8) << (3 * l));
      }
      std::memcpy(out + 34 + 2 * j, &qh, 2);
    }
  }
}

void interleave_iq1_m(const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  constexpr size_t kPlain = 56, kR8 = IQ1MR8Block::kBytes, kScales = IQ1MR8Block::kScales, kMinus = IQ1MR8Block::kMinus,
                   kQs = IQ1MR8Block::kQs;
  const size_t in_row = dtype_row_bytes(DType::IQ1_M, cols), out_row = dtype_row_bytes(DType::IQ1_M_R8, cols);
  for (int64_t r0 = 0; r0 < n_rows; r0 += 8)
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      uint8_t* out = dst + r0 * out_row + sb * kR8;
      std::memset(out + kMinus, 0, kR8 - kMinus);
      for (int i = 0; i < 8; ++i) {
        const uint8_t* in = src + (r0 + i) * in_row + sb * kPlain;
        const uint16_t d = iq1_m_d(in + 48);
        std::memcpy(out + 2 * i, &d, 2);
        for (int j = 0; j < 8; ++j) {
          out[kScales + 8 * j + i] = static_cast<uint8_t>((u16_at(in + 48 + 2 * (j / 2)) >> (6 * (j % 2))) & 63);
          int minus = 0;
          for (int l = 0; l < 4; ++l) {
            const int nib = (in[32 + 2 * j + l / 2] >> (4 * (l % 2))) & 15;
            minus |= (nib >> 3) << l;
            put_point(row_qs(out + kQs, j, i), j, l, in[4 * j + l] | (nib & 7) << 8);
          }
          put_nibble(out + kMinus + 4 * j, i, minus);
        }
      }
    }
}

void deinterleave_iq1_m_row(const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  constexpr size_t kPlain = 56, kR8 = IQ1MR8Block::kBytes, kScales = IQ1MR8Block::kScales, kMinus = IQ1MR8Block::kMinus,
                   kQs = IQ1MR8Block::kQs;
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * kR8;
    uint8_t* out = dst + sb * kPlain;
    std::memset(out, 0, kPlain);
    const uint16_t d = u16_at(blk + 2 * lane);
    for (int w = 0; w < 4; ++w) {
      const int lo = blk[kScales + 8 * (2 * w) + lane], hi = blk[kScales + 8 * (2 * w + 1) + lane];
      const uint16_t word = static_cast<uint16_t>(lo | hi << 6 | ((d >> (4 * w)) & 15) << 12);
      std::memcpy(out + 48 + 2 * w, &word, 2);
    }
    for (int j = 0; j < 8; ++j) {
      const int minus = nibble(blk + kMinus + 4 * j, lane);
      for (int l = 0; l < 4; ++l) {
        const int idx = get_point(row_qs(blk + kQs, j, lane), j, l);
        out[4 * j + l] = static_cast<uint8_t>(idx & 255);
        const int nib = (idx >> 8) | ((minus >> l) & 1) << 3;
        out[32 + 2 * j + l / 2] = static_cast<uint8_t>(out[32 + 2 * j + l / 2] | nib << (4 * (l % 2)));
      }
    }
  }
}

}  // namespace dsinfer
