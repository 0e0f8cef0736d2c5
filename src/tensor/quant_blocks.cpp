// Dispatch for the GGML block formats, and the 32-value formats Q8_0, Q4_0, Q5_0 and Q5_1. The K-quants
// (256-value super-blocks) are in quant_k.cpp. Every quantizer reproduces llama.cpp's reference
// quantizer (ggml-quants.c quantize_row_*_ref) operation for operation, so the bytes are identical;
// tests/tensor/quant_fixture_test.cpp checks that against vectors made with llama.cpp and gguf-py.

#include "tensor/quant_blocks.h"

#include <cmath>

#include "tensor/quant_block_layouts.h"
#include "util/error.h"

// Bit-exactness with llama.cpp needs every float operation rounded as written: no fused multiply-add
// contraction, even when the build targets a CPU with FMA (-march=native).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace dsinfer {
namespace quant_detail {

void q8_0_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ8_0>(src, i);
    const float d = f16_to_f32(b.d);
    float* y = dst + i * kQ32;
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
  }
}

// roundf (halves away from zero) for the |v| <= 127.x that Q8_0 produces, without a libm call:
// the truncation and the remainder v - trunc(v) are both exact in float.
static inline int round_half_away(float v) {
  const int t = static_cast<int>(v);
  const float frac = v - static_cast<float>(t);
  return t + (frac >= 0.5f) - (frac <= -0.5f);
}

void q8_0_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQ32;
    float amax = 0.0f;
    // Same comparison shape as ggml's MAX(amax, fabsf(v)) so that NaNs propagate the same way.
    for (int j = 0; j < 32; ++j) {
      const float a = std::fabs(x[j]);
      amax = amax > a ? amax : a;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 b;
    b.d = f32_to_f16(d);
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(round_half_away(x[j] * id));
    store_block(dst, i, b);
  }
}

void q4_0_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ4_0>(src, i);
    const float d = f16_to_f32(b.d);
    float* y = dst + i * kQ32;
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((b.qs[j] & 0x0f) - 8) * d;
      y[j + 16] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
  }
}

// The value of largest magnitude among x[0..32) (the first of equals), with its sign, as ggml finds it.
static inline float largest_magnitude(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// The scale is signed: d = (value of largest magnitude) / -8, so that value maps exactly to q = 0
// (-8 after the offset) and the 16 levels [-8, 7] are used asymmetrically in its favour.
void q4_0_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQ32;
    const float d = largest_magnitude(x) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 b;
    b.d = f32_to_f16(d);
    for (int j = 0; j < 16; ++j) {
      // x*id lies in [-8, 8]; +8.5 then truncation rounds half up, and q = 16 (x*id = 8) is clipped.
      const int q0 = static_cast<int>(x[j] * id + 8.5f);
      const int q1 = static_cast<int>(x[j + 16] * id + 8.5f);
      b.qs[j] = static_cast<uint8_t>((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
    }
    store_block(dst, i, b);
  }
}

// 5th bits: bit j of the little-endian u32 qh belongs to element j (0..31).
static inline uint32_t high_bits(const uint8_t qh[4]) {
  return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 | static_cast<uint32_t>(qh[2]) << 16 |
         static_cast<uint32_t>(qh[3]) << 24;
}
static inline void store_high_bits(uint32_t h, uint8_t qh[4]) {
  for (int k = 0; k < 4; ++k) qh[k] = static_cast<uint8_t>(h >> (8 * k));
}
// Stores the 5-bit values of elements j and j + 16 (j < 16): nibbles in qs[j], 5th bits into h.
static inline void put_q5_pair(uint8_t q0, uint8_t q1, int j, uint8_t qs[16], uint32_t& h) {
  qs[j] = static_cast<uint8_t>((q0 & 0x0f) | (q1 & 0x0f) << 4);
  h |= static_cast<uint32_t>((q0 & 0x10u) >> 4) << j;
  h |= static_cast<uint32_t>((q1 & 0x10u) >> 4) << (j + 16);
}
// The 5-bit value of element j (0..31) of a block's nibbles and high bits.
static inline int q5_value(const uint8_t qs[16], uint32_t h, int j) {
  const int nib = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
  return nib | static_cast<int>((h >> j) & 1u) << 4;
}

void q5_0_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ5_0>(src, i);
    const float d = f16_to_f32(b.d);
    const uint32_t h = high_bits(b.qh);
    for (int j = 0; j < 32; ++j) dst[i * kQ32 + j] = static_cast<float>(q5_value(b.qs, h, j) - 16) * d;
  }
}

// As Q4_0 with 32 levels: d = (value of largest magnitude) / -16.
void q5_0_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQ32;
    const float d = largest_magnitude(x) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_0 b;
    b.d = f32_to_f16(d);
    uint32_t h = 0;
    for (int j = 0; j < 16; ++j) {
      // (int8_t)(x*id + 16.5) then MIN(31, .), as ggml: truncation rounds half up, q = 32 is clipped.
      const int8_t t0 = static_cast<int8_t>(static_cast<int>(x[j] * id + 16.5f));
      const int8_t t1 = static_cast<int8_t>(static_cast<int>(x[j + 16] * id + 16.5f));
      put_q5_pair(static_cast<uint8_t>(t0 < 31 ? t0 : 31), static_cast<uint8_t>(t1 < 31 ? t1 : 31), j, b.qs, h);
    }
    store_high_bits(h, b.qh);
    store_block(dst, i, b);
  }
}

void q5_1_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ5_1>(src, i);
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    const uint32_t h = high_bits(b.qh);
    for (int j = 0; j < 32; ++j) dst[i * kQ32 + j] = static_cast<float>(q5_value(b.qs, h, j)) * d + m;
  }
}

// 32 levels from the block's minimum: d = (max - min) / 31, q = (x - min) / d rounded half up.
void q5_1_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQ32;
    float min = 3.402823466e+38f, max = -3.402823466e+38f;
    for (int j = 0; j < 32; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_1 b;
    b.d = f32_to_f16(d);
    b.m = f32_to_f16(min);
    uint32_t h = 0;
    for (int j = 0; j < 16; ++j) {
      put_q5_pair(static_cast<uint8_t>(static_cast<int>((x[j] - min) * id + 0.5f)),
                  static_cast<uint8_t>(static_cast<int>((x[j + 16] - min) * id + 0.5f)), j, b.qs, h);
    }
    store_high_bits(h, b.qh);
    store_block(dst, i, b);
  }
}

}  // namespace quant_detail

using namespace quant_detail;

void dequantize_blocks(DType t, const void* src, float* dst, int64_t n) {
  dtype_row_bytes(t, n);  // throws unless n is a whole number of blocks
  const auto* s = static_cast<const uint8_t*>(src);
  const int64_t nb = n / dtype_block_elems(t);
  switch (t) {
    case DType::Q8_0:
      q8_0_dequantize(s, dst, nb);
      return;
    case DType::Q4_0:
      q4_0_dequantize(s, dst, nb);
      return;
    case DType::Q5_0:
      q5_0_dequantize(s, dst, nb);
      return;
    case DType::Q5_1:
      q5_1_dequantize(s, dst, nb);
      return;
    case DType::Q4_K:
      q4_k_dequantize(s, dst, nb);
      return;
    case DType::Q5_K:
      q5_k_dequantize(s, dst, nb);
      return;
    case DType::Q6_K:
      q6_k_dequantize(s, dst, nb);
      return;
    case DType::Q2_K:
      q2_k_dequantize(s, dst, nb);
      return;
    case DType::Q3_K:
      q3_k_dequantize(s, dst, nb);
      return;
    case DType::IQ4_NL:
      iq4_nl_dequantize(s, dst, nb);
      return;
    case DType::IQ4_XS:
      iq4_xs_dequantize(s, dst, nb);
      return;
    case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: case DType::IQ3_XXS: case DType::IQ3_S:
    case DType::IQ1_S: case DType::IQ1_M:
      iq_grid_dequantize(t, s, dst, nb);
      return;
    default:
      fail("dequantize_blocks: ", dtype_name(t), " is not a GGML block format");
  }
}

void quantize_blocks(DType t, const float* src, void* dst, int64_t n) {
  dtype_row_bytes(t, n);
  auto* d = static_cast<uint8_t*>(dst);
  const int64_t nb = n / dtype_block_elems(t);
  switch (t) {
    case DType::Q8_0:
      q8_0_quantize(src, d, nb);
      return;
    case DType::Q4_0:
      q4_0_quantize(src, d, nb);
      return;
    case DType::Q5_0:
      q5_0_quantize(src, d, nb);
      return;
    case DType::Q5_1:
      q5_1_quantize(src, d, nb);
      return;
    case DType::Q4_K:
      q4_k_quantize(src, d, nb);
      return;
    case DType::Q5_K:
      q5_k_quantize(src, d, nb);
      return;
    case DType::Q6_K:
      q6_k_quantize(src, d, nb);
      return;
    case DType::Q2_K:
      q2_k_quantize(src, d, nb);
      return;
    case DType::Q3_K:
      q3_k_quantize(src, d, nb);
      return;
    case DType::IQ4_NL:
      iq4_nl_quantize(src, d, nb);
      return;
    case DType::IQ4_XS:
      iq4_xs_quantize(src, d, nb);
      return;
    case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: case DType::IQ3_XXS: case DType::IQ3_S:
    case DType::IQ1_S: case DType::IQ1_M:
      fail("dsinfer cannot quantize to ", dtype_name(t), " (it reads llama.cpp's files of this type; llama.cpp "
           "makes them with an importance matrix)");
    default:
      fail("quantize_blocks: ", dtype_name(t), " is not a GGML block format");
  }
}

}  // namespace dsinfer
