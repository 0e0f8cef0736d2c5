// AVX-VNNI instances of the R8 kernels (gemm_r8_tiles.h, gemm_r8_panels.h), for CPUs that have the VEX
// form of vpdpbusd but no AVX-512 (Alder Lake and later client chips): the AVX2 set with its R8 kernels
// replaced, as the AVX-512 set does with the EVEX form. 16 registers: 4-token tiles, like AVX2. The
// integer sums, and so the results, equal the scalar mirror's bit for bit.

#include <immintrin.h>

#include "kernels/cpu/gemm_r8_panels.h"

namespace dsinfer::kern {
namespace {

struct AvxVnniDot {
  static constexpr bool kInt16 = false;
  static constexpr int kTile = 4;      // 16 registers
  static constexpr int kInFlight = 4;  // vpdpbusd: a latency of 4-5 cycles; more chains would spill
  static __m256i first(__m256i w, __m256i a) { return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w, a); }
  static __m256i add(__m256i sum, __m256i w, __m256i a) { return _mm256_dpbusd_avx_epi32(sum, w, a); }
  static __m256i join(__m256i x, __m256i y) { return _mm256_add_epi32(x, y); }
  static __m256i widen(__m256i sum) { return sum; }
};

}  // namespace

const KernelSet& avxvnni_kernels() {
  static const KernelSet ks = with_r8_kernels<AvxVnniDot>(avx2_kernels(), "avx-vnni");
  return ks;
}

}  // namespace dsinfer::kern
