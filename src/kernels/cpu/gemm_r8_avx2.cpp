// AVX2 instances of the R8 kernels (gemm_r8_tiles.h): the 4-value dot is vpmaddubsw, whose int16 pair
// sums are added in int16 while they cannot overflow and widened with vpmaddwd. From 12 tokens on,
// Q4_0, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K run the signed L1 panels of gemm_r8_panels.h (Q8_0's values
// do not fit them: 2 * 255 * 127 overflows int16). panel_q4_0_tok4 serves the plain Q4_0 layout's prefill
// (gemm_avx2.cpp). avx2_int32dot_kernels(): the VNNI sets' code paths on AVX2, for the tests.
// Scalar mirror: gemm_r8_scalar.cpp (bit for bit).

#include <immintrin.h>


#include "kernels/cpu/gemm_r8_panels.h"
#include "kernels/cpu/gemm_r8_tiles.h"

namespace dsinfer::kern {
namespace {

struct Avx2Dot {
  static constexpr bool kInt16 = true;
  static constexpr int kTile = 4;  // 16 registers
  static constexpr int kInFlight = 1;  // vpaddw has a latency of 1: one chain keeps the register count low
  static __m256i first(__m256i w, __m256i a) { return _mm256_maddubs_epi16(w, a); }
  static __m256i add(__m256i sum, __m256i w, __m256i a) {
    return _mm256_add_epi16(sum, _mm256_maddubs_epi16(w, a));
  }
  static __m256i join(__m256i x, __m256i y) { return _mm256_add_epi16(x, y); }
  static __m256i widen(__m256i sum) { return _mm256_madd_epi16(sum, _mm256_set1_epi16(1)); }
};

// vpdpbusd's contract (int32 lane sums of 4 u8 x s8 products, exact for every input) built from
// vpmaddwd on the even and odd bytes widened to int16, with the VNNI set's tile and chain counts: the code
// paths the AVX-512 and AVX-VNNI sets take (!kInt16, the Q8_0 panel too), on any AVX2 CPU. Slow (8-token
// tiles spill 16 registers): for the tests only.
struct Int32DotOnAvx2 {
  static constexpr bool kInt16 = false;
  static constexpr int kTile = 8;
  static constexpr int kInFlight = 8;
  static __m256i first(__m256i w, __m256i a) {
    const __m256i w_even = _mm256_and_si256(w, _mm256_set1_epi16(0x00ff)), w_odd = _mm256_srli_epi16(w, 8);
    const __m256i a_even = _mm256_srai_epi16(_mm256_slli_epi16(a, 8), 8), a_odd = _mm256_srai_epi16(a, 8);
    return _mm256_add_epi32(_mm256_madd_epi16(w_even, a_even), _mm256_madd_epi16(w_odd, a_odd));
  }
  static __m256i add(__m256i sum, __m256i w, __m256i a) { return _mm256_add_epi32(sum, first(w, a)); }
  static __m256i join(__m256i x, __m256i y) { return _mm256_add_epi32(x, y); }
  static __m256i widen(__m256i sum) { return sum; }
};

// The int32 sums of an unpacked Q4_0 panel's block (8 chunk vectors of nibble values 0..15, 8 rows each:
// 8 x 2 x 15 * 127 fits in int16) with the 4 tokens of a tile: s32[t] per row.
inline void panel_block_sums(const uint8_t* block, const TileActs& ta, int64_t b, __m256i s32[4]) {
  const __m256i* wq = reinterpret_cast<const __m256i*>(block);
  __m256i w[8];
  for (int c = 0; c < 8; ++c) w[c] = _mm256_load_si256(wq + c);
  for (int t = 0; t < 4; ++t) {
    const int32_t* at = reinterpret_cast<const int32_t*>(ta.q[t] + b * 32);
    __m256i s16 = _mm256_maddubs_epi16(w[0], _mm256_set1_epi32(at[0]));
    for (int c = 1; c < 8; ++c) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(w[c], _mm256_set1_epi32(at[c])));
    s32[t] = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
  }
}

}  // namespace

// The 8 rows of an unpacked Q4_0 panel · the 4 tokens of `tile`: out[t * 8 + row] (declared in gemm.h;
// the plain layout's prefill kernel of gemm_avx2.cpp runs it too).
void panel_q4_0_tok4(const uint8_t* q, const float* d, const ActQ8& a, int64_t tile, float* out) {
  const TileActs ta(a, tile);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < a.nb; ++b) {
    const __m256 dw = _mm256_loadu_ps(d + b * kGroup);
    __m256i s32[4];
    panel_block_sums(q + b * 256, ta, b, s32);
    for (int t = 0; t < 4; ++t) {
      const __m256i si = _mm256_sub_epi32(s32[t], _mm256_set1_epi32(ta.s4[b * 4 + t] << 3));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), _mm256_mul_ps(dw, _mm256_set1_ps(ta.d4[b * 4 + t])), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(out + t * 8, acc[t]);
}

QuantGemmFn q4_0_r8_avx2() {
  return gemm_panels<PanelNibble<Avx2Dot, 4, false>>;
}
QuantGemmFn q8_0_r8_avx2() {
  return gemm_r8<Q8_0R8<Avx2Dot>>;
}
QuantGemmFn q5_0_r8_avx2() {
  return gemm_panels<PanelNibble<Avx2Dot, 5, false>>;
}
QuantGemmFn q5_1_r8_avx2() {
  return gemm_panels<PanelNibble<Avx2Dot, 5, true>>;  // (with Q5_1's + m term)
}
QuantGemmFn q4_k_r8_avx2() {
  return gemm_panels<PanelQK45<Avx2Dot, false>>;
}
QuantGemmFn q5_k_r8_avx2() {
  return gemm_panels<PanelQK45<Avx2Dot, true>>;
}
QuantGemmFn q6_k_r8_avx2() {
  return gemm_panels<PanelQ6_K<Avx2Dot>>;
}
QuantGemmFn q2_k_r8_avx2() {
  return gemm_panels<PanelQ23_K<Avx2Dot, false>>;
}
QuantGemmFn q3_k_r8_avx2() {
  return gemm_panels<PanelQ23_K<Avx2Dot, true>>;
}
QuantGemmFn iq4_nl_r8_avx2() {
  return gemm_r8<IQ4R8<Avx2Dot, false>>;
}
QuantGemmFn iq4_xs_r8_avx2() {
  return gemm_r8<IQ4R8<Avx2Dot, true>>;
}
QuantGemmFn iq1_s_r8_avx2() {
  return gemm_r8<IQ1SR8<Avx2Dot>>;
}
QuantGemmFn iq1_m_r8_avx2() {
  return gemm_r8<IQ1MR8<Avx2Dot>>;
}

const KernelSet& avx2_int32dot_kernels() {
  static const KernelSet ks = with_r8_kernels<Int32DotOnAvx2>(avx2_kernels(), "avx2-int32dot (tests)");
  return ks;
}

}  // namespace dsinfer::kern
