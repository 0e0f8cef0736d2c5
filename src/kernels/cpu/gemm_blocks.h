#pragma once
// Byte offsets and small decoders of the GGML blocks (layouts in tensor/quant.h), shared by the scalar
// and SIMD kernels. Internal to src/kernels/cpu/.

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>

#include "tensor/half.h"
#include "tensor/quant.h"  // kIQ4NLValues

namespace dsinfer::kern {

constexpr size_t kQ8_0Bytes = 34;  // f16 d; int8 qs[32]
constexpr size_t kQ4_0Bytes = 18;  // f16 d; uint8 qs[16]
constexpr size_t kQ5_0Bytes = 22;  // f16 d; u32 qh (5th bits); uint8 qs[16]
constexpr size_t kQ5_1Bytes = 24;  // f16 d, m; u32 qh; uint8 qs[16]
constexpr size_t kQ4_KBytes = 144; // f16 d, dmin; scales[12]; qs[128]
constexpr size_t kQ5_KBytes = 176; // f16 d, dmin; scales[12]; qh[32]; qs[128]
constexpr size_t kQ6_KBytes = 210; // ql[128]; qh[64]; int8 scales[16]; f16 d
constexpr size_t kQ2_KBytes = 84;  // scales[16] (scale | min << 4); qs[64]; f16 d, dmin
constexpr size_t kQ3_KBytes = 110; // hmask[32]; qs[64]; scales[12]; f16 d
constexpr size_t kIQ4_XSBytes = 136; // f16 d; u16 scales_h; scales_l[4]; qs[128] (IQ4_NL: as Q4_0's 18)
constexpr size_t kQ3_KR8Bytes = 114;  // per row of a Q3_K_R8 group: the 12 scale bytes unpacked to 16

// 8-lane horizontal sum in the order of the SIMD fold: (l0+l4 + l2+l6) + (l1+l5 + l3+l7).
inline float hsum8(const float* l) {
  const float s0 = l[0] + l[4], s1 = l[1] + l[5], s2 = l[2] + l[6], s3 = l[3] + l[7];
  return (s0 + s2) + (s1 + s3);
}

inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// The 8 six-bit scales and mins of a Q4_K / Q5_K super-block (ggml get_scale_min_k4).
inline void k4_scales_mins(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
  for (int g = 0; g < 4; ++g) {
    sc[g] = s[g] & 63;
    mn[g] = s[g + 4] & 63;
  }
  for (int g = 4; g < 8; ++g) {
    sc[g] = static_cast<uint8_t>((s[g + 4] & 0x0f) | ((s[g - 4] >> 6) << 4));
    mn[g] = static_cast<uint8_t>((s[g + 4] >> 4) | ((s[g] >> 6) << 4));
  }
}

// The 16 group factors (6-bit scale - 32) of a Q3_K super-block's 12 scale bytes s (q3_k_scale, tensor/quant.h).
inline void q3_k_scales(const uint8_t* s, int8_t* sc) {
  for (int g = 0; g < 16; ++g) sc[g] = static_cast<int8_t>(q3_k_scale(s, g));
}

// The 2 low bits of value 32j + i (activation block j of the super-block, i < 32) of a Q2_K / Q3_K block:
// bits 2 (j % 4) of qs[32 (j / 4) + i].
inline int q23_low2(const uint8_t* qs, int j, int i) { return (qs[32 * (j / 4) + i] >> (2 * (j % 4))) & 3; }

// Unsigned 6-bit value (0..63) l of quarter `quarter` (32 values) of half h (128 values) of a Q6_K block.
inline int q6_k_value(const uint8_t* ql, const uint8_t* qh, int h, int quarter, int l) {
  const uint8_t lo = ql[64 * h + (quarter & 1) * 32 + l];
  const int low4 = (quarter >> 1) ? (lo >> 4) : (lo & 0x0f);
  return low4 | (((qh[32 * h + l] >> (2 * quarter)) & 3) << 4);
}

// exp(x) for x clamped to [-87, 88]: x = n ln2 + r, exp(r) by a degree-6 Taylor polynomial (rel. error
// < 2e-7), 2^n put into the exponent field. The AVX2 kernel does exactly these operations per lane.
inline float exp_poly(float x) {
  x = std::fmin(std::fmax(x, -87.0f), 88.0f);
  const float n = std::nearbyint(x * 1.44269504f);
  float r = std::fma(-n, 0.693145752f, x);
  r = std::fma(-n, 1.42860677e-6f, r);
  float p = 1.0f / 720;
  p = std::fma(p, r, 1.0f / 120);
  p = std::fma(p, r, 1.0f / 24);
  p = std::fma(p, r, 1.0f / 6);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  const uint32_t e = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &e, 4);
  return p * two_n;
}

inline float silu_poly(float g) { return g / (1.0f + exp_poly(0.0f - g)); }

}  // namespace dsinfer::kern
