#pragma once
// Byte layouts of the GGML block formats, field for field as ggml-common.h declares them (block_q8_0,
// block_q4_0, block_q5_0, block_q5_1, block_q2_K, block_q3_K, block_q4_K, block_q5_K, block_q6_K, block_iq4_nl,
// block_iq4_xs), and the
// per-format reference routines that quant_blocks.cpp dispatches to. Internal to src/tensor/: other layers go through quant.h.
//
// Blocks are copied in and out of these structs with memcpy, so callers may pass any byte address
// (GGUF tensor data is only guaranteed 32-byte aligned for the file as a whole, and rows of odd-sized
// blocks such as Q6_K's 210 bytes fall on any 2-byte boundary).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"
#include "tensor/half.h"
#include "tensor/quant.h"  // q3_k_scale, iq4_xs_scale

namespace dsinfer::quant_detail {

struct BlockQ8_0 {  // 32 values
  uint16_t d;       // f16 scale
  int8_t qs[32];    // x = d * q
};
struct BlockQ4_0 {  // 32 values
  uint16_t d;       // f16 scale
  uint8_t qs[16];   // low nibble of byte j = element j, high nibble = element j + 16; x = d * (q - 8)
};
struct BlockQ5_0 {  // 32 values
  uint16_t d;       // f16 scale
  uint8_t qh[4];    // bit j (little-endian u32) = 5th bit of element j
  uint8_t qs[16];   // as Q4_0's nibbles; q = nibble | 5th bit << 4, x = d * (q - 16)
};
struct BlockQ5_1 {  // 32 values
  uint16_t d;       // f16 scale
  uint16_t m;       // f16 offset (the block's minimum): x = d * q + m
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ4_K {     // 256 values = 8 groups of 32
  uint16_t d;          // f16 scale of the 6-bit group scales
  uint16_t dmin;       // f16 scale of the 6-bit group mins
  uint8_t scales[12];  // 8 scales + 8 mins, 6 bits each (see pack_scales_mins_k4 in quant_k.cpp)
  uint8_t qs[128];     // per 64 values: 32 bytes, low nibbles = first 32, high nibbles = next 32
};
struct BlockQ5_K {  // 256 values, as Q4_K plus a 5th bit per value
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];  // bit 2p of byte l = 5th bit of value 64p + l, bit 2p+1 = of value 64p + 32 + l
  uint8_t qs[128];
};
struct BlockQ6_K {    // 256 values = 16 groups of 16
  uint8_t ql[128];    // low 4 bits
  uint8_t qh[64];     // high 2 bits
  int8_t scales[16];  // 8-bit group scales
  uint16_t d;         // f16 super-block scale; x = d * scale_g * (q - 32)
};

struct BlockQ2_K {     // 256 values = 16 groups of 16
  uint8_t scales[16];  // group g: low nibble = scale, high nibble = min
  uint8_t qs[64];      // value 128h + 32j + l: bits 2j, 2j+1 of byte 32h + l
  uint16_t d;          // f16 scale of the 4-bit scales
  uint16_t dmin;       // f16 scale of the 4-bit mins; x = d * sc_g * q - dmin * m_g
};
struct BlockQ3_K {     // 256 values = 16 groups of 16
  uint8_t hmask[32];   // value v: bit v / 32 of byte v % 32 = its high (third) bit
  uint8_t qs[64];      // low 2 bits, placed as Q2_K's
  uint8_t scales[12];  // 16 six-bit scales (q3_k_scale in quant.h)
  uint16_t d;          // f16; x = d * (sc_g - 32) * (q - 4), q = low bits | high bit << 2
};

struct BlockIQ4_NL {  // 32 values
  uint16_t d;         // f16 scale
  uint8_t qs[16];     // as Q4_0's nibbles, indexes into kIQ4NLValues (quant.h): x = d * kIQ4NLValues[q]
};
struct BlockIQ4_XS {    // 256 values = 8 groups of 32
  uint16_t d;           // f16 scale of the 6-bit group scales
  uint16_t scales_h;    // bits 2g, 2g+1: top 2 bits of group g's scale
  uint8_t scales_l[4];  // group g's low 4 bits: the low nibble of byte g / 2 for even g, the high for odd
  uint8_t qs[128];      // per group 16 bytes, as IQ4_NL's; x = d * (scale_g - 32) * kIQ4NLValues[q]
};

static_assert(sizeof(BlockQ8_0) == 34 && offsetof(BlockQ8_0, qs) == 2);
static_assert(sizeof(BlockQ4_0) == 18 && offsetof(BlockQ4_0, qs) == 2);
static_assert(sizeof(BlockQ5_0) == 22 && offsetof(BlockQ5_0, qh) == 2 && offsetof(BlockQ5_0, qs) == 6);
static_assert(sizeof(BlockQ5_1) == 24 && offsetof(BlockQ5_1, qh) == 4 && offsetof(BlockQ5_1, qs) == 8);
static_assert(sizeof(BlockQ4_K) == 144 && offsetof(BlockQ4_K, scales) == 4 && offsetof(BlockQ4_K, qs) == 16);
static_assert(sizeof(BlockQ5_K) == 176 && offsetof(BlockQ5_K, qh) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(sizeof(BlockQ6_K) == 210 && offsetof(BlockQ6_K, qh) == 128 &&
              offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);

static_assert(sizeof(BlockQ2_K) == 84 && offsetof(BlockQ2_K, qs) == 16 && offsetof(BlockQ2_K, d) == 80);
static_assert(sizeof(BlockIQ4_NL) == 18 && offsetof(BlockIQ4_NL, qs) == 2);
static_assert(sizeof(BlockIQ4_XS) == 136 && offsetof(BlockIQ4_XS, scales_l) == 4 && offsetof(BlockIQ4_XS, qs) == 8);
static_assert(sizeof(BlockQ3_K) == 110 && offsetof(BlockQ3_K, qs) == 32 && offsetof(BlockQ3_K, scales) == 96 &&
              offsetof(BlockQ3_K, d) == 108);

template <class Block>
inline Block load_block(const uint8_t* src, int64_t i) {
  Block b;
  std::memcpy(&b, src + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
  return b;
}
template <class Block>
inline void store_block(uint8_t* dst, int64_t i, const Block& b) {
  std::memcpy(dst + i * static_cast<int64_t>(sizeof(Block)), &b, sizeof(Block));
}

// Round to nearest, ties to even, the way ggml's nearest_int does: adding 1.5 * 2^23 leaves no room
// for fraction bits in the mantissa, so the float adder does the rounding, and the integer is read
// back from the low mantissa bits. Valid for |v| < 2^22. Done with the same trick (not lrintf) so that
// degenerate inputs (NaN, overflow) give the same bytes as llama.cpp instead of undefined behaviour.
inline int nearest_int(float v) {
  const float shifted = v + 12582912.0f;
  return static_cast<int>(f32_bits(shifted) & 0x007fffffu) - 0x00400000;
}

// The value of largest magnitude among x[0..n) (the first of equals; 0 when all are 0 or NaN) and that
// magnitude in *amax: the anchor of ggml's symmetric fits (make_qx_quants, make_q3_quants).
inline float largest_magnitude(const float* x, int n, float* amax) {
  float max = 0;
  *amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > *amax) {
      *amax = ax;
      max = x[i];
    }
  }
  return max;
}

// One routine per format; n_blocks whole blocks. Sizes were checked by the caller.
void q8_0_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q8_0_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q4_0_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q4_0_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q5_0_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q5_0_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q5_1_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q5_1_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q4_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q4_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q5_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q5_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q6_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q6_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q2_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q2_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void q3_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void q3_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void iq4_nl_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void iq4_nl_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
void iq4_xs_dequantize(const uint8_t* src, float* dst, int64_t n_blocks);
void iq4_xs_quantize(const float* src, uint8_t* dst, int64_t n_blocks);
// IQ2_XXS .. IQ1_M (quant_iq_grid.cpp); no quantizers.
void iq_grid_dequantize(DType t, const uint8_t* src, float* dst, int64_t n_blocks);

}  // namespace dsinfer::quant_detail
