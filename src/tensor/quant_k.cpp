// K-quants: Q4_K, Q5_K (8 groups of 32 with a 6-bit scale and a 6-bit min each) and Q6_K (16 groups
// of 16 with an 8-bit signed scale), in 256-value super-blocks whose group scales are themselves
// quantized against one f16 scale. The quantizers reproduce llama.cpp's quantize_row_q{4,5,6}_K_ref
// (the path llama-quantize takes without an importance matrix) float operation for float operation,
// so the output bytes are identical; that is why sums below are accumulated in exactly the order
// and association that ggml-quants.c uses.

#include <algorithm>
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

constexpr float kGroupMaxEps = 1e-15f;  // ggml GROUP_MAX_EPS: below this a group counts as all zero

// The 12-byte scale/min table of Q4_K and Q5_K (ggml get_scale_min_k4). Group g < 4 keeps its 6-bit
// scale and min in the low bits of bytes g and g+4; groups 4..7 keep their low 4 bits in the nibbles
// of byte g+4 and their top 2 bits in the spare top bits of bytes g-4 (scale) and g (min).
inline void unpack_scale_min_k4(int g, const uint8_t* s, int* scale, int* min) {
  if (g < 4) {
    *scale = s[g] & 63;
    *min = s[g + 4] & 63;
  } else {
    *scale = (s[g + 4] & 0x0f) | ((s[g - 4] >> 6) << 4);
    *min = (s[g + 4] >> 4) | ((s[g] >> 6) << 4);
  }
}

void pack_scales_mins_k4(const uint8_t scale[8], const uint8_t min[8], uint8_t* s) {
  for (int g = 0; g < 4; ++g) {
    s[g] = static_cast<uint8_t>((scale[g] & 63) | ((scale[g + 4] >> 4) << 6));
    s[g + 4] = static_cast<uint8_t>((min[g] & 63) | ((min[g + 4] >> 4) << 6));
    s[g + 8] = static_cast<uint8_t>((scale[g + 4] & 0x0f) | ((min[g + 4] & 0x0f) << 4));
  }
}

// Asymmetric quantization of the 8 groups of 32 of a super-block: x ~ scale * L - min_out with L in
// [0, nmax]. Per group this is ggml's make_qkx2_quants (use_mad = false): start from the plain
// min/max grid, then try nstep+1 slightly stretched grids (iscale = (nmax + rmin + rdelta*k) / range),
// fit scale and offset of each by weighted least squares, and keep the one with the smallest weighted
// squared error.
//
// The groups are independent, so four at a time run side by side as the lanes of a GCC/Clang
// vector (inputs laid out [32 values][4 groups]; 16-byte vectors, which baseline x86-64 has). Each
// lane performs exactly the float operations of the one-group version, in the same order, so the
// bytes stay identical to llama.cpp's, while the independent sums hide the add latency.
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));
constexpr int kLanes = 4;

inline F4 load4(const float* p) {
  F4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline I4 reinterpret_cast_bits(F4 v) {
  return (I4)v;
}  // vector casts keep the bits
inline F4 splat(float v) {
  return F4{} + v;
}
// Spelled as bit operations: GCC compiles a vector ?: here into per-lane branches.
inline F4 select(I4 mask, F4 a, F4 b) {
  return (F4)(((I4)a & mask) | ((I4)b & ~mask));
}
// nearest_int lane by lane, then clamped to [0, nmax]. The clamp is spelled with sign shifts: written
// as comparisons GCC turns it into an int32 min/max, which baseline x86-64 (SSE2) lacks, and then
// falls back to one lane at a time (4x slower overall).
inline I4 level4(F4 v, int nmax) {
  const F4 shifted = v + 12582912.0f;
  I4 l = (reinterpret_cast_bits(shifted) & 0x007fffff) - 0x00400000;
  l &= ~(l >> 31);           // negative -> 0
  const I4 over = nmax - l;  // negative when l > nmax
  return l + (over & (over >> 31));
}

void fit_scale_min_x4(int nmax, const float* x, const float* w, uint8_t* L, float* scale_out, float* min_out,
                      float rmin, float rdelta, int nstep) {
  F4 xs[32], ws[32];
  for (int i = 0; i < 32; ++i) {
    xs[i] = load4(x + kLanes * i);
    ws[i] = load4(w + kLanes * i);
  }
  F4 lo = xs[0], hi = xs[0], sum_w = ws[0], sum_x = ws[0] * xs[0];
  for (int i = 1; i < 32; ++i) {
    lo = select(xs[i] < lo, xs[i], lo);
    hi = select(xs[i] > hi, xs[i], hi);
    sum_w += ws[i];
    sum_x += ws[i] * xs[i];
  }
  lo = select(lo > 0, F4{}, lo);  // the offset only moves the grid down: all-positive groups start at 0
  const F4 lo_start = lo;
  const F4 fnmax = splat(static_cast<float>(nmax));

  // A constant group (hi == lo) divides by zero here; its lane is overwritten at the end.
  F4 iscale = fnmax / (hi - lo);
  F4 scale = 1 / iscale;
  F4 best_error{};
  // Levels are kept as floats (exact small integers): float selects stay vectorized where GCC
  // scalarizes int ones.
  F4 levels[32];
  for (int i = 0; i < 32; ++i) {
    levels[i] = __builtin_convertvector(level4(iscale * (xs[i] - lo), nmax), F4);
    const F4 diff = scale * levels[i] + lo - xs[i];
    best_error += ws[i] * (diff * diff);
  }
  F4 trial[32];
  for (int step = 0; step <= nstep; ++step) {
    iscale = splat(rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (hi - lo);
    F4 sum_l{}, sum_l2{}, sum_xl{};
    for (int i = 0; i < 32; ++i) {
      const F4 fl = trial[i] = __builtin_convertvector(level4(iscale * (xs[i] - lo), nmax), F4);
      const F4 wl = ws[i] * fl;
      sum_l += wl;
      sum_l2 += wl * fl;
      sum_xl += wl * xs[i];
    }
    const F4 det = sum_w * sum_l2 - sum_l * sum_l;
    const F4 s = (sum_w * sum_xl - sum_x * sum_l) / det;
    const F4 m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    // A positive offset is not representable: refit the scale through zero.
    const F4 this_scale = select(m > 0, sum_xl / sum_l2, s);
    const F4 this_min = select(m > 0, F4{}, m);
    F4 err{};
    for (int i = 0; i < 32; ++i) {
      const F4 diff = this_scale * trial[i] + this_min - xs[i];
      err += ws[i] * (diff * diff);
    }
    const I4 take = (det > 0) & (err < best_error);
    best_error = select(take, err, best_error);
    scale = select(take, this_scale, scale);
    lo = select(take, this_min, lo);
    for (int i = 0; i < 32; ++i) levels[i] = select(take, trial[i], levels[i]);
  }
  const I4 constant = hi == lo_start;  // nothing to fit: all levels 0, the value is the offset
  scale = select(constant, F4{}, scale);
  lo = select(constant, lo_start, lo);
  for (int g = 0; g < kLanes; ++g) {
    scale_out[g] = scale[g];
    min_out[g] = -lo[g];
    for (int i = 0; i < 32; ++i)
      L[i * kLanes + g] = constant[g] ? 0 : static_cast<uint8_t>(static_cast<int>(levels[i][g]));
  }
}

// Symmetric quantization of one group, L in [0, 2*nmax) standing for L - nmax, weighted by x^2
// (ggml make_qx_quants with rmse_type 1 and no importance weights): the grid is anchored on the value
// of largest magnitude (it maps to -nmax) and 18 nearby grids are tried, keeping the least-squares
// scale of the one with the smallest weighted error. Returns the scale (may be negative).
float fit_scale_symmetric(int n, int nmax, const float* x, uint8_t* L) {
  float amax;
  const float max = largest_magnitude(x, n, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  auto clamp = [nmax](int l) { return l < -nmax ? -nmax : (l > nmax - 1 ? nmax - 1 : l); };
  // Weighted sums of x*l and l*l for the grid iscale; fills L when `out` is given.
  auto sums = [&](float iscale, float* sumlx, float* suml2, uint8_t* out) {
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp(nearest_int(iscale * x[i]));
      if (out) out[i] = static_cast<uint8_t>(l + nmax);
      const float fl = static_cast<float>(l);
      const float w = x[i] * x[i];
      slx += w * x[i] * fl;
      sl2 += w * fl * fl;
    }
    *sumlx = slx;
    *suml2 = sl2;
  };
  float sumlx, suml2;
  sums(static_cast<float>(-nmax) / max, &sumlx, &suml2, L);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    sums(iscale, &sumlx, &suml2, nullptr);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(clamp(nearest_int(iscale * x[i])) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fits each group of 32, quantizes the 8 scales and 8
// mins to 6 bits against the largest of each, then requantizes the values with the rounded scales.
// L[256] receives the levels; scales/d/dmin are written into the block fields passed in.
inline int lane_index(int g, int l) {
  return 32 * (g / kLanes * kLanes) + l * kLanes + g % kLanes;
}

void quantize_k_groups(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* L,
                       uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales_out) {
  float scales[8];
  float mins[8];
  float xt[8 * 32];  // [group / 4][value][group % 4]: the lane layout of fit_scale_min_x4
  float wt[8 * 32];
  uint8_t Lt[8 * 32];
  for (int g = 0; g < 8; ++g) {
    const float* xg = x + 32 * g;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    // Weight each value by the group RMS plus its own magnitude: large values matter more.
    for (int l = 0; l < 32; ++l) {
      xt[lane_index(g, l)] = xg[l];
      wt[lane_index(g, l)] = av_x + std::fabs(xg[l]);
    }
  }
  for (int h = 0; h < 8; h += kLanes)
    fit_scale_min_x4(nmax, xt + 32 * h, wt + 32 * h, Lt + 32 * h, scales + h, mins + h, rmin, rdelta, nstep);
  float max_scale = 0;  // scales are positive because the min is subtracted
  float max_min = 0;
  for (int g = 0; g < 8; ++g) {
    for (int l = 0; l < 32; ++l) L[32 * g + l] = Lt[lane_index(g, l)];
    if (scales[g] > max_scale) max_scale = scales[g];
    if (mins[g] > max_min) max_min = mins[g];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8];
  uint8_t lm[8];
  for (int g = 0; g < 8; ++g) {
    // ggml stores nearest_int into a uint8_t before clamping; the wrap-around is kept on purpose.
    const auto s = static_cast<uint8_t>(nearest_int(inv_scale * scales[g]));
    const auto m = static_cast<uint8_t>(nearest_int(inv_min * mins[g]));
    ls[g] = s < 63 ? s : 63;
    lm[g] = m < 63 ? m : 63;
  }
  pack_scales_mins_k4(ls, lm, scales_out);
  *d_out = f32_to_f16(max_scale / 63.f);
  *dmin_out = f32_to_f16(max_min / 63.f);
  const float d_all = f16_to_f32(*d_out);
  const float dmin_all = f16_to_f32(*dmin_out);
  for (int g = 0; g < 8; ++g) {
    const float d = d_all * static_cast<float>(ls[g]);
    if (d == 0) continue;  // keeps the levels of the group fit, as llama.cpp does
    const float dm = dmin_all * static_cast<float>(lm[g]);
    for (int i = 0; i < 32; ++i) {
      const int l = nearest_int((x[32 * g + i] + dm) / d);
      L[32 * g + i] = static_cast<uint8_t>(l < 0 ? 0 : (l > nmax ? nmax : l));
    }
  }
}

}  // namespace

void q4_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ4_K>(src, i);
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    float* y = dst + i * kQK;
    for (int p = 0; p < 4; ++p) {  // 64 values per pass: groups 2p (low nibbles) and 2p+1 (high)
      int sc, m;
      unpack_scale_min_k4(2 * p, b.scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      unpack_scale_min_k4(2 * p + 1, b.scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      const uint8_t* q = b.qs + 32 * p;
      for (int l = 0; l < 32; ++l) y[64 * p + l] = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) y[64 * p + 32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void q4_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  uint8_t L[256];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQK;
    BlockQ4_K b;
    quantize_k_groups(x, 15, -1.0f, 0.1f, 20, L, &b.d, &b.dmin, b.scales);
    for (int p = 0; p < 4; ++p)
      for (int l = 0; l < 32; ++l)
        b.qs[32 * p + l] = static_cast<uint8_t>(L[64 * p + l] | (L[64 * p + 32 + l] << 4));
    store_block(dst, i, b);
  }
}

void q5_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ5_K>(src, i);
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    float* y = dst + i * kQK;
    for (int p = 0; p < 4; ++p) {
      int sc, m;
      unpack_scale_min_k4(2 * p, b.scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      unpack_scale_min_k4(2 * p + 1, b.scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      const uint8_t* q = b.qs + 32 * p;
      for (int l = 0; l < 32; ++l) {
        const int v = (q[l] & 0x0f) | (((b.qh[l] >> (2 * p)) & 1) << 4);
        y[64 * p + l] = d1 * static_cast<float>(v) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        const int v = (q[l] >> 4) | (((b.qh[l] >> (2 * p + 1)) & 1) << 4);
        y[64 * p + 32 + l] = d2 * static_cast<float>(v) - m2;
      }
    }
  }
}

void q5_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  uint8_t L[256];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQK;
    BlockQ5_K b;
    quantize_k_groups(x, 31, -0.5f, 0.1f, 15, L, &b.d, &b.dmin, b.scales);
    std::memset(b.qh, 0, sizeof(b.qh));
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * p + l];
        const int hi = L[64 * p + 32 + l];
        b.qs[32 * p + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        b.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * p)) | ((hi >> 4) << (2 * p + 1)));
      }
    }
    store_block(dst, i, b);
  }
}

// Value v of a 128-value half h sits at: low 4 bits in ql[64h + (v % 64)], the low nibble for v < 64
// and the high nibble otherwise; top 2 bits in qh[32h + (v % 32)] at bit 2 * (v / 32).
void q6_k_dequantize(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const auto b = load_block<BlockQ6_K>(src, i);
    const float d = f16_to_f32(b.d);
    float* y = dst + i * kQK;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      const int8_t* sc = b.scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[128 * h + l] = d * static_cast<float>(sc[g]) * static_cast<float>(q1);
        y[128 * h + l + 32] = d * static_cast<float>(sc[g + 2]) * static_cast<float>(q2);
        y[128 * h + l + 64] = d * static_cast<float>(sc[g + 4]) * static_cast<float>(q3);
        y[128 * h + l + 96] = d * static_cast<float>(sc[g + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void q6_k_quantize(const float* src, uint8_t* dst, int64_t n_blocks) {
  uint8_t L[256];
  float scales[16];
  for (int64_t i = 0; i < n_blocks; ++i) {
    const float* x = src + i * kQK;
    BlockQ6_K b;
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_scale_symmetric(16, 32, x + 16 * g, L + 16 * g);
      if (std::fabs(scales[g]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&b, 0, sizeof(b));
      store_block(dst, i, b);
      continue;
    }
    // The group scale of largest magnitude becomes -128 (the int8 end with the extra level).
    const float iscale = -128.f / max_scale;
    b.d = f32_to_f16(1 / iscale);
    for (int g = 0; g < 16; ++g) {
      const int s = nearest_int(iscale * scales[g]);
      b.scales[g] = static_cast<int8_t>(s < 127 ? s : 127);
    }
    const float d_all = f16_to_f32(b.d);
    for (int g = 0; g < 16; ++g) {
      const float d = d_all * static_cast<float>(b.scales[g]);
      if (d == 0) continue;
      for (int k = 0; k < 16; ++k) {
        int l = nearest_int(x[16 * g + k] / d);
        l = l < -32 ? -32 : (l > 31 ? 31 : l);
        L[16 * g + k] = static_cast<uint8_t>(l + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* Lh = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        b.ql[64 * h + l] = static_cast<uint8_t>((Lh[l] & 0x0f) | ((Lh[l + 64] & 0x0f) << 4));
        b.ql[64 * h + l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0x0f) | ((Lh[l + 96] & 0x0f) << 4));
        b.qh[32 * h + l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                                ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
      }
    }
    store_block(dst, i, b);
  }
}

}  // namespace dsinfer::quant_detail
