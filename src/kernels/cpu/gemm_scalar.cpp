// Scalar kernels: the reference every SIMD kernel is tested against, and the fallback that runs on any
// x86-64. They compute exactly the integer sums the SIMD kernels compute (only the order of the float
// accumulation differs), so SIMD-vs-scalar tests can use a tight tolerance.

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_blocks.h"
#include "tensor/half.h"

namespace dsinfer::kern {
namespace {

void quantize_row_scalar(const float* x, int64_t K, int8_t* q, float* d, int32_t* sum) {
  for (int64_t b = 0; b < K / kActBlock; ++b) {
    const float* xb = x + b * kActBlock;
    float amax = 0;
    for (int i = 0; i < kActBlock; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 127.0f / amax : 0.0f;
    int32_t s = 0;
    for (int i = 0; i < kActBlock; ++i) {
      // nearbyint: ties to even, like the SIMD cvtps2dq in the default rounding mode.
      const int v = static_cast<int>(std::nearbyint(xb[i] * id));
      q[b * kActBlock + i] = static_cast<int8_t>(v);
      s += v;
    }
    d[b] = db;
    sum[b] = s;
  }
}

// One weight row · one token, per format. `w` is the row, `q/d/sum` the token's activation blocks.
// Each mirrors its AVX2 kernel's lanes: the integer sums are exact either way, and the float
// accumulators, FMAs and final reduction are done in the same order, so the two agree bit for bit.

// The 32-value formats with one f16 scale per block (Q4_0, Q8_0, IQ4_NL): element i of a block's integer
// values — Q4_0's nibble (its - 8 comes from the activation sum), Q8_0's int8, IQ4_NL's table value.
enum class Legacy { kQ4_0, kQ8_0, kIQ4_NL };
template <Legacy kL>
constexpr size_t kLegacyBytes = kL == Legacy::kQ8_0 ? kQ8_0Bytes : kQ4_0Bytes;  // (IQ4_NL's = Q4_0's)
template <Legacy kL>
int legacy_value(const uint8_t* blk, int i) {
  if constexpr (kL == Legacy::kQ8_0) return static_cast<int8_t>(blk[2 + i]);
  const int nibble = i < 16 ? (blk[2 + i] & 0x0f) : (blk[2 + i - 16] >> 4);
  if constexpr (kL == Legacy::kQ4_0) return nibble;
  return kIQ4NLValues[nibble];
}

// Per block, the products of elements 0..15 and 16..31 are two accumulator lanes.
template <Legacy kL>
float dot_legacy(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t* sum) {
  float lo = 0, hi = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + b * kLegacyBytes<kL>;
    const int8_t* qa = q + b * 32;
    int32_t plo = 0, phi = 0;
    for (int i = 0; i < 16; ++i) {
      plo += legacy_value<kL>(blk, i) * qa[i];
      phi += legacy_value<kL>(blk, i + 16) * qa[i + 16];
    }
    if constexpr (kL == Legacy::kQ4_0) plo -= 8 * sum[b];
    const float sc = half_at(blk) * d[b];
    lo = std::fma(static_cast<float>(plo), sc, lo);
    hi = std::fma(static_cast<float>(phi), sc, hi);
  }
  return lo + hi;
}

// Q5_0 / Q5_1: unsigned 5-bit values v (nibble | 5th bit << 4); Q5_0's x = d (v - 16) subtracts 16 sum(a)
// from the low lane, Q5_1's x = d v + m adds m d_a sum(a) in a third accumulator (the AVX2 kernels'
// lanes: elements 0..15 and 16..31, then the min term).
template <bool kMin>
float dot_q5(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t* sum) {
  const size_t bytes = kMin ? kQ5_1Bytes : kQ5_0Bytes, qh_at = kMin ? 4 : 2;
  float lo = 0, hi = 0, mins = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + b * bytes;
    uint32_t h;
    std::memcpy(&h, blk + qh_at, 4);
    const uint8_t* qs = blk + qh_at + 4;
    const int8_t* qa = q + b * 32;
    int32_t plo = 0, phi = 0;
    for (int i = 0; i < 16; ++i) {
      plo += ((qs[i] & 0x0f) | static_cast<int>((h >> i) & 1u) << 4) * qa[i];
      phi += ((qs[i] >> 4) | static_cast<int>((h >> (i + 16)) & 1u) << 4) * qa[i + 16];
    }
    if constexpr (!kMin) plo -= 16 * sum[b];
    const float sc = half_at(blk) * d[b];
    lo = std::fma(static_cast<float>(plo), sc, lo);
    hi = std::fma(static_cast<float>(phi), sc, hi);
    if constexpr (kMin) mins = std::fma(half_at(blk + 2), d[b] * static_cast<float>(sum[b]), mins);
  }
  if constexpr (kMin) return (lo + hi) + mins;
  return lo + hi;
}

// Q4_K and Q5_K: 8 groups of 32 per super-block, group g = activation block 8 * sb + g; lane l of a
// group holds elements 4l..4l+3.
template <bool kFifthBit>
float dot_q45_k(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t* sum) {
  const size_t bytes = kFifthBit ? kQ5_KBytes : kQ4_KBytes;
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float mins = 0;
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    const uint8_t* blk = w + sb * bytes;
    const float dd = half_at(blk), dmin = half_at(blk + 2);
    uint8_t sc[8], mn[8];
    k4_scales_mins(blk + 4, sc, mn);
    const uint8_t* qh = blk + 16;
    const uint8_t* qs = blk + (kFifthBit ? 48 : 16);
    for (int g = 0; g < 8; ++g) {
      const int64_t b = sb * 8 + g;
      const int8_t* qa = q + b * 32;
      const float scale = dd * static_cast<float>(sc[g]) * d[b];
      for (int l = 0; l < 8; ++l) {
        int32_t s = 0;
        for (int i = 4 * l; i < 4 * l + 4; ++i) {
          int v = (g & 1) ? (qs[32 * (g / 2) + i] >> 4) : (qs[32 * (g / 2) + i] & 0x0f);
          if (kFifthBit) v |= ((qh[i] >> g) & 1) << 4;
          s += v * qa[i];
        }
        acc[l] = std::fma(static_cast<float>(s), scale, acc[l]);
      }
      mins += (dmin * static_cast<float>(mn[g]) * d[b]) * static_cast<float>(sum[b]);
    }
  }
  return hsum8(acc) - mins;
}

float dot_q6_k(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t*) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    const uint8_t* blk = w + sb * kQ6_KBytes;
    const uint8_t* ql = blk;
    const uint8_t* qh = blk + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
    const float dd = half_at(blk + 208);
    for (int j = 0; j < 8; ++j) {  // activation block j of the super-block: half h, quarter j % 4
      const int h = j / 4, quarter = j % 4;
      const int64_t b = sb * 8 + j;
      const int8_t* qa = q + b * 32;
      const float scale = dd * d[b];
      for (int l = 0; l < 8; ++l) {
        int32_t s = 0;
        for (int i = 4 * l; i < 4 * l + 4; ++i) s += (q6_k_value(ql, qh, h, quarter, i) - 32) * qa[i];
        acc[l] = std::fma(static_cast<float>(s * sc[8 * h + 2 * quarter + l / 4]), scale, acc[l]);
      }
    }
  }
  return hsum8(acc);
}

// Q2_K: 16 groups of 16, activation block j of a super-block = groups 2j, 2j+1; lane l holds elements
// 4l..4l+3 times its group's 4-bit scale, the mins (4-bit, times each group's activation sum) in a scalar.
float dot_q2_k(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t*) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float mins = 0;
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    const uint8_t* blk = w + sb * kQ2_KBytes;
    const uint8_t* sc = blk;
    const uint8_t* qs = blk + 16;
    const float dd = half_at(blk + 80), dmin = half_at(blk + 82);
    for (int j = 0; j < 8; ++j) {
      const int64_t b = sb * 8 + j;
      const int8_t* qa = q + b * 32;
      const float scale = dd * d[b];
      int32_t half_sum[2] = {0, 0};
      for (int l = 0; l < 8; ++l) {
        int32_t s = 0;
        for (int i = 4 * l; i < 4 * l + 4; ++i) {
          s += q23_low2(qs, j, i) * qa[i];
          half_sum[l / 4] += qa[i];
        }
        acc[l] = std::fma(static_cast<float>(s * (sc[2 * j + l / 4] & 0x0f)), scale, acc[l]);
      }
      const int32_t m = (sc[2 * j] >> 4) * half_sum[0] + (sc[2 * j + 1] >> 4) * half_sum[1];
      mins += (dmin * d[b]) * static_cast<float>(m);
    }
  }
  return hsum8(acc) - mins;
}

// Q3_K: as Q2_K's lanes with the values q - 4 (q = 2 low bits | high bit << 2) and signed 6-bit scales.
float dot_q3_k(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t*) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    const uint8_t* blk = w + sb * kQ3_KBytes;
    const uint8_t* hmask = blk;
    const uint8_t* qs = blk + 32;
    int8_t sc[16];
    q3_k_scales(blk + 96, sc);
    const float dd = half_at(blk + 108);
    for (int j = 0; j < 8; ++j) {
      const int64_t b = sb * 8 + j;
      const int8_t* qa = q + b * 32;
      const float scale = dd * d[b];
      for (int l = 0; l < 8; ++l) {
        int32_t s = 0;
        for (int i = 4 * l; i < 4 * l + 4; ++i) {
          const int v = q23_low2(qs, j, i) | (((hmask[i] >> j) & 1) << 2);
          s += (v - 4) * qa[i];
        }
        acc[l] = std::fma(static_cast<float>(s * sc[2 * j + l / 4]), scale, acc[l]);
      }
    }
  }
  return hsum8(acc);
}

// IQ4_XS: Q4_K's lanes (8 groups of 32, lane l = elements 4l..4l+3) with table values and signed 6-bit
// group scales, no mins.
float dot_iq4_xs(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t*) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t sb = 0; sb < nb / 8; ++sb) {
    const uint8_t* blk = w + sb * kIQ4_XSBytes;
    const float dd = half_at(blk);
    for (int g = 0; g < 8; ++g) {
      const int64_t b = sb * 8 + g;
      const int8_t* qa = q + b * 32;
      const uint8_t* qs = blk + 8 + 16 * g;
      const float scale = dd * static_cast<float>(iq4_xs_scale(blk, g)) * d[b];
      for (int l = 0; l < 8; ++l) {
        int32_t s = 0;
        for (int i = 4 * l; i < 4 * l + 4; ++i)
          s += kIQ4NLValues[i < 16 ? (qs[i] & 0x0f) : (qs[i - 16] >> 4)] * qa[i];
        acc[l] = std::fma(static_cast<float>(s), scale, acc[l]);
      }
    }
  }
  return hsum8(acc);
}

// Q4_0 / Q8_0 / IQ4_NL with >= 8 tokens: the AVX2 kernel repacks rows so one lane holds a whole block's sum.
template <Legacy kL>
float dot_whole_blocks(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t* sum) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + b * kLegacyBytes<kL>;
    const int8_t* qa = q + b * 32;
    int32_t s = 0;
    for (int i = 0; i < 32; ++i) s += legacy_value<kL>(blk, i) * qa[i];
    if constexpr (kL == Legacy::kQ4_0) s -= 8 * sum[b];
    acc = std::fma(static_cast<float>(s), half_at(blk) * d[b], acc);
  }
  return acc;
}

// Q4_0 with one token: the AVX2 kernel takes blocks in pairs, even blocks in one accumulator lane and
// odd ones in another (an odd last block adds +0*0 to the odd lane).
float dot_q4_0_pairs(const uint8_t* w, int64_t nb, const int8_t* q, const float* d, const int32_t* sum) {
  float even = 0, odd = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w + b * kQ4_0Bytes;
    const int8_t* qa = q + b * 32;
    int32_t s = 0;
    for (int i = 0; i < 16; ++i) s += (blk[2 + i] & 0x0f) * qa[i] + (blk[2 + i] >> 4) * qa[i + 16];
    float& acc = (b % 2 == 0) ? even : odd;
    acc = std::fma(static_cast<float>(s - 8 * sum[b]), half_at(blk) * d[b], acc);
  }
  if (nb % 2 == 1) odd = std::fma(0.0f, 0.0f, odd);
  return even + odd;
}

using RowDot = float (*)(const uint8_t*, int64_t, const int8_t*, const float*, const int32_t*);

template <RowDot kDot, RowDot kDotMany = kDot, RowDot kDotOne = kDot>
void gemm_quant(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  // 8 = the AVX2 kInterleaveMinTokens
  const RowDot dot = a.n_tok >= 8 ? kDotMany : a.n_tok == 1 ? kDotOne : kDot;
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t t = 0; t < a.n_tok; ++t)
      y[t * ldy + r] = dot(w + r * row_bytes, a.nb, a.qt(t), a.dt(t), a.sumt(t));
}

// The true value of element k of a float-type row (FP8 without its block scale).
float to_float(DType t, const uint8_t* p, int64_t k) {
  uint16_t h;
  switch (t) {
    case DType::F32: {
      float f;
      std::memcpy(&f, p + 4 * k, 4);
      return f;
    }
    case DType::F16: std::memcpy(&h, p + 2 * k, 2); return f16_to_f32(h);
    case DType::BF16: std::memcpy(&h, p + 2 * k, 2); return bf16_to_f32(h);
    default: return fp8_e4m3_to_f32(p[k]);
  }
}

// The arithmetic of the AVX512-BF16 kernel (gemm_bf16_avx512bf16.cpp): activations rounded to bf16
// (nearest even), 16 lanes over pairs of K (lane j of step i takes k = 32i + 2j and 32i + 2j + 1, the
// odd product added first, each sum rounded to fp32, as vdpbf16ps is specified), lanes summed in order.
void gemm_bf16_dot(const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x, int64_t ldx,
                   int64_t n_tok, const float* /*scale*/, float* y, int64_t ldy) {
  const int64_t K32 = (K + 31) / 32 * 32;
  std::vector<float> xb(static_cast<size_t>(K32)), wf(static_cast<size_t>(K32));
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t k = 0; k < K32; ++k) xb[k] = k < K ? bf16_to_f32(f32_to_bf16(x[t * ldx + k])) : 0.0f;
    for (int64_t r = 0; r < n_rows; ++r) {
      for (int64_t k = 0; k < K32; ++k) wf[k] = k < K ? to_float(DType::BF16, w + r * row_bytes, k) : 0.0f;
      float lane[16] = {};
      for (int64_t k = 0; k < K32; k += 32)
        for (int j = 0; j < 16; ++j) {
          const int64_t k0 = k + 2 * j;
          lane[j] = lane[j] + wf[k0 + 1] * xb[k0 + 1];
          lane[j] = lane[j] + wf[k0] * xb[k0];
        }
      float s = 0.0f;
      for (float v : lane) s += v;
      y[t * ldy + r] = s;
    }
  }
}

// 8 lanes over k (lane = k % 8) of FMAs, then the SIMD fold, then a plain tail: the AVX2 order.
template <DType kType>
void gemm_float(const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x, int64_t ldx,
                int64_t n_tok, const float* scale, float* y, int64_t ldy) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(K));
  const int64_t K8 = K / 8 * 8;
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* wr = w + r * row_bytes;
    for (int64_t k = 0; k < K8; ++k) row[k] = to_float(kType, wr, k) * (scale ? scale[k / 128] : 1.0f);
    for (int64_t t = 0; t < n_tok; ++t) {
      const float* xt = x + t * ldx;
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t k = 0; k < K8; ++k) lanes[k % 8] = std::fma(row[k], xt[k], lanes[k % 8]);
      float acc = hsum8(lanes);
      for (int64_t k = K8; k < K; ++k) acc += to_float(kType, wr, k) * xt[k] * (scale ? scale[k / 128] : 1.0f);
      y[t * ldy + r] = acc;
    }
  }
}

void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu_poly(gate[i]) * up[i];
}

// The AVX2 softmax's arithmetic: exp_poly, the sum of whole 8-value chunks in 8 lanes folded as hsum8,
// plus the tail's sum.
void softmax_scalar(float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::fmax(m, x[i]);
  const int64_t n8 = n / 8 * 8;
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = exp_poly(x[i] - m);
    if (i < n8) lanes[i % 8] += x[i]; else tail += x[i];
  }
  const float inv = 1.0f / (hsum8(lanes) + tail);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace

void mla_scores_scalar(const float*, int64_t, int64_t, const float* const*, int64_t, float, float*, int64_t);
void mla_scores_f16_scalar(const float*, int64_t, int64_t, const uint16_t* const*, int64_t, float, float*, int64_t);
void mla_values_f16_scalar(const float*, int64_t, int64_t, const uint16_t* const*, int64_t, int64_t, int64_t, float*,
                           int64_t);
void mla_values_scalar(const float*, int64_t, int64_t, const float* const*, int64_t, int64_t, int64_t, float*,
                       int64_t);

FloatGemmFn bf16_dot_scalar() {
  return gemm_bf16_dot;
}

// x @ B: each output one fma chain in k order (the AVX2 tiles' lanes do the same operations).
void f32_nn_scalar(const float* x, int64_t ldx, int64_t n_tok, const float* b, int64_t ldb, int64_t N, int64_t K,
                   float* y, int64_t ldy) {
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc = std::fma(x[t * ldx + k], b[k * ldb + n], acc);
      y[t * ldy + n] = acc;
    }
}

const KernelSet& scalar_kernels() {
  static const KernelSet ks = [] {
    KernelSet k;
    k.isa = "scalar";
    k.quantize_row = quantize_row_scalar;
    k.q8_0 = gemm_quant<dot_legacy<Legacy::kQ8_0>, dot_whole_blocks<Legacy::kQ8_0>>;
    k.q4_0 = gemm_quant<dot_legacy<Legacy::kQ4_0>, dot_whole_blocks<Legacy::kQ4_0>, dot_q4_0_pairs>;
    k.iq4_nl = gemm_quant<dot_legacy<Legacy::kIQ4_NL>, dot_whole_blocks<Legacy::kIQ4_NL>>;
    k.iq4_xs = gemm_quant<dot_iq4_xs>;
    k.q5_0 = gemm_quant<dot_q5<false>>;
    k.q5_1 = gemm_quant<dot_q5<true>>;
    k.q4_k = gemm_quant<dot_q45_k<false>>;
    k.q5_k = gemm_quant<dot_q45_k<true>>;
    k.q6_k = gemm_quant<dot_q6_k>;
    k.q2_k = gemm_quant<dot_q2_k>;
    k.q3_k = gemm_quant<dot_q3_k>;
    k.q4_0_r8 = q4_0_r8_scalar();
    k.q8_0_r8 = q8_0_r8_scalar();
    k.q5_0_r8 = q5_0_r8_scalar();
    k.q5_1_r8 = q5_1_r8_scalar();
    k.q4_k_r8 = q4_k_r8_scalar();
    k.q5_k_r8 = q5_k_r8_scalar();
    k.q6_k_r8 = q6_k_r8_scalar();
    k.q2_k_r8 = q2_k_r8_scalar();
    k.q3_k_r8 = q3_k_r8_scalar();
    k.iq4_nl_r8 = iq4_nl_r8_scalar();
    k.iq4_xs_r8 = iq4_xs_r8_scalar();
    k.iq1_s_r8 = iq1_s_r8_scalar();
    k.iq1_m_r8 = iq1_m_r8_scalar();
    iq_grid_scalar(k.iq_grid);
    k.f32 = gemm_float<DType::F32>;
    k.f16 = gemm_float<DType::F16>;
    k.bf16 = gemm_float<DType::BF16>;
    k.f8_e4m3 = gemm_float<DType::F8_E4M3>;
    k.f32_nn = f32_nn_scalar;
    k.silu_mul = silu_mul_scalar;
    k.softmax = softmax_scalar;
    k.mla_scores = mla_scores_scalar;
    k.mla_values = mla_values_scalar;
    k.mla_scores_f16 = mla_scores_f16_scalar;
    k.mla_values_f16 = mla_values_f16_scalar;
    return k;
  }();
  return ks;
}

}  // namespace dsinfer::kern
