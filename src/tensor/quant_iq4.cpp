// The 4-bit non-linear quants: IQ4_NL (32 values, an f16 scale) and IQ4_XS (256-value super-blocks of 8
// groups of 32, a 6-bit signed scale per group), both storing indexes into the 16-entry value table
// kIQ4NLValues (quant.h). Layouts in quant_block_layouts.h. The quantizers reproduce ggml's
// quantize_iq4_nl / quantize_iq4_xs without importance weights (what llama-quantize runs without an
// imatrix: the weighted fit with 7 extra scale tries per group) float operation for float operation, so
// the bytes are identical (tests/tensor/quant_fixture_test.cpp); sums keep ggml-quants.c's order.

#include <array>
#include <cmath>
#include <cstring>

#include "tensor/quant.h"
#include "tensor/quant_block_layouts.h"

// Bit-exactness with llama.cpp needs every float operation rounded as written: no fused multiply-add
// contraction, even when the build targets a CPU with FMA (-march=native).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace dsinfer::quant_detail {
namespace {

constexpr float kGroupMaxEps = 1e-15f;  // ggml GROUP_MAX_EPS
constexpr int kTries = 7;               // the scale tries ggml's quantize_iq4_nl / _xs make either side

// L[j] = the index of the table value nearest id * x[j], j < 32, as ggml's best_index_int8 picks it: between
// the bracketing values v[k] <= a < v[k+1] the upper one unless a - v[k] < v[k+1] - a, below the table 0,
// above it 15, NaN 15. Its bisection's data-dependent branches cost more than the rest of the quantizer;
// here the index is 15 minus the number of neighbour pairs (v[m-1], v[m]) with a - v[m-1] < v[m] - a —
// every pair above the bracket, the bracket itself when the lower value wins, none below it, none for NaN
// — the same float comparisons, counted four values at a time.
void nearest_values(float id, const float* x, uint8_t* L) {
  using F4 = float __attribute__((vector_size(16)));
  using I4 = int32_t __attribute__((vector_size(16)));
  static constexpr std::array<float, 16> v = [] {
    std::array<float, 16> f{};
    for (int i = 0; i < 16; ++i) f[i] = kIQ4NLValues[i];
    return f;
  }();
  for (int j = 0; j < 32; j += 4) {
    F4 a;
    std::memcpy(&a, x + j, sizeof a);
    a = id * a;
    I4 k = {15, 15, 15, 15};
    for (int m = 1; m < 16; ++m) k += a - v[m - 1] < v[m] - a;  // (true is -1)
    for (int i = 0; i < 4; ++i) L[j + i] = static_cast<uint8_t>(k[i]);
  }
}

// Weighted (w = x^2) least-squares scale of one group of 32 for the fixed value table: the scale that maps
// the group's value of largest magnitude to the table's end, then 2 kTries + 1 scales around it; the best
// fit wins. L gets the first candidate's indexes (the caller requantizes with the stored scale).
float fit_group(const float* x, uint8_t* L) {
  float w[32];
  for (int j = 0; j < 32; ++j) w[j] = x[j] * x[j];
  float amax;
  const float max = largest_magnitude(x, 32, &amax);
  if (amax < kGroupMaxEps) return 0.f;
  const float v0 = kIQ4NLValues[0];
  float d = -max / v0;
  float id = 1 / d;
  float sumqx = 0, sumq2 = 0;
  nearest_values(id, x, L);
  for (int j = 0; j < 32; ++j) {
    const float q = kIQ4NLValues[L[j]];
    sumqx += w[j] * q * x[j];
    sumq2 += w[j] * q * q;
  }
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  uint8_t Ltry[32];
  for (int itry = -kTries; itry <= kTries; ++itry) {
    id = static_cast<float>(itry + kIQ4NLValues[0]) / max;
    nearest_values(id, x, Ltry);
    sumqx = sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = kIQ4NLValues[Ltry[j]];
      sumqx += w[j] * q * x[j];
      sumq2 += w[j] * q * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// Byte 16 i + j of qs: index 32 i + j in the low nibble, 32 i + 16 + j in the high one.
void pack_nibbles(const uint8_t* L, int n, uint8_t* qs) {
  for (int i = 0; i < n / 32; ++i)
    for (int j = 0; j < 16; ++j) qs[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

// y[j], y[j + 16] = dl times the table values of the low and high nibbles of qs[j], j < 16 (one group of 32).
void decode_group(float dl, const uint8_t* qs, float* y) {
  for (int j = 0; j < 16; ++j) {
    y[j] = dl * static_cast<float>(kIQ4NLValues[qs[j] & 0x0f]);
    y[j + 16] = dl * static_cast<float>(kIQ4NLValues[qs[j] >> 4]);
  }
}

}  // namespace

void iq4_nl_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockIQ4_NL>(src, i);
    decode_group(f16_to_f32(b.d), b.qs, dst + i * kQ32);
  }
}

void iq4_nl_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  uint8_t L[32];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQ32;
    BlockIQ4_NL b;
    const float d = fit_group(x, L);
    b.d = f32_to_f16(d);
    nearest_values(d != 0 ? 1 / d : 0, x, L);  // the unrounded scale, as ggml
    pack_nibbles(L, 32, b.qs);
    store_block(dst, i, b);
  }
}

void iq4_xs_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const uint8_t* blk = src + i * static_cast<int64_t>(sizeof(BlockIQ4_XS));
    const auto b = load_block<BlockIQ4_XS>(src, i);
    const float d = f16_to_f32(b.d);
    for (int g = 0; g < 8; ++g)
      decode_group(d * static_cast<float>(iq4_xs_scale(blk, g)), b.qs + 16 * g, dst + i * kQK + 32 * g);
  }
}

void iq4_xs_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  uint8_t L[256];
  float scales[8];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQK;
    BlockIQ4_XS b;
    float max_scale = 0, amax_scale = 0;
    for (int g = 0; g < 8; ++g) {
      scales[g] = fit_group(x + 32 * g, L + 32 * g);
      const float a = std::fabs(scales[g]);
      if (a > amax_scale) {
        amax_scale = a;
        max_scale = scales[g];
      }
    }
    // The group scale of largest magnitude becomes -32 (the 6-bit end with the extra level).
    const float d = -max_scale / 32;
    b.d = f32_to_f16(d);
    const float id = d != 0 ? 1 / d : 0.f;
    b.scales_h = 0;
    std::memset(b.scales_l, 0, sizeof(b.scales_l));
    for (int g = 0; g < 8; ++g) {
      int l = nearest_int(id * scales[g]);
      l = l < -32 ? -32 : (l > 31 ? 31 : l);
      const float dl = d * static_cast<float>(l);  // the unrounded d, as ggml
      nearest_values(dl != 0 ? 1 / dl : 0.f, x + 32 * g, L + 32 * g);
      l += 32;
      b.scales_l[g / 2] = static_cast<uint8_t>(b.scales_l[g / 2] | ((l & 0x0f) << (4 * (g % 2))));
      b.scales_h = static_cast<uint16_t>(b.scales_h | ((l >> 4) << (2 * g)));
    }
    pack_nibbles(L, 256, b.qs);
    store_block(dst, i, b);
  }
}

}  // namespace dsinfer::quant_detail
