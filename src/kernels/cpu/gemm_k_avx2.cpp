// AVX2 kernels for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) and IQ4_XS in their GGUF layout. Each row's super-block is
// decoded once (scales, mins, nibbles, high bits) and used for a tile of up to 4 tokens, so prefill and
// experts with several tokens stop paying the unpacking per token. Every token's accumulation is the
// exact sequence of the one-token kernel — per group an 8-lane int32 dot product, one FMA with the
// group's scale, the mins in a scalar sum, the SIMD fold at the end — so results do not depend on the
// tile and equal the scalar mirror in gemm_scalar.cpp bit for bit.

#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_blocks.h"
#include "kernels/cpu/gemm_row_tiles.h"

namespace dsinfer::kern {
namespace {

inline float h2f(const uint8_t* p) {
  uint16_t h;
  __builtin_memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i load_k4_nibbles(const uint8_t* qs, int g) {  // 32 values of group g of a Q4_K/Q5_K block
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (g / 2)));
  return _mm256_and_si256((g & 1) ? _mm256_srli_epi16(x, 4) : x, _mm256_set1_epi8(0x0f));
}

inline __m256i act(const ActQ8& a, int64_t t, int64_t b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qt(t) + b * 32));
}

// One row · tokens [t0, t0 + kT): out[t].
template <bool kFifthBit, int kT>
void q45_k_tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
  const size_t bytes = kFifthBit ? kQ5_KBytes : kQ4_KBytes;
  __m256 acc[kT];
  float mins[kT];
  const int8_t* q[kT];
  const float* d[kT];
  const int32_t* sum[kT];
  for (int t = 0; t < kT; ++t) {
    acc[t] = _mm256_setzero_ps();
    mins[t] = 0;
    q[t] = a.qt(t0 + t);
    d[t] = a.dt(t0 + t);
    sum[t] = a.sumt(t0 + t);
  }
  for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
    const uint8_t* blk = w + sb * bytes;
    const float dd = h2f(blk), dmin = h2f(blk + 2);
    uint8_t sc[8], mn[8];
    k4_scales_mins(blk + 4, sc, mn);
    const uint8_t* qs = blk + (kFifthBit ? 48 : 16);
    __m256i qh =
        kFifthBit ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16)) : _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const int64_t b = sb * 8 + g;
      __m256i v = load_k4_nibbles(qs, g);
      if constexpr (kFifthBit) {
        // bit g of qh byte l -> bit 4 of value l
        const __m256i bit = _mm256_and_si256(qh, _mm256_set1_epi8(1));
        v = _mm256_or_si256(v, _mm256_slli_epi16(bit, 4));
        qh = _mm256_srli_epi16(qh, 1);
      }
      const float dsc = dd * static_cast<float>(sc[g]), dmn = dmin * static_cast<float>(mn[g]);
      for (int t = 0; t < kT; ++t) {
        const float da = d[t][b];
        const __m256i s = dot_u8s8(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q[t] + b * 32)));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dsc * da), acc[t]);
        mins[t] += (dmn * da) * static_cast<float>(sum[t][b]);
      }
    }
  }
  for (int t = 0; t < kT; ++t) out[t] = hsum(acc[t]) - mins[t];
}

template <int kT>
void q6_k_tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
  __m256 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i k32 = _mm256_set1_epi8(32), m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
  for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
    const uint8_t* blk = w + sb * kQ6_KBytes;
    const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
    const float dd = h2f(blk + 208);
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * h + 32));
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h));
      for (int quarter = 0; quarter < 4; ++quarter) {
        const __m256i lo = (quarter & 1) ? l1 : l0;
        const __m256i low4 = _mm256_and_si256(quarter >> 1 ? _mm256_srli_epi16(lo, 4) : lo, m4);
        const __m256i hi2 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * quarter), m3);
        const __m256i v = _mm256_or_si256(low4, _mm256_slli_epi16(hi2, 4));
        const int64_t b = sb * 8 + 4 * h + quarter;
        const int16_t s0 = sc[8 * h + 2 * quarter], s1 = sc[8 * h + 2 * quarter + 1];
        const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0));
        for (int t = 0; t < kT; ++t) {
          const __m256i av = act(a, t0 + t, b);
          const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(v, av), _mm256_maddubs_epi16(k32, av));
          const __m256i s = _mm256_madd_epi16(p, scales);
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dd * a.dt(t0 + t)[b]), acc[t]);
        }
      }
    }
  }
  for (int t = 0; t < kT; ++t) out[t] = hsum(acc[t]);
}

// Q2_K and Q3_K: per activation block j of a super-block, the 32 values' 2 low bits from the qs half j / 4
// (Q3_K: | the high bit j of each hmask byte << 2), one vpmaddubsw per token and a vpmaddwd with the two
// groups' scales (low 128 bits: group 2j, high: 2j + 1). Q3_K's values are q - 4: the products of 4 are
// subtracted in int16 (|7 a| + |4 a| pairs fit). Q2_K's mins: an integer per block (the groups' 4-bit mins
// times their activation sums, sum16 and sum - sum16), then a scalar FMA-free sum, as the scalar mirror.
template <bool kQ3, int kT>
void q23_k_tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
  __m256 acc[kT];
  float mins[kT];
  for (int t = 0; t < kT; ++t) {
    acc[t] = _mm256_setzero_ps();
    mins[t] = 0;
  }
  const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), k4 = _mm256_set1_epi8(4);
  for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
    const uint8_t* blk = w + sb * (kQ3 ? kQ3_KBytes : kQ2_KBytes);
    const uint8_t* qs = blk + (kQ3 ? 32 : 16);
    int8_t sc[16];
    if constexpr (kQ3) q3_k_scales(blk + 96, sc);
    const float dd = h2f(blk + (kQ3 ? 108 : 80)), dmin = kQ3 ? 0.0f : h2f(blk + 82);
    const __m256i hm = kQ3 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)) : _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const int64_t b = sb * 8 + j;
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (j / 4)));
      __m256i v = _mm256_and_si256(_mm256_srli_epi16(x, 2 * (j % 4)), m3);
      if constexpr (kQ3) v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, j), one), 2));
      const int16_t s0 = kQ3 ? sc[2 * j] : blk[2 * j] & 0x0f, s1 = kQ3 ? sc[2 * j + 1] : blk[2 * j + 1] & 0x0f;
      const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0));
      for (int t = 0; t < kT; ++t) {
        const __m256i av = act(a, t0 + t, b);
        __m256i p = _mm256_maddubs_epi16(v, av);
        if constexpr (kQ3) p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(k4, av));
        const __m256i s = _mm256_madd_epi16(p, scales);
        const float da = a.dt(t0 + t)[b];
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dd * da), acc[t]);
        if constexpr (!kQ3) {
          const int32_t s16 = a.sum16t(t0 + t)[b], s32 = a.sumt(t0 + t)[b];
          const int32_t m = (blk[2 * j] >> 4) * s16 + (blk[2 * j + 1] >> 4) * (s32 - s16);
          mins[t] += (dmin * da) * static_cast<float>(m);
        }
      }
    }
  }
  for (int t = 0; t < kT; ++t) out[t] = hsum(acc[t]) - mins[t];
}

// IQ4_XS: per group of 32 the 16 nibble bytes, low nibbles (elements 0-15) in the low 128 bits and high
// nibbles (16-31) in the high, looked up in the value table with one byte shuffle; the values are signed,
// so each token's dot is |v| against sign(a, v) (Q8_0's trick: |v| <= 127 keeps vpmaddubsw's pairs in
// int16), then one FMA with the group's d (sc - 32) d_a.
template <int kT>
void iq4_xs_tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
  __m256 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)));
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
    const uint8_t* blk = w + sb * kIQ4_XSBytes;
    const float dd = h2f(blk);
    for (int g = 0; g < 8; ++g) {
      const int64_t b = sb * 8 + g;
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 8 + 16 * g));
      const __m256i v = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), m4));
      const __m256i v_abs = _mm256_sign_epi8(v, v);
      const float scale = dd * static_cast<float>(iq4_xs_scale(blk, g));
      for (int t = 0; t < kT; ++t) {
        const __m256i s = dot_u8s8(v_abs, _mm256_sign_epi8(act(a, t0 + t, b), v));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(scale * a.dt(t0 + t)[b]), acc[t]);
      }
    }
  }
  for (int t = 0; t < kT; ++t) out[t] = hsum(acc[t]);
}

template <bool kFifthBit>
struct Q45Tile {
  template <int kT>
  static void run(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
    q45_k_tile<kFifthBit, kT>(w, a, t0, out);
  }
};
template <bool kQ3>
struct Q23Tile {
  template <int kT>
  static void run(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
    q23_k_tile<kQ3, kT>(w, a, t0, out);
  }
};
struct IQ4XSTile {
  template <int kT>
  static void run(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
    iq4_xs_tile<kT>(w, a, t0, out);
  }
};
struct Q6Tile {
  template <int kT>
  static void run(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
    q6_k_tile<kT>(w, a, t0, out);
  }
};

}  // namespace

QuantGemmFn q4_k_avx2() {
  return gemm_row_tiles<Q45Tile<false>>;
}
QuantGemmFn q5_k_avx2() {
  return gemm_row_tiles<Q45Tile<true>>;
}
QuantGemmFn q6_k_avx2() {
  return gemm_row_tiles<Q6Tile>;
}
QuantGemmFn q2_k_avx2() {
  return gemm_row_tiles<Q23Tile<false>>;
}
QuantGemmFn q3_k_avx2() {
  return gemm_row_tiles<Q23Tile<true>>;
}
QuantGemmFn iq4_xs_avx2() {
  return gemm_row_tiles<IQ4XSTile>;
}

}  // namespace dsinfer::kern
