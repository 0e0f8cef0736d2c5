#pragma once
// Reference (scalar) quantize/dequantize for every dtype, one row at a time. The GGML block layouts
// match ggml-common.h exactly so GGUF files written by llama.cpp are read in place:
//   Q8_0 (34 B / 32):  f16 d; int8 qs[32];                      x = d * q
//   Q4_0 (18 B / 32):  f16 d; uint8 qs[16];                     x = d * (q - 8); byte j = elems j | j+16<<4
//   Q5_0 (22 B / 32):  f16 d; u32 qh; uint8 qs[16]             x = d * (q - 16), q = nibble | qh bit << 4
//   Q5_1 (24 B / 32):  f16 d, m; u32 qh; uint8 qs[16]          x = d * q + m
//   Q4_K (144 B / 256): f16 d, dmin; uint8 scales[12]; qs[128]  x = d*sc_j*q - dmin*m_j (8 groups of 32)
//   Q5_K (176 B / 256): as Q4_K plus qh[32] (5th bit)
//   Q6_K (210 B / 256): ql[128]; qh[64]; int8 scales[16]; f16 d  x = d*sc_j*(q - 32) (16 groups of 16)
//   Q2_K (84 B / 256):  uint8 scales[16] (4-bit scale | 4-bit min << 4); qs[64]; f16 d, dmin
//                       x = d*sc_j*q - dmin*m_j, q in 0..3 (16 groups of 16)
//   Q3_K (110 B / 256): hmask[32]; qs[64]; 6-bit scales[12]; f16 d  x = d*(sc_j - 32)*(q - 4), q in 0..7 = 2 low
//                       bits | high bit << 2 (16 groups of 16)
//   IQ4_NL (18 B / 32): f16 d; uint8 qs[16] (as Q4_0's)          x = d * kIQ4NLValues[q]
//   IQ4_XS (136 B / 256): f16 d; u16 scales_h; scales_l[4]; qs[128]  x = d*(sc_j - 32)*kIQ4NLValues[q], 6-bit sc_j
//                       (8 groups of 32, nibbles as IQ4_NL's per group)
// F8_E4M3 rows dequantize to the raw e4m3 values; block scales are applied by dequantize_rows().

#include <cstdint>

#include "tensor/dtype.h"

namespace dsinfer {

// The 16 values a 4-bit index of IQ4_NL / IQ4_XS stands for (ggml-common.h kvalues_iq4nl): a fixed
// non-uniform grid, denser near zero where most weights are.
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Group g's factor (6-bit scale - 32, -32..31) of a Q3_K block's 12 scale bytes s: its low 4 bits are in byte
// g % 8 (the low nibble for g < 8) and its top 2 bits at bit 2 (g / 4) of byte 8 + g % 4.
inline int q3_k_scale(const uint8_t* s, int g) {
  const int low = g < 8 ? (s[g] & 0x0f) : (s[g - 8] >> 4);
  return (low | (((s[8 + g % 4] >> (2 * (g / 4))) & 3) << 4)) - 32;
}

// Group g's factor (6-bit scale - 32) of the IQ4_XS block at blk: low 4 bits in scales_l (byte 4 + g / 2,
// nibble g % 2), top 2 bits at bit 2g of scales_h (bytes 2-3, little-endian).
inline int iq4_xs_scale(const uint8_t* blk, int g) {
  const int high = ((blk[2] | (blk[3] << 8)) >> (2 * g)) & 3;
  return (((blk[4 + g / 2] >> (4 * (g % 2))) & 0x0f) | (high << 4)) - 32;
}

// dst[n] = values of the n elements at src (n a multiple of the block size).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// Writes dtype_row_bytes(t, n) bytes at dst encoding src[n], with llama.cpp's reference quantizers
// (quantize_row_*_ref). Not defined for F8_E4M3 (block scales need the whole matrix: see fp8.h).
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace dsinfer
