#pragma once
// What this x86-64 CPU can run, detected once at start-up (cpuid + xgetbv, so an OS that does not save
// AVX-512 state reports no AVX-512).

#include <string>

namespace dsinfer {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx512vbmi = false;
  bool avxvnni = false;

  bool has_avx2_tier() const { return avx2 && fma && f16c; }
  // The AVX-512 kernel set (kernels/cpu/gemm_r8_avx512.cpp): VNNI on 256-bit vectors (Ice Lake, Zen 4 on).
  bool has_avx512_tier() const { return has_avx2_tier() && avx512f && avx512bw && avx512vl && avx512vnni; }
  // The AVX-VNNI set (kernels/cpu/gemm_r8_avxvnni.cpp): the VEX form of vpdpbusd, on CPUs without AVX-512
  // (Alder Lake and later client chips).
  bool has_avxvnni_tier() const { return has_avx2_tier() && avxvnni; }
  std::string describe() const;  // "avx2 fma f16c avx512f ..."
};

// The features of this machine; DSINFER_ISA=scalar|avx2|avxvnni in the environment caps them (for tests
// and comparisons; avx512 or unset: no cap; any other value: a warning, no cap).
const CpuFeatures& cpu_features();

}  // namespace dsinfer
