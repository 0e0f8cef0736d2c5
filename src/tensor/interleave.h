#pragma once
// Row-interleaved ("R8") layouts of the GGML block types: dsinfer's repacking of GGUF weights for the
// integer kernels, at load (model/repack.h) or once into a file (`dsinfer repack`, model/repack_file.h; GGUF
// type ids from kDsinferGgmlTypeBase). Eight consecutive rows become one row group; for each block
// column b (32 values) the group holds one 8-row block:
//
//   Q4_0_R8 block (144 bytes = 8 x 18):  f16 d[8 rows] | 4 chunks c = 0..3 of [8 rows][4 bytes]
//       chunk c, row i = bytes 4c..4c+3 of row i's Q4_0 qs, i.e. values 4c..4c+3 in the low nibbles and
//       values 16+4c..16+4c+3 in the high nibbles
//   Q8_0_R8 block (272 bytes = 8 x 34):  f16 d[8 rows] | 8 chunks c = 0..7 of [8 rows][4 int8]
//       chunk c, row i = values 4c..4c+3 of row i
//
//   Q4_K_R8 block (1184 bytes = 8 x 148, one 256-value super-block of 8 rows):
//       f16 d[8] | f16 dmin[8] | u8 scale[8 groups][8 rows] | u8 min[8 groups][8 rows] (the 6-bit values
//       unpacked) | 4 pairs p of 8 chunks c of [8 rows][4 bytes] = bytes 32p+4c..+3 of each row's qs, i.e.
//       values 4c..4c+3 of group 2p in the low nibbles and of group 2p+1 in the high nibbles
//   Q5_K_R8 block (1440 bytes = 8 x 180): as Q4_K_R8, with the fifth bits between the mins and the nibbles:
//       8 chunks c of [8 rows][4 bytes] = bytes 4c..4c+3 of each row's qh (bit g = group g's value)
//   Q5_0_R8 block (176 bytes = 8 x 22):  f16 d[8 rows] | 4 nibble chunks as Q4_0_R8's | 32 bytes of 5th
//       bits: byte 4i+j, bit k = the 5th bit of value 4k+j of row i (k = 0..7: chunk k of the block)
//   Q5_1_R8 block (192 bytes = 8 x 24):  f16 d[8 rows] | f16 m[8 rows] | nibbles and 5th bits as Q5_0_R8
//       (x = d q + m, q = 0..31); both keep the file's bytes per value: repacking them costs no memory
//   Q6_K_R8 block (1680 bytes = 8 x 210): f16 d[8] | i8 scale[16][8 rows] | ql: [half h][q1][chunk c]
//       [8 rows][4 bytes] = ql bytes 64h+32q1+4c..+3 | qh: [half h][chunk c][8 rows][4 bytes] = qh bytes
//       32h+4c..+3 (the Q6_K bit planes of values 4c..4c+3 of the half's quarters, as in the file)
//   Q2_K_R8 block (672 bytes = 8 x 84): f16 d[8] | f16 dmin[8] | u8 scale-and-min[16 groups][8 rows] (the file's
//       bytes: scale | min << 4) | qs: [half h][chunk c][8 rows][4 bytes] = qs bytes 32h+4c..+3, i.e. values
//       4c..4c+3 of the half's four 32-value quarters j at bits 2j, 2j+1
//   Q3_K_R8 block (912 bytes = 8 x 114): f16 d[8] | i8 (scale - 32)[16 groups][8 rows] (the 6-bit scales
//       unpacked) | qs as Q2_K_R8's | hmask: [chunk c][8 rows][4 bytes] = hmask bytes 4c..4c+3 (bit j = the
//       high bit of value 32j + 4c + byte)
//   Q2_K_R8 only moves bytes: a repacked row keeps its size; Q3_K_R8 has 4 more per super-block
//   IQ4_NL_R8 block (144 bytes = 8 x 18): as Q4_0_R8's (the nibbles are indexes into kIQ4NLValues)
//   IQ4_XS_R8 block (1104 bytes = 8 x 138): f16 d[8] | i8 (scale - 32)[8 groups][8 rows] (the 6-bit scales
//       unpacked) | per group g 4 chunks c of [8 rows][4 bytes] = bytes 16g+4c..+3 of each row's qs, i.e.
//       values 4c..4c+3 of group g in the low nibbles and 16+4c..16+4c+3 in the high: Q4_0_R8's chunks
//   IQ1_S_R8 block (560 bytes = 8 x 70): f16 d[8] | u8 code[8 blocks j][4 bytes]: byte 4j + k holds rows 2k (low
//       nibble) and 2k + 1 (high) of block j's scale s (bits 0..2) and delta sign (bit 3: delta -1/8), the
//       file's qh bits 12..15 | qs as Q2_K_R8's, holding each value's lattice point + 1 (0..2) instead of a
//       grid index: x = d (2 s + 1) (g - 1 +- 1/8). Lossless (every IQ1_S row comes back byte for byte); the
//       kernels read it without table lookups, for 40 % more bytes than the file's 50 per super-block
//   IQ1_M_R8 block (624 bytes = 8 x 78): f16 d[8] (IQ1_M's d, gathered from its scale words) | u8 scales[8 blocks
//       j][8 rows] = s0 | s1 << 3 (the 3-bit scales of the block's two halves, the file's 6 bits) | u8
//       minus[8 blocks j][4 bytes]: byte 4j + k holds rows 2k (low nibble) and 2k + 1 (high), bit l = 8-value
//       group l's delta is -1/8 | qs as IQ1_S_R8's: x = d (2 s_half + 1) (g - 1 +- 1/8); 56 -> 78 bytes
//
// so one 32-byte load is 4 consecutive values of 8 rows: an 8-lane integer dot product whose lanes are
// rows, with no horizontal sums. Row group g starts at byte g * 8 * row_bytes (row_bytes of the R8 type:
// Q4_0/Q8_0/Q6_K/Q5_0/Q5_1/Q2_K/IQ4_NL keep theirs, Q4_K_R8 / Q5_K_R8 / Q3_K_R8 / IQ4_XS_R8 / IQ1_S_R8 /
// IQ1_M_R8 have 148 / 180 / 114 / 138 / 70 / 78 per super-block), so views may start only at multiples of 8 rows.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "tensor/dtype.h"

namespace dsinfer {

constexpr int64_t kInterleaveRows = 8;

// Byte offsets inside one IQ1_S_R8 / IQ1_M_R8 super-block of 8 rows (layouts above), shared by the repacker and
// the kernels.
struct IQ1SR8Block {
  static constexpr size_t kBytes = 8 * 70, kCodes = 16, kQs = 48;
};
struct IQ1MR8Block {
  static constexpr size_t kBytes = 8 * 78, kScales = 16, kMinus = 80, kQs = 112;
};

bool is_interleaved(DType t);                  // Q4_0_R8, Q8_0_R8, Q4_K_R8 ... Q3_K_R8, IQ4_NL_R8, IQ4_XS_R8, IQ1_S/M_R8
std::optional<DType> interleaved_of(DType t);  // Q4_0 -> Q4_0_R8, ..., IQ4_NL/XS -> IQ4_NL/XS_R8, IQ1_S/M -> IQ1_S/M_R8
DType plain_of(DType t);                       // the inverse; t itself for other types

// Repacks n_rows (a multiple of 8) rows of `plain` blocks of `cols` values into its R8 layout at dst
// (n_rows * dtype_row_bytes(R8 type, cols) bytes). Throws Error for other dtypes or shapes.
void interleave_rows(DType plain, const uint8_t* src, int64_t n_rows, int64_t cols, uint8_t* dst);

// Row `lane` (0..7) of the R8 row group at `group` (cols values) back in the plain block layout.
void deinterleave_row(DType r8, const uint8_t* group, int64_t cols, int lane, uint8_t* dst);

}  // namespace dsinfer
