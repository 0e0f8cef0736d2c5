// The one place that picks kernels by CPU features (and, through KernelSet, by weight dtype).

#include "kernels/cpu/gemm.h"

#include <emmintrin.h>  // (SSE2: every x86-64)

#include <algorithm>

#include "util/cpu_features.h"

namespace dsinfer::kern {

QuantGemmFn KernelSet::quant_for(DType t) const {
  switch (t) {
    case DType::Q8_0: return q8_0;
    case DType::Q4_0: return q4_0;
    case DType::Q5_0: return q5_0;
    case DType::Q5_1: return q5_1;
    case DType::Q4_K: return q4_k;
    case DType::Q5_K: return q5_k;
    case DType::Q6_K: return q6_k;
    case DType::Q2_K: return q2_k;
    case DType::Q3_K: return q3_k;
    case DType::IQ4_NL: return iq4_nl;
    case DType::IQ4_XS: return iq4_xs;
    case DType::Q4_0_R8: return q4_0_r8;
    case DType::Q8_0_R8: return q8_0_r8;
    case DType::Q4_K_R8: return q4_k_r8;
    case DType::Q5_K_R8: return q5_k_r8;
    case DType::Q6_K_R8: return q6_k_r8;
    case DType::Q5_0_R8: return q5_0_r8;
    case DType::Q5_1_R8: return q5_1_r8;
    case DType::Q2_K_R8: return q2_k_r8;
    case DType::Q3_K_R8: return q3_k_r8;
    case DType::IQ4_NL_R8: return iq4_nl_r8;
    case DType::IQ4_XS_R8: return iq4_xs_r8;
    case DType::IQ1_S_R8: return iq1_s_r8;
    case DType::IQ1_M_R8: return iq1_m_r8;
    case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: case DType::IQ3_XXS: case DType::IQ3_S:
    case DType::IQ1_S: case DType::IQ1_M: return iq_grid[static_cast<size_t>(iq_grid_slot(t))];
    default: return nullptr;
  }
}

FloatGemmFn KernelSet::float_for(DType t) const {
  switch (t) {
    case DType::F32: return f32;
    case DType::F16: return f16;
    case DType::BF16: return bf16;
    case DType::F8_E4M3: return f8_e4m3;
    default: return nullptr;
  }
}

const KernelSet& active_kernels() {
  const CpuFeatures& f = cpu_features();
  static const KernelSet& ks = f.has_avx512_tier()    ? avx512_kernels()
                               : f.has_avxvnni_tier() ? avxvnni_kernels()
                               : f.has_avx2_tier()    ? avx2_kernels()
                                                      : scalar_kernels();
  return ks;
}

void finish_layout(ActQ8& a) {
  const int64_t n_pad = a.n_pad(), nb = a.nb;
  a.q.resize(static_cast<size_t>(n_pad * a.K));
  a.d.resize(static_cast<size_t>(n_pad * nb));
  a.sum.resize(static_cast<size_t>(n_pad * nb));
  a.sum16.resize(static_cast<size_t>(n_pad * nb));
  a.sum8p.resize(static_cast<size_t>(n_pad * nb * 2));
  a.d4.resize(static_cast<size_t>(n_pad * nb));
  a.sum4.resize(static_cast<size_t>(n_pad * nb));
  a.u.resize(a.n_tok >= kPanelMinTokens ? static_cast<size_t>(a.n_tok * a.K) : 0);
  // Padding tokens: q = 0, d = 0, sums 0. Nothing writes past n_tok (quantization, gathers), so with the
  // layout of the previous call they are zero already (a decode step reuses each input's layout).
  if (a.zero_pad_n_tok == a.n_tok && a.zero_pad_K == a.K) return;
  for (int64_t t = a.n_tok; t < n_pad; ++t) {
    std::fill_n(a.q.data() + t * a.K, a.K, int8_t{0});
    std::fill_n(a.d.data() + t * nb, nb, 0.0f);
    std::fill_n(a.sum.data() + t * nb, nb, 0);
    std::fill_n(a.sum16.data() + t * nb, nb, 0);
    std::fill_n(a.sum8p.data() + t * nb * 2, nb * 2, 0);
  }
  a.zero_pad_n_tok = a.n_tok;
  a.zero_pad_K = a.K;
}

void finish_tokens(ActQ8& a, int64_t t0, int64_t t1) {
  const int64_t nb = a.nb;
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  for (int64_t i = t0 * nb; i < t1 * nb; ++i) {  // sums of 8 q: SAD of q + 128, minus 8 * 128
    const __m128i* q = reinterpret_cast<const __m128i*>(a.q.data() + i * kActBlock);
    const __m128i s0 = _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128(q), flip), _mm_setzero_si128());
    const __m128i s1 = _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128(q + 1), flip), _mm_setzero_si128());
    const int32_t g[4] = {_mm_cvtsi128_si32(s0) - 8 * 128, _mm_extract_epi16(s0, 4) - 8 * 128,
                          _mm_cvtsi128_si32(s1) - 8 * 128, _mm_extract_epi16(s1, 4) - 8 * 128};
    a.sum16[static_cast<size_t>(i)] = g[0] + g[1];
    for (int h = 0; h < 2; ++h)  // (|A| <= 8 * 128: an int16 each)
      a.sum8p[static_cast<size_t>(2 * i + h)] =
          static_cast<int32_t>((static_cast<uint32_t>(g[2 * h + 1]) << 16) | (static_cast<uint32_t>(g[2 * h]) & 0xffff));
  }
  if (!a.u.empty()) {  // q + 128, 16 bytes at a time (K is a multiple of 32; byte by byte this loop reloaded the
                       // vectors' data pointers per byte, the uint8_t stores may alias them: 2.6 % of a pp512)
    const int8_t* q = a.q.data() + t0 * a.K;
    uint8_t* u = a.u.data() + t0 * a.K;
    for (int64_t i = 0; i < (t1 - t0) * a.K; i += 16)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(u + i),
                       _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i)), flip));
  }
  const int64_t tile_end = t1 == a.n_tok ? a.n_pad() / kTokTile : t1 / kTokTile;  // (the last one padded)
  for (int64_t tile = t0 / kTokTile; tile < tile_end; ++tile)
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t i = 0; i < kTokTile; ++i) {
        a.d4[(tile * nb + b) * kTokTile + i] = a.d[(tile * kTokTile + i) * nb + b];
        a.sum4[(tile * nb + b) * kTokTile + i] = a.sum[(tile * kTokTile + i) * nb + b];
      }
}

void finish_tiles(ActQ8& a) {
  finish_layout(a);
  finish_tokens(a, 0, a.n_tok);
}

void quantize_act(const KernelSet& ks, const float* x, int64_t ldx, int64_t n_tok, int64_t K, ActQ8& a) {
  a.n_tok = n_tok;
  a.K = K;
  a.nb = K / kActBlock;
  const int64_t n_pad = a.n_pad();
  a.q.resize(static_cast<size_t>(n_pad * K));
  a.d.resize(static_cast<size_t>(n_pad * a.nb));
  a.sum.resize(static_cast<size_t>(n_pad * a.nb));
  for (int64_t t = 0; t < n_tok; ++t)
    ks.quantize_row(x + t * ldx, K, a.q.data() + t * K, a.d.data() + t * a.nb, a.sum.data() + t * a.nb);
  finish_tiles(a);
}

}  // namespace dsinfer::kern
