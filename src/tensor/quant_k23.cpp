// The low-bit K-quants: Q2_K (16 groups of 16, a 4-bit scale and a 4-bit min each, 2-bit values) and Q3_K
// (16 groups of 16, a 6-bit signed scale each, 3-bit values), in 256-value super-blocks. Layouts in
// quant_block_layouts.h. The quantizers reproduce llama.cpp's quantize_row_q2_K_ref / quantize_row_q3_K_ref
// (what llama-quantize runs without an importance matrix) float operation for float operation, so the
// bytes are identical (tests/tensor/quant_fixture_test.cpp); sums keep ggml-quants.c's order and association.

#include <cmath>
#include <cstring>

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

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Value v = 128h + 32j + l of a Q2_K / Q3_K block keeps its two low bits at bits 2j of qs[32h + l].
inline int low2(const uint8_t* qs, int v) { return (qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3; }

void pack_low2(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* Lh = L + 128 * h;
      qs[32 * h + l] = static_cast<uint8_t>(Lh[l] | (Lh[l + 32] << 2) | (Lh[l + 64] << 4) | (Lh[l + 96] << 6));
    }
}

// Asymmetric fit of one group of n with weights w, x ~ scale * L - min_out, L in [0, nmax]: ggml's
// make_qkx2_quants with use_mad = true (weighted absolute error), as Q2_K calls it: the plain min/max
// grid, then nstep + 1 stretched grids whose scale and offset come from weighted least squares; the
// grid with the smallest weighted error wins. Returns the scale.
float fit_scale_min_mad(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out, float rmin,
                        float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *min_out = -min;
    return 0.f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * static_cast<float>(L[i]) + min - x[i];
    best_error += w[i] * std::fabs(diff);
  }
  uint8_t Laux[32];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (!(D > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float cur_error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
      cur_error += w[i] * std::fabs(diff);
    }
    if (cur_error < best_error) {
      std::memcpy(L, Laux, static_cast<size_t>(n));
      best_error = cur_error;
      scale = this_scale;
      min = this_min;
    }
  }
  *min_out = -min;
  return scale;
}

// Symmetric fit of one group of n, L in [0, 2 nmax) standing for L - nmax: ggml's make_q3_quants with
// do_rmse. The grid is anchored on the value of largest magnitude (it maps to -nmax), then up to five
// passes move single values to the level that raises the x^2-weighted fit (sum lx)^2 / sum l^2. Returns
// the least-squares scale.
float fit_scale_q3(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = largest_magnitude(x, n, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      if (!(slx > 0)) continue;
      float sl2 = suml2 - w * li * li;
      const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (new_l == L[i]) continue;
      const float fl = static_cast<float>(new_l);
      slx += w * x[i] * fl;
      sl2 += w * fl * fl;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<int8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++n_changed;
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}


}  // namespace

void q2_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ2_K>(src, i);
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    float* y = dst + i * kQK;
    for (int g = 0; g < 16; ++g) {
      const float dl = d * static_cast<float>(b.scales[g] & 0x0f);
      const float ml = dmin * static_cast<float>(b.scales[g] >> 4);
      for (int k = 0; k < 16; ++k) y[16 * g + k] = dl * static_cast<float>(low2(b.qs, 16 * g + k)) - ml;
    }
  }
}

void q2_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  constexpr float kQ4Scale = 15.f;
  uint8_t L[256];
  float weights[16], mins[16], scales[16];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQK;
    BlockQ2_K b;
    float max_scale = 0, max_min = 0;  // (the min is subtracted, so scales are not negative)
    for (int g = 0; g < 16; ++g) {
      for (int k = 0; k < 16; ++k) weights[k] = std::fabs(x[16 * g + k]);
      scales[g] = fit_scale_min_mad(16, 3, x + 16 * g, weights, L + 16 * g, &mins[g], -0.5f, 0.1f, 15);
      if (scales[g] > max_scale) max_scale = scales[g];
      if (mins[g] > max_min) max_min = mins[g];
    }
    if (max_scale > 0) {
      const float iscale = kQ4Scale / max_scale;
      for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>(nearest_int(iscale * scales[g]));
      b.d = f32_to_f16(max_scale / kQ4Scale);
    } else {
      std::memset(b.scales, 0, sizeof(b.scales));
      b.d = f32_to_f16(0.f);
    }
    if (max_min > 0) {
      const float iscale = kQ4Scale / max_min;
      for (int g = 0; g < 16; ++g)
        b.scales[g] = static_cast<uint8_t>(b.scales[g] | (nearest_int(iscale * mins[g]) << 4));
      b.dmin = f32_to_f16(max_min / kQ4Scale);
    } else {
      b.dmin = f32_to_f16(0.f);
    }
    // The values again against the stored (rounded) scales and mins; a group whose scale rounded to
    // zero keeps the fit's values.
    for (int g = 0; g < 16; ++g) {
      const float d = f16_to_f32(b.d) * static_cast<float>(b.scales[g] & 0x0f);
      if (d == 0) continue;
      const float dm = f16_to_f32(b.dmin) * static_cast<float>(b.scales[g] >> 4);
      for (int k = 0; k < 16; ++k)
        L[16 * g + k] = static_cast<uint8_t>(clamp_int(nearest_int((x[16 * g + k] + dm) / d), 0, 3));
    }
    pack_low2(L, b.qs);
    store_block(dst, i, b);
  }
}

void q3_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ3_K>(src, i);
    const float d = f16_to_f32(b.d);
    float* y = dst + i * kQK;
    for (int g = 0; g < 16; ++g) {
      const float dl = d * static_cast<float>(q3_k_scale(b.scales, g));
      for (int k = 0; k < 16; ++k) {
        const int v = 16 * g + k;
        const int high = (b.hmask[v % 32] >> (v / 32)) & 1;
        y[v] = dl * static_cast<float>(low2(b.qs, v) - (high ? 0 : 4));
      }
    }
  }
}

void q3_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  int8_t L[256];
  float scales[16];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQK;
    BlockQ3_K b;
    float max_scale = 0, amax = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_scale_q3(16, 4, x + 16 * g, L + 16 * g);
      const float a = std::fabs(scales[g]);
      if (a > amax) {
        amax = a;
        max_scale = scales[g];
      }
    }
    std::memset(b.scales, 0, sizeof(b.scales));
    if (max_scale != 0) {
      // The group scale of largest magnitude becomes -32 (the 6-bit end with the extra level).
      const float iscale = -32.f / max_scale;
      for (int g = 0; g < 16; ++g) {
        // ggml stores nearest_int in an int8_t before clamping; |iscale * scale| <= 32, so it fits.
        const int l = clamp_int(static_cast<int8_t>(nearest_int(iscale * scales[g])), -32, 31) + 32;
        if (g < 8) b.scales[g] = static_cast<uint8_t>(l & 0x0f);
        else b.scales[g - 8] = static_cast<uint8_t>(b.scales[g - 8] | ((l & 0x0f) << 4));
        b.scales[8 + g % 4] = static_cast<uint8_t>(b.scales[8 + g % 4] | ((l >> 4) << (2 * (g / 4))));
      }
      b.d = f32_to_f16(1 / iscale);
    } else {
      b.d = f32_to_f16(0.f);
    }
    for (int g = 0; g < 16; ++g) {
      const float d = f16_to_f32(b.d) * static_cast<float>(q3_k_scale(b.scales, g));
      if (d == 0) continue;  // (the fit's values stay)
      for (int k = 0; k < 16; ++k)
        L[16 * g + k] = static_cast<int8_t>(clamp_int(nearest_int(x[16 * g + k] / d), -4, 3) + 4);
    }
    std::memset(b.hmask, 0, sizeof(b.hmask));
    uint8_t low[256];
    for (int v = 0; v < 256; ++v) {
      int l = L[v];
      if (l > 3) {
        b.hmask[v % 32] = static_cast<uint8_t>(b.hmask[v % 32] | (1 << (v / 32)));
        l -= 4;
      }
      low[v] = static_cast<uint8_t>(l);
    }
    pack_low2(low, b.qs);
    store_block(dst, i, b);
  }
}

}  // namespace dsinfer::quant_detail
