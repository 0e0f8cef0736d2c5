#include "tensor/interleave.h"

#include <cstring>

#include "util/error.h"

namespace dsinfer {
namespace {

struct Geometry {
  size_t plain_block;  // bytes of one plain block (f16 d + qs)
  size_t qs_bytes;     // bytes of qs per row and block
};

Geometry geometry(DType plain) {
  if (plain == DType::Q4_0) return {18, 16};
  if (plain == DType::Q8_0) return {34, 32};
  fail("no interleaved layout for ", dtype_name(plain));
}

}  // namespace

bool is_interleaved(DType t) { return t == DType::Q4_0_R8 || t == DType::Q8_0_R8; }

std::optional<DType> interleaved_of(DType t) {
  if (t == DType::Q4_0) return DType::Q4_0_R8;
  if (t == DType::Q8_0) return DType::Q8_0_R8;
  return std::nullopt;
}

DType plain_of(DType t) {
  if (t == DType::Q4_0_R8) return DType::Q4_0;
  if (t == DType::Q8_0_R8) return DType::Q8_0;
  return t;
}

void interleave_rows(DType plain, const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst) {
  const Geometry g = geometry(plain);
  if (n_rows % kInterleaveRows != 0) fail("interleave: ", n_rows, " rows is not a multiple of ", kInterleaveRows);
  const size_t row_bytes = dtype_row_bytes(plain, cols);
  const int64_t nb = cols / 32;
  const size_t r8_block = kInterleaveRows * g.plain_block;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kInterleaveRows) {
    const uint8_t* rows = src + r0 * row_bytes;
    uint8_t* out = dst + r0 * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = out + b * r8_block;
      for (int i = 0; i < kInterleaveRows; ++i) {
        const uint8_t* in = rows + i * row_bytes + b * g.plain_block;
        std::memcpy(blk + 2 * i, in, 2);
        for (size_t c = 0; c < g.qs_bytes / 4; ++c)
          std::memcpy(blk + 16 + c * 32 + 4 * i, in + 2 + 4 * c, 4);
      }
    }
  }
}

void deinterleave_row(DType r8, const uint8_t* group, int64_t cols, int lane, uint8_t* dst) {
  const Geometry g = geometry(plain_of(r8));
  const int64_t nb = cols / 32;
  const size_t r8_block = kInterleaveRows * g.plain_block;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * r8_block;
    uint8_t* out = dst + b * g.plain_block;
    std::memcpy(out, blk + 2 * lane, 2);
    for (size_t c = 0; c < g.qs_bytes / 4; ++c) std::memcpy(out + 2 + 4 * c, blk + 16 + c * 32 + 4 * lane, 4);
  }
}

}  // namespace dsinfer
