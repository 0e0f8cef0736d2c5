#pragma once
// Scalar conversions between float32 and the 16- and 8-bit float formats. These are the reference
// definitions; SIMD kernels must agree with them bit for bit.

#include <cstdint>
#include <cstring>

namespace dsinfer {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

// Round to nearest even, as torch does; NaN stays a (quiet) NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// IEEE binary16 <-> binary32 (subnormals, inf, NaN handled; round to nearest even).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// float8 e4m3fn (bias 7, no infinities, S.1111.111 = NaN, max 448).
float fp8_e4m3_to_f32(uint8_t v);
uint8_t f32_to_fp8_e4m3(float f);  // round to nearest even, saturates to +-448, NaN -> 0x7f

}  // namespace dsinfer
