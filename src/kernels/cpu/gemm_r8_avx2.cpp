// AVX2 instances of the R8 kernels (gemm_r8_tiles.h): the 4-value dot is vpmaddubsw, whose int16 pair
// sums are added in int16 while they cannot overflow and widened with vpmaddwd. Q4_0 from 12 tokens on
// unpacks each row group once into an L1 panel for the 4-token panel kernel of gemm_avx2.cpp.
// Scalar mirror: gemm_r8_scalar.cpp (bit for bit).

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_r8_tiles.h"

namespace dsinfer::kern {
namespace {

struct Avx2Dot {
  static constexpr bool kInt16 = true;
  static constexpr int kTile = 4;  // 16 registers
  static constexpr int kChains = 1;  // vpaddw has a latency of 1: one chain keeps the register count low
  static __m256i first(__m256i w, __m256i a) { return _mm256_maddubs_epi16(w, a); }
  static __m256i add(__m256i sum, __m256i w, __m256i a) {
    return _mm256_add_epi16(sum, _mm256_maddubs_epi16(w, a));
  }
  static __m256i join(__m256i x, __m256i y) { return _mm256_add_epi16(x, y); }
  static __m256i widen(__m256i sum) { return _mm256_madd_epi16(sum, _mm256_set1_epi16(1)); }
};

constexpr int64_t kUnpackMinTokens = 12;  // below, unpacking costs more than the tiles save

// Q4_0 with >= 8 tokens: each row group is unpacked once into an L1 panel of nibble bytes, and the
// plain layout's panel kernel runs every 4-token tile over it (no per-tile unpacking; the same integer
// sums and float operations as Q4_0R8::tile, so the results are identical).
void gemm_q4_0_r8_unpacked(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y,
                           int64_t ldy) {
  const int64_t nb = a.nb, n_tiles = a.n_pad() / 4;
  thread_local std::vector<uint8_t> q_buf;
  thread_local std::vector<float> d_buf;
  q_buf.resize(static_cast<size_t>(nb * 256 + 32));
  d_buf.resize(static_cast<size_t>(nb * kGroup));
  uint8_t* q = q_buf.data() + (32 - reinterpret_cast<uintptr_t>(q_buf.data()) % 32) % 32;  // 32-byte aligned
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  alignas(32) float out[4 * kGroup];
  for (int64_t r = 0; r < n_rows; r += kGroup) {
    const uint8_t* g = w + (r / kGroup) * kGroup * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = g + b * Q4_0R8<Avx2Dot>::kBlock;
      _mm256_storeu_ps(d_buf.data() + b * kGroup, row_scales(blk));
      for (int c = 0; c < 4; ++c) {  // chunk c: values 4c..4c+3 (low nibbles) and 16+4c.. (high)
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * c));
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + b * 256 + 32 * c), _mm256_and_si256(x, m4));
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + b * 256 + 32 * (4 + c)),
                           _mm256_and_si256(_mm256_srli_epi16(x, 4), m4));
      }
    }
    for (int64_t tile = 0; tile < n_tiles; ++tile) {
      panel_q4_0_tok4(q, d_buf.data(), a, tile, out);
      const int64_t nt = std::min<int64_t>(4, a.n_tok - tile * 4);
      for (int64_t t = 0; t < nt; ++t)
        std::memcpy(y + (tile * 4 + t) * ldy + r, out + t * kGroup, kGroup * sizeof(float));
    }
  }
}

void gemm_q4_0_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  if (a.n_tok >= kUnpackMinTokens) return gemm_q4_0_r8_unpacked(w, row_bytes, n_rows, a, y, ldy);
  gemm_r8<Q4_0R8<Avx2Dot>>(w, row_bytes, n_rows, a, y, ldy);
}

}  // namespace

QuantGemmFn q4_0_r8_avx2() {
  return gemm_q4_0_r8;
}
QuantGemmFn q8_0_r8_avx2() {
  return gemm_r8<Q8_0R8<Avx2Dot>>;
}
QuantGemmFn q4_k_r8_avx2() {
  return gemm_r8<QK45R8<Avx2Dot, false>>;
}
QuantGemmFn q5_k_r8_avx2() {
  return gemm_r8<QK45R8<Avx2Dot, true>>;
}
QuantGemmFn q6_k_r8_avx2() {
  return gemm_r8<Q6_KR8<Avx2Dot>>;
}

}  // namespace dsinfer::kern
