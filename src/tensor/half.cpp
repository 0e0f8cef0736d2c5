#include "tensor/half.h"

#include <cmath>

namespace dsinfer {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    if (mant == 0) return f32_from_bits(sign);
    // Subnormal: value = mant * 2^-24.
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00;        // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00;       // rounds to inf (>= 65520)
  if (abs < 0x38800000u) {                            // below the smallest normal 2^-14
    // Subnormal or zero: round abs / 2^-24 to nearest even.
    float v = f32_from_bits(abs) * 16777216.0f;       // exact scaling by 2^24
    float r = std::nearbyint(v);                      // default rounding mode is nearest-even
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t m = abs + 0xfffu + ((abs >> 13) & 1u);     // round mantissa to 10 bits, nearest even
  return sign | static_cast<uint16_t>((m - 0x38000000u) >> 13);
}

float fp8_e4m3_to_f32(uint8_t v) {
  const bool neg = v & 0x80;
  const int exp = (v >> 3) & 0xf;
  const int mant = v & 0x7;
  float r;
  if (exp == 15 && mant == 7) return std::nanf("");
  if (exp == 0) {
    r = std::ldexp(static_cast<float>(mant) / 8.0f, -6);
  } else {
    r = std::ldexp(1.0f + static_cast<float>(mant) / 8.0f, exp - 7);
  }
  return neg ? -r : r;
}

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 464.0f) return sign | 0x7e;  // 448 is max; values from the midpoint 464 up saturate too
  // Codes 0x00..0x7e are increasing magnitudes, so binary-search the two neighbours of a and keep the
  // nearer one (ties to the even code, which is round-to-nearest-even on the mantissa).
  int lo = 0, hi = 0x7e;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (fp8_e4m3_to_f32(static_cast<uint8_t>(mid)) <= a) lo = mid; else hi = mid;
  }
  const float elo = a - fp8_e4m3_to_f32(static_cast<uint8_t>(lo));
  const float ehi = fp8_e4m3_to_f32(static_cast<uint8_t>(hi)) - a;
  uint8_t best = static_cast<uint8_t>(elo < ehi || (elo == ehi && (lo & 1) == 0) ? lo : hi);
  if (a >= 448.0f) best = 0x7e;
  return sign | best;
}

}  // namespace dsinfer
