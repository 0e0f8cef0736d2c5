// AVX-512 VNNI instances of the R8 kernels (gemm_r8_tiles.h, gemm_r8_panels.h): the 4-value dot is
// vpdpbusd on 256-bit vectors (AVX512-VL), one instruction where AVX2 needs vpmaddubsw + vpaddw
// (+ vpmaddwd), with int32 sums that never overflow. The integer sums, and so every float operation after
// them, are those of the AVX2 and scalar kernels: the results are the same bit for bit. The prefill panels
// of the int32-dot formats run their tokens on 512-bit vectors (gemm_r8_panels_zmm.h). BF16 weights use
// vdpbf16ps where the CPU has AVX512-BF16 (gemm_bf16_avx512bf16.cpp); every other kernel of the set is
// AVX2's.

#include <immintrin.h>

#include "kernels/cpu/gemm_r8_panels_zmm.h"
#include "util/cpu_features.h"

namespace dsinfer::kern {
namespace {

struct VnniDot {
  static constexpr bool kInt16 = false;
  static constexpr int kTile = 8;      // 32 registers (AVX512-VL)
  static constexpr int kInFlight = 8;  // vpdpbusd: latency 5, two per cycle (Sapphire Rapids)
  static __m256i first(__m256i w, __m256i a) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a); }
  static __m256i add(__m256i sum, __m256i w, __m256i a) { return _mm256_dpbusd_epi32(sum, w, a); }
  static __m256i join(__m256i x, __m256i y) { return _mm256_add_epi32(x, y); }
  static __m256i widen(__m256i sum) { return sum; }
};

}  // namespace

const KernelSet& avx512_kernels() {
  static const KernelSet ks = [] {
    KernelSet k = with_r8_kernels<VnniDot, ZmmTokens>(avx2_kernels(), "avx512-vnni");
    if (cpu_features().avx512bf16) {  // BF16 weights: vdpbf16ps on bf16-rounded activations
      k.bf16 = bf16_dot_avx512bf16();
      k.bf16_rounds_activations = true;
    }
    return k;
  }();
  return ks;
}

}  // namespace dsinfer::kern
