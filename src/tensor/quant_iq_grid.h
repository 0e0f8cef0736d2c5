#pragma once
// llama.cpp's grid i-quants, the types of unsloth's "dynamic" low-bit DeepSeek files: each 8 (IQ3: 4) weights
// are one index into a fixed table of lattice points (tools/reference/make_iq_grids.py -> iq_grids.inc), with
// signs, 3- or 4-bit group scales and one f16 d per super-block of 256. Layouts (ggml-common.h block_iq*):
//   IQ2_XXS (66 B):  f16 d; per group of 32, 8 bytes: 4 grid indexes (u8, kIQ2XXSGrid), then a u32 of
//                    4 x 7-bit sign codes (one per 8 values) and the 4-bit scale in bits 28..31
//   IQ2_XS  (74 B):  f16 d; u16 qs[32] (9-bit kIQ2XSGrid index | 7-bit sign code << 9, 4 per group);
//                    scales[8] (group g: low nibble for elements 0..15, high nibble for 16..31)
//   IQ2_S   (82 B):  f16 d; idx[32] (low 8 bits, 4 per group); signs[32] (one byte per 8 values);
//                    qh[8] (group g: 2 high index bits per 8 values); scales[8] as IQ2_XS's (kIQ2SGrid)
//   IQ3_XXS (98 B):  f16 d; idx[64] (8 per group, 4 values each, kIQ3XXSGrid); u32 per group as IQ2_XXS's
//   IQ3_S   (110 B): f16 d; idx[64] (8 per group, kIQ3SGrid); qh[8] (group g: the 9th index bit of its
//                    8 indexes); signs[32] (one byte per 8 values); scales[4] (nibble per group)
//   IQ1_S   (50 B):  f16 d; idx[32] (low 8 bits, 4 per group, kIQ1SGrid); u16 qh[8] (group g: 3 high bits per
//                    index, 3-bit scale in bits 12..14, delta sign in bit 15)
//   IQ1_M   (56 B):  idx[32]; qh[16] (per 8 values a nibble: 3 high index bits | delta sign << 3);
//                    u16 sc[4]: 3-bit scales per 16 values (4 per u16) and d's 16 bits in the top nibbles
// A sign code c (0..127) stands for the byte c | parity(c) << 7 (ggml's ksigns_iq2xs: an even number of
// minus signs per 8 values); bit j set = value j negative.
//
// The integer form every decoder gives: element i of group g is  step * d * (2 s + 1) * w[i]  with s the
// scale code of its 16-value half, w the signed grid value (IQ1: 8 * grid value +- 1, the +-1/8 delta scaled
// by 8) and step = 1/8 (IQ2, IQ1), 1/4 (IQ3_XXS) or 1 (IQ3_S). Products stay small: |w| <= 62.

#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"
#include "tensor/half.h"

namespace dsinfer {

extern const uint8_t kIQ2XXSGrid[256][8];
extern const uint8_t kIQ2XSGrid[512][8];
extern const uint8_t kIQ2SGrid[1024][8];
extern const uint8_t kIQ3XXSGrid[256][4];
extern const uint8_t kIQ3SGrid[512][4];
extern const int8_t kIQ1SGrid[2048][8];

bool dtype_is_iq_grid(DType t);  // IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M

// dst = n / 256 blocks of random codes (every bit pattern of these formats is valid) whose d makes each
// block's root mean square about `rms`: the weights of random-weight test models and benchmarks in these
// types, which dsinfer cannot quantize to. Deterministic in seed.
void iq_grid_random_row(DType t, float rms, uint64_t seed, uint8_t* dst, int64_t n);

// The sign byte of 7-bit code c: bit j = value j negative, bit 7 makes the count even.
inline constexpr uint8_t iq_sign_byte(uint32_t c) {
  c &= 127;
  uint32_t p = c ^ (c >> 4);
  p ^= p >> 2;
  p ^= p >> 1;
  return static_cast<uint8_t>(c | ((p & 1) << 7));
}

namespace iq_detail {

inline uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
// w[0..8) = +-grid values under sign byte `sign`.
template <class G>
inline void signed8(const G* grid, uint32_t sign, int8_t* w) {
  for (int j = 0; j < 8; ++j) w[j] = static_cast<int8_t>((sign >> j) & 1 ? -grid[j] : grid[j]);
}
// IQ1: w = 8 * grid value + 1, or - 1 when the delta bit is set.
inline void iq1_8(const int8_t* grid, bool minus, int8_t* w) {
  for (int j = 0; j < 8; ++j) w[j] = static_cast<int8_t>(8 * grid[j] + (minus ? -1 : 1));
}

}  // namespace iq_detail

// The block's f16 d as a float.
template <DType T>
inline float iq_grid_d(const uint8_t* blk) {
  using iq_detail::u16_at;
  if constexpr (T == DType::IQ1_M) {
    const uint16_t h = static_cast<uint16_t>((u16_at(blk + 48) >> 12) | ((u16_at(blk + 50) >> 8) & 0x00f0) |
                                             ((u16_at(blk + 52) >> 4) & 0x0f00) | (u16_at(blk + 54) & 0xf000));
    return f16_to_f32(h);
  } else {
    return f16_to_f32(u16_at(blk));
  }
}

// Group g (elements 32g .. 32g+31) of a block: w[32] the signed integer values, s[2] the scale codes of the
// two 16-value halves (see the header comment for what they mean).
template <DType T>
inline void iq_grid_group(const uint8_t* blk, int g, int8_t* w, int* s) {
  using namespace iq_detail;
  if constexpr (T == DType::IQ2_XXS || T == DType::IQ3_XXS) {
    constexpr bool k3 = T == DType::IQ3_XXS;
    const uint8_t* idx = blk + 2 + 8 * g;
    const uint32_t aux = u32_at(k3 ? blk + 2 + 64 + 4 * g : blk + 2 + 8 * g + 4);
    s[0] = s[1] = static_cast<int>(aux >> 28);
    for (int l = 0; l < 4; ++l) {
      const uint8_t sign = iq_sign_byte(aux >> (7 * l));
      if constexpr (k3) {
        uint8_t grid[8];
        std::memcpy(grid, kIQ3XXSGrid[idx[2 * l]], 4);
        std::memcpy(grid + 4, kIQ3XXSGrid[idx[2 * l + 1]], 4);
        signed8(grid, sign, w + 8 * l);
      } else {
        signed8(kIQ2XXSGrid[idx[l]], sign, w + 8 * l);
      }
    }
  } else if constexpr (T == DType::IQ2_XS) {
    const uint8_t sc = blk[66 + g];
    s[0] = sc & 15;
    s[1] = sc >> 4;
    for (int l = 0; l < 4; ++l) {
      const uint16_t q = u16_at(blk + 2 + 8 * g + 2 * l);
      signed8(kIQ2XSGrid[q & 511], iq_sign_byte(q >> 9), w + 8 * l);
    }
  } else if constexpr (T == DType::IQ2_S) {
    const uint8_t sc = blk[74 + g], qh = blk[66 + g];
    s[0] = sc & 15;
    s[1] = sc >> 4;
    for (int l = 0; l < 4; ++l)
      signed8(kIQ2SGrid[blk[2 + 4 * g + l] | ((qh >> (2 * l)) & 3) << 8], blk[34 + 4 * g + l], w + 8 * l);
  } else if constexpr (T == DType::IQ3_S) {
    const uint8_t qh = blk[66 + g];
    s[0] = s[1] = (blk[106 + g / 2] >> (4 * (g % 2))) & 15;
    for (int l = 0; l < 4; ++l) {
      uint8_t grid[8];
      std::memcpy(grid, kIQ3SGrid[blk[2 + 8 * g + 2 * l] | ((qh >> (2 * l)) & 1) << 8], 4);
      std::memcpy(grid + 4, kIQ3SGrid[blk[2 + 8 * g + 2 * l + 1] | ((qh >> (2 * l + 1)) & 1) << 8], 4);
      signed8(grid, blk[74 + 4 * g + l], w + 8 * l);
    }
  } else if constexpr (T == DType::IQ1_S) {
    const uint16_t qh = u16_at(blk + 34 + 2 * g);
    s[0] = s[1] = (qh >> 12) & 7;
    for (int l = 0; l < 4; ++l)
      iq1_8(kIQ1SGrid[blk[2 + 4 * g + l] | ((qh >> (3 * l)) & 7) << 8], qh & 0x8000, w + 8 * l);
  } else {
    static_assert(T == DType::IQ1_M, "not a grid i-quant");
    const uint16_t sc = u16_at(blk + 48 + 2 * (g / 2));
    s[0] = (sc >> (6 * (g % 2))) & 7;
    s[1] = (sc >> (6 * (g % 2) + 3)) & 7;
    for (int l = 0; l < 4; ++l) {
      const int nib = (blk[32 + 2 * g + l / 2] >> (4 * (l % 2))) & 15;
      iq1_8(kIQ1SGrid[blk[4 * g + l] | (nib & 7) << 8], nib & 8, w + 8 * l);
    }
  }
}

// step = 1 / kIQGridStepInv<T>: 8 (IQ2, IQ1), 4 (IQ3_XXS), 1 (IQ3_S).
template <DType T>
inline constexpr int kIQGridStepInv = T == DType::IQ3_S ? 1 : T == DType::IQ3_XXS ? 4 : 8;

}  // namespace dsinfer
