#pragma once
// The R8 tiles below the panels (2 to Tokens::min_tokens<F>() - 1 tokens, every count from 2 for IQ1_S / IQ1_M:
// a batched decode step's experts and, at 16 streams, its dense weights) on 512-bit vectors over *pairs* of 8-row groups (AVX-512 VNNI set
// only: include from *_avx512.cpp). One zmm holds a chunk of both groups, so each token's 8 dots and float
// tail cover 16 rows: the 256-bit tiles run at ~90 % of the 256-bit vpdpbusd's peak from 3 tokens on, and a
// 512-bit one does ~1.7x the products per unit time on Zen 4 (gemm_r8_panels_zmm.h).
//
// Per format a PairFormat gives block b of the two groups as unsigned chunk vectors (the tile's values, or
// int8 weights + 128 with the activations' - 128 sum a as the dot's start) and the rows' float factors; the
// tail is the tile's (the integer sum per PairFormat::kTail, below):
//   acc = fma(float(sum), f0 * d_a, acc)   then, with a min term,   acc = fma(+-f1, d_a * float(sum a), acc).
// Exactness: per row the integer is the tile's (int32 sums are exact in any order) and the float operations
// are the tile's in block order: the results are those of gemm_r8 and the scalar mirror bit for bit.

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/gemm_r8_panels.h"

// (GCC 12's AVX-512 intrinsics: a false -Wmaybe-uninitialized per instantiation, as gemm_r8_panels_zmm.h)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace dsinfer::kern {
namespace {

inline __m512i pair512(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline __m512 pair512(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}
// 32 bytes at p0 (group 0's 8 lanes) and at p1 (group 1's) as one vector
inline __m512i load_pair(const uint8_t* p0, const uint8_t* p1) {
  return pair512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0)),
                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1)));
}
// 8 bytes at p0 (a byte per row of group 0), then 8 at p1
inline __m128i bytes_pair(const uint8_t* p0, const uint8_t* p1) {
  return _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p0)),
                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p1)));
}
// the same, each as a float (0..255)
inline __m512 bytes16(const uint8_t* p0, const uint8_t* p1) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes_pair(p0, p1)));
}
// the 16 rows' f16 scales at p0 and p1
inline __m512 scales16(const uint8_t* p0, const uint8_t* p1) { return pair512(row_scales(p0), row_scales(p1)); }
// A stored block's f16 scales d of the 16 rows (at its start), for all its sub-blocks.
struct ScalesD {
  __m512 d;
};
inline ScalesD scales_d(const uint8_t* s0, const uint8_t* s1) { return {scales16(s0, s1)}; }
// ... and the dmin scales after them (the K-quants with mins)
struct ScalesDMin {
  __m512 d, dmin;
};
inline ScalesDMin scales_dmin(const uint8_t* s0, const uint8_t* s1) {
  return {scales16(s0, s1), scales16(s0 + 16, s1 + 16)};
}
// 4-bit indices of 16 rows (chunk pairs as Q4_0_R8 stores them, 128 bytes at q0 and at q1): x[c] low nibbles
// = values 4c.., x[4 + c] high nibbles = values 16 + 4c..
inline void nibbles_pair(const uint8_t* q0, const uint8_t* q1, __m512i x[8]) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  for (int c = 0; c < 4; ++c) {
    const __m512i b = load_pair(q0 + 32 * c, q1 + 32 * c);
    x[c] = _mm512_and_si512(b, m4);
    x[4 + c] = _mm512_and_si512(_mm512_srli_epi16(b, 4), m4);
  }
}

// Block b of a pair: u[c] = chunk c (values 4c..4c+3) of group 0's 8 rows (low half) and group 1's (high),
// unsigned; f0, f1 the rows' factors.
struct PairBlock {
  __m512i u[8];
  __m512 f0, f1;
  __m512i sc[2];  // (kScaled16) the rows' int32 scales of the block's halves: chunks 0-3, 4-7; (kScaledBlock)
                  // the rows' scale and their activation-sum factor
  __m512i mn;     // (kMin16: Q2_K) the rows' two mins as an int16 pair
};
enum class PairTail { kPlain, kScaled16, kScaledBlock };

// A PairFormat<F> (F: a Panel format of gemm_r8_panels.h) has
//   kSub             32-value blocks per stored block (8 for the super-block formats)
//   kStart           the dot's start per activation sum (sum a q = sum a u + kStart * sum a)
//   kMin             0, or +1 / -1: the tile's min term, acc = fma(+-f1, d_a * float(sum a), acc)
//   kTail            kPlain: sum = S + kStart sum a over the chunks' dot sum S;
//                    kScaled16 (per-16 scales: Q6_K, IQ1_M): sum = sc_0 (S_0 + kStart A_0) + sc_1 (S_1 + kStart A_1)
//                    over the halves' dot sums S_h and activation sums A_h (vpmulld; the tile's integer exactly);
//                    kScaledBlock (IQ1_S): sum = sc[0] S - sc[1] sum a (sc[1] < 2^15: vpmaddwd)
//   kMin16 (optional) Q2_K's per-16 mins: acc = fma(-float(m_0 A_0 + m_1 A_1), f1 d_a, acc) after the tail
//   Super super(s0, s1)                        what the stored block's sub-blocks share
//   block(su, s0, s1, j, pb)                   sub-block j into pb
template <class F>
struct PairFormat;

// Q4_0_R8, Q5_0_R8, Q5_1_R8 (NibbleR8): the values q (0..15, 0..31), - kOffset sum a; Q5_1's + m term.
template <class Dot, int kBits, bool kMinTerm>
struct PairFormat<PanelNibble<Dot, kBits, kMinTerm>> {
  using Tile = NibbleR8<Dot, kBits, kMinTerm>;
  static constexpr int kSub = 1, kStart = -Tile::kOffset, kMin = kMinTerm ? 1 : 0;
  static constexpr PairTail kTail = PairTail::kPlain;
  struct Super {};
  static Super super(const uint8_t*, const uint8_t*) { return {}; }
  [[gnu::always_inline]] static void block(Super, const uint8_t* b0, const uint8_t* b1, int, PairBlock& pb) {
    pb.f0 = scales16(b0, b1);
    if constexpr (kMinTerm) pb.f1 = scales16(b0 + 16, b1 + 16);
    nibbles_pair(b0 + Tile::kScales, b1 + Tile::kScales, pb.u);
    if constexpr (kBits == 5) {  // NibbleR8::values' 5th bits: bit c of a byte is chunk c's
      const __m512i hb = load_pair(b0 + Tile::kScales + 128, b1 + Tile::kScales + 128), bit4 = _mm512_set1_epi8(0x10);
      for (int c = 0; c < 4; ++c) {
        pb.u[c] = _mm512_or_si512(pb.u[c], _mm512_and_si512(_mm512_slli_epi16(hb, 4 - c), bit4));
        pb.u[4 + c] = _mm512_or_si512(pb.u[4 + c], _mm512_and_si512(_mm512_srli_epi16(hb, c), bit4));
      }
    }
  }
};

// Q4_K_R8, Q5_K_R8 (QK45R8): sub-block j's values, f0 = d * scale, f1 = dmin * min (subtracted).
template <class Dot, bool kFifthBit>
struct PairFormat<PanelQK45<Dot, kFifthBit>> {
  using Tile = QK45R8<Dot, kFifthBit>;
  static constexpr int kSub = 8, kStart = 0, kMin = -1;
  static constexpr PairTail kTail = PairTail::kPlain;
  using Super = ScalesDMin;
  static Super super(const uint8_t* s0, const uint8_t* s1) { return scales_dmin(s0, s1); }
  [[gnu::always_inline]] static void block(const Super& su, const uint8_t* s0, const uint8_t* s1, int j,
                                           PairBlock& pb) {
    pb.f0 = _mm512_mul_ps(su.d, bytes16(s0 + 32 + 8 * j, s1 + 32 + 8 * j));
    pb.f1 = _mm512_mul_ps(su.dmin, bytes16(s0 + 96 + 8 * j, s1 + 96 + 8 * j));
    // QK45R8::values on 512 bits: block j's nibbles, and (Q5_K) bit j of the high-bit bytes at bit 4
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m128i shift = _mm_cvtsi32_si128(j & 1 ? 4 : 0);
    for (int c = 0; c < 8; ++c) {
      const int64_t off = Tile::kQs + 256 * (j / 2) + 32 * c;
      pb.u[c] = _mm512_and_si512(_mm512_srl_epi16(load_pair(s0 + off, s1 + off), shift), m4);
      if constexpr (kFifthBit) {
        const __m512i hb = load_pair(s0 + 160 + 32 * c, s1 + 160 + 32 * c);
        const __m512i at4 = j < 4 ? _mm512_sll_epi16(hb, _mm_cvtsi32_si128(4 - j))
                                  : _mm512_srl_epi16(hb, _mm_cvtsi32_si128(j - 4));
        pb.u[c] = _mm512_or_si512(pb.u[c], _mm512_and_si512(at4, _mm512_set1_epi8(0x10)));
      }
    }
  }
};

// Q8_0_R8: u = w + 128 (the int8 weights' sign bit flipped), - 128 sum a.
template <class Dot>
struct PairFormat<PanelQ8_0<Dot>> {
  static constexpr int kSub = 1, kStart = -128, kMin = 0;
  static constexpr PairTail kTail = PairTail::kPlain;
  struct Super {};
  static Super super(const uint8_t*, const uint8_t*) { return {}; }
  [[gnu::always_inline]] static void block(Super, const uint8_t* b0, const uint8_t* b1, int, PairBlock& pb) {
    pb.f0 = scales16(b0, b1);
    const __m512i sign = _mm512_set1_epi8(-128);
    for (int c = 0; c < 8; ++c) pb.u[c] = _mm512_xor_si512(load_pair(b0 + 16 + 32 * c, b1 + 16 + 32 * c), sign);
  }
};

// IQ4_NL_R8, IQ4_XS_R8 (IQ4R8): the table values + 128 (iq4_values_plus128 on 512 bits), - 128 sum a; f0 the
// tile's factor (d, or d * (scale - 32)).
template <class Dot, bool kXS>
struct PairFormat<PanelIQ4<Dot, kXS>> {
  using Tile = IQ4R8<Dot, kXS>;
  static constexpr int kSub = Tile::kGroups, kStart = -128, kMin = 0;
  static constexpr PairTail kTail = PairTail::kPlain;
  using Super = ScalesD;
  static Super super(const uint8_t* s0, const uint8_t* s1) { return scales_d(s0, s1); }
  [[gnu::always_inline]] static void block(const Super& su, const uint8_t* s0, const uint8_t* s1, int j,
                                           PairBlock& pb) {
    if constexpr (kXS) {
      const __m128i sc = bytes_pair(s0 + 16 + 8 * j, s1 + 16 + 8 * j);
      pb.f0 = _mm512_mul_ps(su.d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)));
    } else {
      pb.f0 = su.d;
    }
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues)), _mm_set1_epi8(-128)));
    nibbles_pair(Tile::chunks(s0, j), Tile::chunks(s1, j), pb.u);
    for (int c = 0; c < 8; ++c) pb.u[c] = _mm512_shuffle_epi8(table, pb.u[c]);
  }
};

// Q6_K_R8 (Q6_KR8): the 6-bit values q (0..63), sub-block j = quarter j % 4 of half j / 4, - 32 per half's
// activation sum, the halves' int8 scales, f0 = d.
template <class Dot>
struct PairFormat<PanelQ6_K<Dot>> {
  static constexpr int kSub = 8, kStart = -32, kMin = 0;
  static constexpr PairTail kTail = PairTail::kScaled16;
  using Super = ScalesD;
  static Super super(const uint8_t* s0, const uint8_t* s1) { return scales_d(s0, s1); }
  [[gnu::always_inline]] static void block(const Super& su, const uint8_t* s0, const uint8_t* s1, int j,
                                           PairBlock& pb) {
    const int h = j / 4, quarter = j % 4;
    pb.f0 = su.d;
    for (int half = 0; half < 2; ++half) {
      const int64_t off = 16 + 8 * (8 * h + 2 * quarter + half);
      pb.sc[half] = _mm512_cvtepi8_epi32(bytes_pair(s0 + off, s1 + off));
    }
    // Q6_KR8::values on 512 bits: low nibbles (ql) | the quarter's 2 high bits (qh) at bits 4-5
    const int64_t ql = 144 + (h * 2 + (quarter & 1)) * 256, qh = 1168 + h * 256;
    const __m128i low_shift = _mm_cvtsi32_si128(quarter >> 1 ? 4 : 0);
    const __m128i high_left = _mm_cvtsi32_si128(quarter < 3 ? 4 - 2 * quarter : 0);
    const __m128i high_right = _mm_cvtsi32_si128(quarter < 3 ? 0 : 2);
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    for (int c = 0; c < 8; ++c) {
      const __m512i low4 = _mm512_and_si512(_mm512_srl_epi16(load_pair(s0 + ql + 32 * c, s1 + ql + 32 * c), low_shift), m4);
      const __m512i hb = load_pair(s0 + qh + 32 * c, s1 + qh + 32 * c);
      const __m512i hi2 = _mm512_srl_epi16(_mm512_sll_epi16(hb, high_left), high_right);
      pb.u[c] = _mm512_or_si512(low4, _mm512_and_si512(hi2, m30));
    }
  }
};

// The IQ1 formats' stored block: f0 = the 16 rows' d / 8 for all its sub-blocks.
struct EighthScales {
  __m512 d8;
};
inline EighthScales eighth_scales(const uint8_t* s0, const uint8_t* s1) {
  return {_mm512_mul_ps(scales16(s0, s1), _mm512_set1_ps(0.125f))};
}
// The 32-bit words at p0 and p1 (a nibble per row of each group) with row i's nibble in lane i's low bits.
inline __m512i row_nibble_lanes(const uint8_t* p0, const uint8_t* p1) {
  int32_t w0, w1;
  std::memcpy(&w0, p0, 4);
  std::memcpy(&w1, p1, 4);
  return _mm512_srlv_epi32(pair512(_mm256_set1_epi32(w0), _mm256_set1_epi32(w1)),
                           _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28));
}

// IQ1_S_R8 (IQ1SR8): g = 0..2 from the 2-bit fields; per row sc[0] = sc8 = 8 (2 s + 1), sc[1] = m = (2 s + 1)
// (7 + 2 minus) from the 4-bit codes; f0 = d / 8.
template <class Dot>
struct PairFormat<TilesIQ1<IQ1SR8<Dot>>> {
  using Tile = IQ1SR8<Dot>;
  static constexpr int kSub = 8, kStart = 0, kMin = 0;
  static constexpr PairTail kTail = PairTail::kScaledBlock;
  using Super = EighthScales;
  static Super super(const uint8_t* s0, const uint8_t* s1) { return eighth_scales(s0, s1); }
  [[gnu::always_inline]] static void block(const Super& su, const uint8_t* s0, const uint8_t* s1, int j,
                                           PairBlock& pb) {
    pb.f0 = su.d8;
    const __m512i nib =
        _mm512_and_si512(row_nibble_lanes(s0 + Tile::kCodes + 4 * j, s1 + Tile::kCodes + 4 * j), _mm512_set1_epi32(15));
    const __m512i sc = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(nib, _mm512_set1_epi32(7)), 1),
                                       _mm512_set1_epi32(1));
    const __m512i k = _mm512_add_epi32(_mm512_set1_epi32(7),
                                       _mm512_and_si512(_mm512_srli_epi32(nib, 2), _mm512_set1_epi32(2)));
    pb.sc[0] = _mm512_slli_epi32(sc, 3);
    pb.sc[1] = _mm512_mullo_epi16(sc, k);  // (m <= 135 in the low int16 half, 0 above)
    const __m128i shift = _mm_cvtsi32_si128(2 * (j % 4));
    for (int c = 0; c < 8; ++c) {
      const int64_t off = Tile::kQs + 32 * (8 * (j / 4) + c);
      pb.u[c] = _mm512_and_si512(_mm512_srl_epi16(load_pair(s0 + off, s1 + off), shift), _mm512_set1_epi8(3));
    }
  }
};

// IQ1_M_R8 (IQ1MR8): v = 8 g + 1 + e (0..18; e the 8-value group's delta sign), - 9 per half's activation sum,
// the halves' scales 2 s + 1; f0 = d / 8.
template <class Dot>
struct PairFormat<TilesIQ1<IQ1MR8<Dot>>> {
  using Tile = IQ1MR8<Dot>;
  static constexpr int kSub = 8, kStart = -9, kMin = 0;
  static constexpr PairTail kTail = PairTail::kScaled16;
  using Super = EighthScales;
  static Super super(const uint8_t* s0, const uint8_t* s1) { return eighth_scales(s0, s1); }
  [[gnu::always_inline]] static void block(const Super& su, const uint8_t* s0, const uint8_t* s1, int j,
                                           PairBlock& pb) {
    pb.f0 = su.d8;
    const __m512i codes = _mm512_cvtepu8_epi32(bytes_pair(s0 + Tile::kScales + 8 * j, s1 + Tile::kScales + 8 * j));
    const __m512i one = _mm512_set1_epi32(1), seven = _mm512_set1_epi32(7);
    pb.sc[0] = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(codes, seven), 1), one);
    pb.sc[1] = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(codes, 3), seven), 1), one);
    const __m512i minus = row_nibble_lanes(s0 + Tile::kMinus + 4 * j, s1 + Tile::kMinus + 4 * j);
    const __m128i shift = _mm_cvtsi32_si128(2 * (j % 4));
    for (int c = 0; c < 8; ++c) {
      const int64_t off = Tile::kQs + 32 * (8 * (j / 4) + c);
      // 2 in each byte of the rows whose 8-value group c / 2 has delta +1/8
      const __m512i e2 = _mm512_maskz_mov_epi32(_mm512_testn_epi32_mask(minus, _mm512_set1_epi32(1 << (c / 2))),
                                                _mm512_set1_epi8(2));
      const __m512i g = _mm512_and_si512(_mm512_srl_epi16(load_pair(s0 + off, s1 + off), shift), _mm512_set1_epi8(3));
      pb.u[c] = _mm512_add_epi8(_mm512_slli_epi16(g, 3), e2);
    }
  }
};

// Q2_K_R8 / Q3_K_R8 (Q23_KR8): per-16 scales (Q2_K: the scale nibbles, Q3_K: the 6-bit scales - 32), q = 0..3 or
// (Q3_K, with the hmask bit) 0..7 and - 4 per half's activation sum; Q2_K's mins as kMin16, f1 = dmin.
template <class Dot, bool kQ3>
struct PairFormat<PanelQ23_K<Dot, kQ3>> {
  using Tile = Q23_KR8<Dot, kQ3>;
  static constexpr int kSub = 8, kStart = kQ3 ? -4 : 0, kMin = 0;
  static constexpr PairTail kTail = PairTail::kScaled16;
  static constexpr bool kMin16 = !kQ3;
  using Super = ScalesDMin;
  static Super super(const uint8_t* s0, const uint8_t* s1) {
    return kQ3 ? ScalesDMin{scales16(s0, s1), _mm512_setzero_ps()} : scales_dmin(s0, s1);
  }
  [[gnu::always_inline]] static void block(const Super& su, const uint8_t* s0, const uint8_t* s1, int j,
                                           PairBlock& pb) {
    pb.f0 = su.d;
    pb.f1 = su.dmin;
    // the factor bytes: rows 0-7 of group 2j, then of group 2j + 1
    const int64_t fo = (kQ3 ? 16 : 32) + 16 * j;
    for (int half = 0; half < 2; ++half) {
      const __m128i b = bytes_pair(s0 + fo + 8 * half, s1 + fo + 8 * half);
      if constexpr (kQ3) {
        pb.sc[half] = _mm512_cvtepi8_epi32(b);
      } else {
        const __m512i x = _mm512_cvtepu8_epi32(b);
        pb.sc[half] = _mm512_and_si512(x, _mm512_set1_epi32(15));
        const __m512i m = _mm512_srli_epi32(x, 4);
        pb.mn = half == 0 ? m : _mm512_or_si512(pb.mn, _mm512_slli_epi32(m, 16));
      }
    }
    const __m128i shift = _mm_cvtsi32_si128(2 * (j % 4));
    for (int c = 0; c < 8; ++c) {
      const int64_t off = Tile::kQs + 32 * (8 * (j / 4) + c);
      pb.u[c] = _mm512_and_si512(_mm512_srl_epi16(load_pair(s0 + off, s1 + off), shift), _mm512_set1_epi8(3));
      if constexpr (kQ3) {  // Q23_KR8::values' third bit
        const __m512i hb = load_pair(s0 + Tile::kHmask + 32 * c, s1 + Tile::kHmask + 32 * c);
        const __m512i at2 = j < 2 ? _mm512_sll_epi16(hb, _mm_cvtsi32_si128(2 - j))
                                  : _mm512_srl_epi16(hb, _mm_cvtsi32_si128(j - 2));
        pb.u[c] = _mm512_or_si512(pb.u[c], _mm512_and_si512(at2, _mm512_set1_epi8(4)));
      }
    }
  }
};

template <class P>
constexpr bool pair_min16() {
  if constexpr (requires { P::kMin16; })
    return P::kMin16;
  else
    return false;
}

template <class F>
concept HasPairTiles = requires { PairFormat<F>::kSub; };

// Rows of the 8-row groups at g0 and g1 (16 rows) · kT tokens from t0 into y (ldy apart).
template <class F, int kT>
void pair_tile(const uint8_t* g0, const uint8_t* g1, const ActQ8& a, int64_t t0, float* y, int64_t ldy,
               bool prefetch) {
  using P = PairFormat<F>;
  constexpr size_t kStored = F::kBlockBytes * P::kSub;  // bytes of a group's stored block
  __m512 acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < a.nb / P::kSub; ++sb) {
    const uint8_t* s0 = g0 + sb * kStored;
    const uint8_t* s1 = g1 + sb * kStored;
    const auto su = P::super(s0, s1);
    for (int j = 0; j < P::kSub; ++j) {
      const int64_t b = sb * P::kSub + j;
      if (prefetch) {  // (a sub-block's share of the stored block's lines at a time, as the tiles)
        prefetch_ahead<F::kBlockBytes>(s0 + j * F::kBlockBytes);
        prefetch_ahead<F::kBlockBytes>(s1 + j * F::kBlockBytes);
      }
      PairBlock pb;
      P::block(su, s0, s1, j, pb);
      for (int t = 0; t < kT; ++t) {
        const int32_t* a32 = reinterpret_cast<const int32_t*>(a.qt(t0 + t) + b * 32);
        const int32_t sa = a.sumt(t0 + t)[b];
        // two chains (chunks 0-3, 4-7): the first starts at kStart sum a, or per half at kStart A_h
        constexpr bool kHalves = P::kTail == PairTail::kScaled16;
        const int32_t a0 = kHalves ? a.sum16t(t0 + t)[b] : sa;
        __m512i lo = _mm512_dpbusd_epi32(_mm512_set1_epi32(P::kStart * a0), pb.u[0], _mm512_set1_epi32(a32[0]));
        __m512i hi = _mm512_dpbusd_epi32(kHalves ? _mm512_set1_epi32(P::kStart * (sa - a0)) : _mm512_setzero_si512(),
                                         pb.u[4], _mm512_set1_epi32(a32[4]));
        for (int k = 1; k < 4; ++k) {
          lo = _mm512_dpbusd_epi32(lo, pb.u[k], _mm512_set1_epi32(a32[k]));
          hi = _mm512_dpbusd_epi32(hi, pb.u[4 + k], _mm512_set1_epi32(a32[4 + k]));
        }
        __m512i sum;
        if constexpr (kHalves)
          sum = _mm512_add_epi32(_mm512_mullo_epi32(lo, pb.sc[0]), _mm512_mullo_epi32(hi, pb.sc[1]));
        else if constexpr (P::kTail == PairTail::kScaledBlock)
          sum = _mm512_sub_epi32(_mm512_mullo_epi32(_mm512_add_epi32(lo, hi), pb.sc[0]),
                                 _mm512_madd_epi16(pb.sc[1], _mm512_set1_epi32(sa)));
        else
          sum = _mm512_add_epi32(lo, hi);
        const float da = a.dt(t0 + t)[b];
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(pb.f0, _mm512_set1_ps(da)), acc[t]);
        if constexpr (P::kMin > 0)
          acc[t] = _mm512_fmadd_ps(pb.f1, _mm512_set1_ps(da * static_cast<float>(sa)), acc[t]);
        if constexpr (P::kMin < 0)
          acc[t] = _mm512_fnmadd_ps(pb.f1, _mm512_set1_ps(da * static_cast<float>(sa)), acc[t]);
        if constexpr (pair_min16<P>()) {
          const __m512i m32 = _mm512_madd_epi16(pb.mn, _mm512_set1_epi32(min16_pair(a0, sa)));
          acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(m32), _mm512_mul_ps(pb.f1, _mm512_set1_ps(da)), acc[t]);
        }
      }
    }
  }
  for (int t = 0; t < kT; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

template <class F, int kT>
void pair_last(int64_t rest, const uint8_t* g0, const uint8_t* g1, const ActQ8& a, int64_t t0, float* y, int64_t ldy) {
  if constexpr (kT > 0) {
    if (rest == kT) return pair_tile<F, kT>(g0, g1, a, t0, y, ldy, t0 == 0);
    pair_last<F, kT - 1>(rest, g0, g1, a, t0, y, ldy);
  }
}

// Format F below its panels: one token on the 256-bit tile (one weight stream per core: from DRAM a decode
// step is faster so), 2+ tokens on pairs of row groups in 512-bit tiles of up to 4 tokens (an odd last group
// on the 256-bit tiles).
template <class F>
void gemm_pairs(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  using Tile = typename F::Tile;
  if (a.n_tok < 2) return gemm_r8<Tile>(w, row_bytes, n_rows, a, y, ldy);
  constexpr int kT = 4;
  const size_t group_bytes = kGroup * row_bytes;
  const int64_t full = a.n_tok / kT * kT, rest = a.n_tok - full;
  int64_t r = 0;
  for (; r + 2 * kGroup <= n_rows; r += 2 * kGroup) {
    const uint8_t* g0 = w + (r / kGroup) * group_bytes;
    for (int64_t t = 0; t < full; t += kT) pair_tile<F, kT>(g0, g0 + group_bytes, a, t, y + t * ldy + r, ldy, t == 0);
    pair_last<F, kT - 1>(rest, g0, g0 + group_bytes, a, full, y + full * ldy + r, ldy);
  }
  if (r < n_rows) gemm_r8<Tile>(w + (r / kGroup) * group_bytes, row_bytes, n_rows - r, a, y + r, ldy);
}

}  // namespace
}  // namespace dsinfer::kern

#pragma GCC diagnostic pop
