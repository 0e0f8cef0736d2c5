// AVX2 kernels of the grid i-quants (tensor/quant_iq_grid.h) in their GGUF layout. Per 32-value group the
// lattice points are gathered into one vector (4 x 8 or 8 x 4 table bytes), their signs applied from the
// sign bytes (or, for IQ1, the +-1 delta added to 8 x the -1/0/1 points), and that signed vector w is used
// for a tile of up to 4 tokens: |w| . sign(q_a, w) by vpmaddubsw (|w| <= 62, so pairs stay below 2^15), then
// vpmaddwd by the two halves' odd scales 2 s + 1, one FMA with d * step * d_a. The scalar mirror
// (gemm_iq_grid_scalar.cpp) does the same integer lanes and float operations: equal bit for bit.

#include <immintrin.h>

#include <array>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_row_tiles.h"
#include "tensor/quant_iq_grid.h"

namespace dsinfer::kern {
namespace {

// Sign code c (0..127) as 8 bytes of +1 / -1 (iq_sign_byte's bits), for vpsignb.
constexpr std::array<uint64_t, 128> kSignsOfCode = [] {
  std::array<uint64_t, 128> t{};
  for (uint32_t c = 0; c < 128; ++c) {
    const uint8_t b = iq_sign_byte(c);
    for (int j = 0; j < 8; ++j) t[c] |= static_cast<uint64_t>((b >> j) & 1 ? 0xff : 0x01) << (8 * j);
  }
  return t;
}();

inline uint64_t load8(const void* p) {
  uint64_t v;
  __builtin_memcpy(&v, p, 8);
  return v;
}
inline uint32_t load4(const void* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}
inline uint16_t load2(const void* p) {
  uint16_t v;
  __builtin_memcpy(&v, p, 2);
  return v;
}

// 4 lattice points of 8 bytes: bytes 8l .. 8l+7 = point l.
inline __m256i points8(const void* p0, const void* p1, const void* p2, const void* p3) {
  return _mm256_set_epi64x(static_cast<long long>(load8(p3)), static_cast<long long>(load8(p2)),
                           static_cast<long long>(load8(p1)), static_cast<long long>(load8(p0)));
}
// 8 lattice points of 4 bytes (IQ3).
inline __m256i points4(const uint8_t (*grid)[4], const uint32_t* idx) {
  return _mm256_set_epi32(static_cast<int>(load4(grid[idx[7]])), static_cast<int>(load4(grid[idx[6]])),
                          static_cast<int>(load4(grid[idx[5]])), static_cast<int>(load4(grid[idx[4]])),
                          static_cast<int>(load4(grid[idx[3]])), static_cast<int>(load4(grid[idx[2]])),
                          static_cast<int>(load4(grid[idx[1]])), static_cast<int>(load4(grid[idx[0]])));
}

// v with byte i negated where bit i % 8 of sign byte i / 8 of `signs` (4 bytes) is set.
inline __m256i apply_signs(__m256i v, uint32_t signs) {
  const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  const __m256i bits = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i s = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(signs)), spread);
  const __m256i neg = _mm256_cmpeq_epi8(_mm256_and_si256(s, bits), bits);
  return _mm256_sub_epi8(_mm256_xor_si256(v, neg), neg);
}

// The +-1 bytes of 4 sign codes (7 bits each, from bit 0 of aux), values 8l .. 8l+7 under code l.
inline __m256i code_signs(uint32_t aux) {
  return points8(&kSignsOfCode[aux & 127], &kSignsOfCode[(aux >> 7) & 127], &kSignsOfCode[(aux >> 14) & 127],
                 &kSignsOfCode[(aux >> 21) & 127]);
}

// The block's d (iq_grid_d; not called from here: header inline code built with -mavx2 must not be shared
// with other TUs).
template <DType T>
inline float block_d(const uint8_t* blk) {
  if constexpr (T == DType::IQ1_M) {
    const int h = (load2(blk + 48) >> 12) | ((load2(blk + 50) >> 8) & 0x00f0) | ((load2(blk + 52) >> 4) & 0x0f00) |
                  (load2(blk + 54) & 0xf000);
    return _cvtsh_ss(static_cast<unsigned short>(h));
  } else {
    return _cvtsh_ss(load2(blk));
  }
}

// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), the scalar mirror's hsum8.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// IQ1: 8 x (-1/0/1 points) + delta, delta = +-1 per 8 values (bytes of `delta`).
inline __m256i iq1_values(__m256i points, __m256i delta) {
  const __m256i x8 = _mm256_and_si256(_mm256_slli_epi16(points, 3), _mm256_set1_epi8(static_cast<char>(0xf8)));
  return _mm256_add_epi8(x8, delta);
}

template <DType T>
constexpr size_t kBlockBytes = T == DType::IQ2_XXS ? 66 : T == DType::IQ2_XS ? 74 : T == DType::IQ2_S ? 82
                               : T == DType::IQ3_XXS ? 98 : T == DType::IQ3_S ? 110 : T == DType::IQ1_S ? 50 : 56;

// A group as the kernel uses it: w signed, m the odd half scales 2 s + 1 as int16 lanes (elements 0..15 in the
// low 128 bits, 16..31 in the high).
struct Group {
  __m256i v, m;
};
inline __m256i odd_scale(uint32_t s) { return _mm256_set1_epi16(static_cast<short>(2 * s + 1)); }
inline __m256i odd_scales(uint32_t s0, uint32_t s1) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(2 * s1 + 1)), _mm_set1_epi16(static_cast<short>(2 * s0 + 1)));
}

// Group g of a block (what iq_grid_group gives).
template <DType T>
inline Group group(const uint8_t* blk, int g) {
  if constexpr (T == DType::IQ2_XXS) {
    const uint8_t* idx = blk + 2 + 8 * g;
    const uint32_t aux = load4(idx + 4);
    return {_mm256_sign_epi8(points8(kIQ2XXSGrid[idx[0]], kIQ2XXSGrid[idx[1]], kIQ2XXSGrid[idx[2]], kIQ2XXSGrid[idx[3]]),
                             code_signs(aux)),
            odd_scale(aux >> 28)};
  } else if constexpr (T == DType::IQ3_XXS) {
    const uint8_t* idx = blk + 2 + 8 * g;
    const uint32_t aux = load4(blk + 2 + 64 + 4 * g);
    const uint32_t i[8] = {idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6], idx[7]};
    return {_mm256_sign_epi8(points4(kIQ3XXSGrid, i), code_signs(aux)), odd_scale(aux >> 28)};
  } else if constexpr (T == DType::IQ2_XS) {
    const uint8_t* qs = blk + 2 + 8 * g;
    uint32_t q[4];
    for (int l = 0; l < 4; ++l) q[l] = load2(qs + 2 * l);
    const __m256i signs =
        points8(&kSignsOfCode[q[0] >> 9], &kSignsOfCode[q[1] >> 9], &kSignsOfCode[q[2] >> 9], &kSignsOfCode[q[3] >> 9]);
    return {_mm256_sign_epi8(points8(kIQ2XSGrid[q[0] & 511], kIQ2XSGrid[q[1] & 511], kIQ2XSGrid[q[2] & 511],
                                     kIQ2XSGrid[q[3] & 511]),
                             signs),
            odd_scales(blk[66 + g] & 15u, blk[66 + g] >> 4)};
  } else if constexpr (T == DType::IQ2_S) {
    const uint8_t* idx = blk + 2 + 4 * g;
    const uint32_t qh = blk[66 + g];
    return {apply_signs(points8(kIQ2SGrid[idx[0] | (qh & 3) << 8], kIQ2SGrid[idx[1] | (qh & 12) << 6],
                                kIQ2SGrid[idx[2] | (qh & 48) << 4], kIQ2SGrid[idx[3] | (qh & 192) << 2]),
                        load4(blk + 34 + 4 * g)),
            odd_scales(blk[74 + g] & 15u, blk[74 + g] >> 4)};
  } else if constexpr (T == DType::IQ3_S) {
    const uint8_t* idx = blk + 2 + 8 * g;
    const uint32_t qh = blk[66 + g];
    uint32_t i[8];
    for (int k = 0; k < 8; ++k) i[k] = idx[k] | ((qh >> k) & 1) << 8;
    return {apply_signs(points4(kIQ3SGrid, i), load4(blk + 74 + 4 * g)),
            odd_scale((blk[106 + g / 2] >> (4 * (g % 2))) & 15u)};
  } else if constexpr (T == DType::IQ1_S) {
    const uint8_t* idx = blk + 2 + 4 * g;
    const uint32_t qh = load2(blk + 34 + 2 * g);
    const __m256i p = points8(kIQ1SGrid[idx[0] | (qh & 7) << 8], kIQ1SGrid[idx[1] | (qh & 0x38) << 5],
                              kIQ1SGrid[idx[2] | (qh & 0x1c0) << 2], kIQ1SGrid[idx[3] | (qh & 0xe00) >> 1]);
    return {iq1_values(p, _mm256_set1_epi8(qh & 0x8000 ? -1 : 1)), odd_scale((qh >> 12) & 7)};
  } else {
    static_assert(T == DType::IQ1_M, "not a grid i-quant");
    const uint8_t* idx = blk + 4 * g;
    const uint32_t sc = load2(blk + 48 + 2 * (g / 2)) >> (6 * (g % 2));
    const uint32_t h0 = blk[32 + 2 * g], h1 = blk[33 + 2 * g];
    const __m256i p = points8(kIQ1SGrid[idx[0] | (h0 & 7) << 8], kIQ1SGrid[idx[1] | (h0 & 0x70) << 4],
                              kIQ1SGrid[idx[2] | (h1 & 7) << 8], kIQ1SGrid[idx[3] | (h1 & 0x70) << 4]);
    const auto delta = [](uint32_t nib) {
      return static_cast<long long>(nib & 8 ? 0xffffffffffffffffull : 0x0101010101010101ull);
    };
    return {iq1_values(p, _mm256_set_epi64x(delta(h1 >> 4), delta(h1), delta(h0 >> 4), delta(h0))),
            odd_scales(sc & 7, (sc >> 3) & 7)};
  }
}

template <DType T>
struct IQGridTile {
  template <int kT>
  static void run(const uint8_t* w, const ActQ8& a, int64_t t0, float* out) {
    constexpr float kStep = 1.0f / kIQGridStepInv<T>;
    constexpr int64_t kBytes = static_cast<int64_t>(kBlockBytes<T>);
    __m256 acc[kT];
    const int8_t* q[kT];
    const float* d[kT];
    for (int t = 0; t < kT; ++t) {
      acc[t] = _mm256_setzero_ps();
      q[t] = a.qt(t0 + t);
      d[t] = a.dt(t0 + t);
    }
    const int64_t n_sb = a.nb / 8;
    for (int64_t sb = 0; sb < n_sb; ++sb) {
      const uint8_t* blk = w + sb * kBytes;
      const __m256 dd = _mm256_set1_ps(block_d<T>(blk) * kStep);
      __m256 scale[kT];  // d * step * d_a of the super-block's 8 groups (the mirror's dd * d[b])
      for (int t = 0; t < kT; ++t) scale[t] = _mm256_mul_ps(dd, _mm256_loadu_ps(d[t] + sb * 8));
#pragma GCC unroll 8
      for (int g = 0; g < 8; ++g) {
        const Group grp = group<T>(blk, g);
        const __m256i v_abs = _mm256_sign_epi8(grp.v, grp.v);
        for (int t = 0; t < kT; ++t) {
          const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q[t] + (sb * 8 + g) * 32));
          const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(v_abs, _mm256_sign_epi8(qa, grp.v)), grp.m);
          const __m256 sc = _mm256_permutevar8x32_ps(scale[t], _mm256_set1_epi32(g));
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, acc[t]);
        }
      }
    }
    for (int t = 0; t < kT; ++t) out[t] = hsum(acc[t]);
  }
};

}  // namespace

void iq_grid_avx2(IQGridKernels& k) {
  k[iq_grid_slot(DType::IQ2_XXS)] = gemm_row_tiles<IQGridTile<DType::IQ2_XXS>>;
  k[iq_grid_slot(DType::IQ2_XS)] = gemm_row_tiles<IQGridTile<DType::IQ2_XS>>;
  k[iq_grid_slot(DType::IQ2_S)] = gemm_row_tiles<IQGridTile<DType::IQ2_S>>;
  k[iq_grid_slot(DType::IQ3_XXS)] = gemm_row_tiles<IQGridTile<DType::IQ3_XXS>>;
  k[iq_grid_slot(DType::IQ3_S)] = gemm_row_tiles<IQGridTile<DType::IQ3_S>>;
  k[iq_grid_slot(DType::IQ1_S)] = gemm_row_tiles<IQGridTile<DType::IQ1_S>>;
  k[iq_grid_slot(DType::IQ1_M)] = gemm_row_tiles<IQGridTile<DType::IQ1_M>>;
}

}  // namespace dsinfer::kern
