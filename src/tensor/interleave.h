#pragma once
// Row-interleaved ("R8") layouts of Q4_0 and Q8_0: dsinfer's in-memory repacking of GGUF weights for the
// integer kernels, never stored in files. Eight consecutive rows become one row group; for each block
// column b (32 values) the group holds one 8-row block:
//
//   Q4_0_R8 block (144 bytes = 8 x 18):  f16 d[8 rows] | 4 chunks c = 0..3 of [8 rows][4 bytes]
//       chunk c, row i = bytes 4c..4c+3 of row i's Q4_0 qs, i.e. values 4c..4c+3 in the low nibbles and
//       values 16+4c..16+4c+3 in the high nibbles
//   Q8_0_R8 block (272 bytes = 8 x 34):  f16 d[8 rows] | 8 chunks c = 0..7 of [8 rows][4 int8]
//       chunk c, row i = values 4c..4c+3 of row i
//
// so one 32-byte load is 4 consecutive values of 8 rows: an 8-lane integer dot product whose lanes are
// rows, with no horizontal sums. Row group g starts at byte g * 8 * row_bytes, as row 8g of the plain
// layout does (row_bytes is unchanged), so views may start only at multiples of 8 rows.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "tensor/dtype.h"

namespace dsinfer {

constexpr int64_t kInterleaveRows = 8;

bool is_interleaved(DType t);                    // Q4_0_R8, Q8_0_R8
std::optional<DType> interleaved_of(DType t);    // Q4_0 -> Q4_0_R8, Q8_0 -> Q8_0_R8, else nullopt
DType plain_of(DType t);                         // Q4_0_R8 -> Q4_0, Q8_0_R8 -> Q8_0, else t

// Repacks n_rows (a multiple of 8) rows of `plain` blocks of `cols` values into its R8 layout at dst
// (the same number of bytes). Throws Error for other dtypes or shapes.
void interleave_rows(DType plain, const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst);

// Row `lane` (0..7) of the R8 row group at `group` (cols values) back in the plain block layout.
void deinterleave_row(DType r8, const uint8_t* group, int64_t cols, int lane, uint8_t* dst);

}  // namespace dsinfer
