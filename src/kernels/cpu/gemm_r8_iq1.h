#pragma once
// R8 tile kernels of IQ1_S_R8 and IQ1_M_R8 (layouts in tensor/interleave.h: the lattice points unpacked at load
// to 2-bit values g = point + 1), written once for every x86 set as gemm_r8_tiles.h's (include after it). No table
// lookups: per activation block j (one IQ1_S block of 32 values, one scale) its 8 chunks are Q2_K_R8's 2-bit
// fields, an unsigned dot against the activations. With 8 x the value, w = 8 (g - 1) +- 1 (the +-1/8 delta),
// a row's block is
//   sum w a = sc8 sum g a - m sum a,   sc8 = 8 (2 s + 1),  m = (2 s + 1) (7 + 2 minus)   (delta -1/8: minus)
// exact in int32 (|sum g a| <= 32 x 2 x 127: int16 sums of the 8 chunks fit), then
//   acc = fma(float(sum w a), (d / 8) * d_a, acc)
// gemm_r8_scalar.cpp mirrors it lane by lane. The products are the file-layout IQ1_S kernels' (w is their
// signed value), summed per block rather than per 4-value lane.
//
// IQ1_M_R8: a scale per 16 values and a delta sign per 8, so the delta goes into the unsigned values
// themselves: v = 8 g + 1 + e = 8 (g - 1) + e + 9 (e = +-1, the 8-value group's delta x 8; v in 0..18), and
//   sum w a = sum_half sc_half (sum_{half} v a - 9 sum_{half} a),   sc = 2 s + 1
// (int16 sums of a half's 4 chunks: 4 x 2 x 18 x 127 fits), the halves' activation sums from sum16.

namespace dsinfer::kern {
namespace {

// The one-token tiles' loop, chunk-major by halves: per super-block (8 blocks of kBlock / 8 bytes per row
// group) and half h (blocks 4h..4h+3, their lines prefetched ahead), acc = half(blk, dv8, h, qa, b0, acc): qa
// the half's activations (block 4h + jj at qa + 32 jj), b0 its first block's index, dv8 the rows' d / 8.
template <size_t kBlock, class Half>
[[gnu::always_inline]] inline __m256 one_token_halves(const uint8_t* w, const ActQ8& a, int64_t t0, bool prefetch,
                                                      Half&& half) {
  const int8_t* q = a.qt(t0);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
    const uint8_t* blk = w + sb * kBlock;
    const __m256 dv8 = _mm256_mul_ps(row_scales(blk), _mm256_set1_ps(0.125f));
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      if (prefetch) prefetch_ahead<kBlock / 2>(blk + h * (kBlock / 2));
      acc = half(blk, dv8, h, q + (sb * 8 + 4 * h) * 32, sb * 8 + 4 * h, acc);
    }
  }
  return acc;
}

template <class Dot>
struct IQ1SR8 {
  using DotOps = Dot;
  static constexpr size_t kBlock = IQ1SR8Block::kBytes;  // one super-block of 8 rows
  static constexpr size_t kCodes = IQ1SR8Block::kCodes, kQs = IQ1SR8Block::kQs;

  // Block j's factors of the 8 rows, int32 lane i = row i (kInt16: sc8 in both int16 halves, for vpmaddwd).
  struct Factors {
    __m256i sc8, m;
  };
  [[gnu::always_inline]] static Factors factors(const uint8_t* blk, int j) {
    int32_t codes;
    std::memcpy(&codes, blk + kCodes + 4 * j, 4);
    const __m256i nib = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_set1_epi32(codes), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
        _mm256_set1_epi32(15));
    const __m256i sc = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(nib, _mm256_set1_epi32(7)), 1),
                                       _mm256_set1_epi32(1));
    const __m256i k = _mm256_add_epi32(_mm256_set1_epi32(7), _mm256_and_si256(_mm256_srli_epi32(nib, 2),
                                                                              _mm256_set1_epi32(2)));
    __m256i sc8 = _mm256_slli_epi32(sc, 3);
    if constexpr (Dot::kInt16) sc8 = _mm256_or_si256(sc8, _mm256_slli_epi32(sc8, 16));
    return {sc8, _mm256_mullo_epi16(sc, k)};  // (m <= 135 in the low int16 half, 0 above)
  }
  // The factors of the 4 blocks of half h at once, by table lookup (the one-token tile): per 16 bytes, block
  // 2i's sc8 / m bytes of rows 0-7, then block 2i + 1's (sc8 = 8 (2 s + 1) <= 120, m = (2 s + 1) (7 + 2 minus) <= 135).
  struct HalfFactors {
    __m128i sc8[2], m[2];
  };
  [[gnu::always_inline]] static HalfFactors half_factors(const uint8_t* blk, int h) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kCodes + 16 * h));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(x, m4), hi = _mm_and_si128(_mm_srli_epi16(x, 4), m4);  // rows 2k, 2k + 1
    const __m128i sc8_of = _mm_setr_epi8(8, 24, 40, 56, 72, 88, 104, 120, 8, 24, 40, 56, 72, 88, 104, 120);
    const __m128i m_of = _mm_setr_epi8(7, 21, 35, 49, 63, 77, 91, 105, 9, 27, 45, 63, 81, 99, 117, static_cast<char>(135));
    HalfFactors f;
    for (int i = 0; i < 2; ++i) {
      const __m128i nib = i == 0 ? _mm_unpacklo_epi8(lo, hi) : _mm_unpackhi_epi8(lo, hi);  // blocks 2i, 2i + 1
      f.sc8[i] = _mm_shuffle_epi8(sc8_of, nib);
      f.m[i] = _mm_shuffle_epi8(m_of, nib);
    }
    return f;
  }
  // Block jj of the half as factors() gives it.
  [[gnu::always_inline]] static Factors factors(const HalfFactors& f, int jj) {
    auto lanes = [&](__m128i v) { return _mm256_cvtepu8_epi32(jj % 2 == 0 ? v : _mm_unpackhi_epi64(v, v)); };
    __m256i sc8 = lanes(f.sc8[jj / 2]);
    if constexpr (Dot::kInt16) sc8 = _mm256_or_si256(sc8, _mm256_slli_epi32(sc8, 16));
    return {sc8, lanes(f.m[jj / 2])};
  }
  // Chunk c (values 4c..4c+3) of block j of the super-block at blk: g = 0..2 of the 8 rows.
  [[gnu::always_inline]] static __m256i values(const uint8_t* blk, int j, int c) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * (8 * (j / 4) + c)));
    return _mm256_and_si256(j % 4 == 0 ? x : _mm256_srli_epi16(x, 2 * (j % 4)), _mm256_set1_epi8(3));
  }
  // sum w a of the 8 rows from the chunks' dot total (int16 pairs or int32) and the activations' block sum.
  [[gnu::always_inline]] static __m256i block_sum(__m256i total, const Factors& f, int32_t a_sum) {
    const __m256i g = Dot::kInt16 ? _mm256_madd_epi16(total, f.sc8) : _mm256_mullo_epi32(total, f.sc8);
    // m has 0 in its high int16 halves: vpmaddwd takes a_sum's low half (|a_sum| <= 32 x 127 fits)
    return _mm256_sub_epi32(g, _mm256_madd_epi16(f.m, _mm256_set1_epi32(a_sum)));
  }

  // One token, chunk-major: each qs chunk is loaded once for the 4 blocks of its half, whose dot sums wait
  // in 4 registers; then the blocks finish in order (the same integers and float operations as tile<kT>).
  // int32 dots (the VNNI sets) take block jj's field where it lies, g << 2 jj (<= 128, a valid u8), and
  // shift the exact int32 total back: one shift per block instead of one per chunk.
  static void tile1(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, bool prefetch) {
    const float* d = a.dt(t0);
    const int32_t* s = a.sumt(t0);
    auto half = [&](const uint8_t* blk, __m256 dv8, int h, const int8_t* qa, int64_t b0, __m256 acc) {
      const HalfFactors hf = half_factors(blk, h);
      __m256i p[4];
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * (8 * h + c)));
#pragma GCC unroll 4
        for (int jj = 0; jj < 4; ++jj) {
          const __m256i v = Dot::kInt16 ? _mm256_and_si256(jj == 0 ? x : _mm256_srli_epi16(x, 2 * jj), _mm256_set1_epi8(3))
                                        : _mm256_and_si256(x, _mm256_set1_epi8(static_cast<char>(3 << (2 * jj))));
          const __m256i av = bcast4(qa + 32 * jj + 4 * c);
          p[jj] = c == 0 ? Dot::first(v, av) : Dot::add(p[jj], v, av);
        }
      }
#pragma GCC unroll 4
      for (int jj = 0; jj < 4; ++jj) {
        const int64_t b = b0 + jj;
        const __m256i total = Dot::kInt16 || jj == 0 ? p[jj] : _mm256_srai_epi32(p[jj], 2 * jj);
        const __m256i s32 = block_sum(total, factors(hf, jj), s[b]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dv8, _mm256_set1_ps(d[b])), acc);
      }
      return acc;
    };
    _mm256_storeu_ps(y, one_token_halves<kBlock>(w, a, t0, prefetch, half));
  }

  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    if constexpr (kT == 1) return tile1(w, a, t0, y, prefetch);
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;
    const auto& d = tk.d;
    const auto& s = tk.s;
    for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
      const uint8_t* blk = w + sb * kBlock;
      const __m256 dv8 = _mm256_mul_ps(row_scales(blk), _mm256_set1_ps(0.125f));
      for (int j = 0; j < 8; ++j) {
        const int64_t b = sb * 8 + j;
        if (prefetch) prefetch_ahead<kBlock / 8>(blk + j * (kBlock / 8));
        const Factors f = factors(blk, j);
        __m256i v[8];
        for (int c = 0; c < 8; ++c) v[c] = values(blk, j, c);
        for (int t = 0; t < kT; ++t) {
          const int8_t* qa = q[t] + b * 32;
          ChainSum<Dot, kT> sp;
          for (int c = 0; c < 8; ++c) {
            if constexpr (kT >= 2) sp.put_in_order(c, sp.starts(c), v[c], bcast4(qa + 4 * c));
            else sp.put(c, sp.starts(c), v[c], bcast4(qa + 4 * c));
          }
          const __m256i s32 = block_sum(sp.total(), f, s[t][b]);
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dv8, _mm256_set1_ps(d[t][b])), acc[t]);
        }
      }
    }
    tk.store(y, ldy);
  }
};

template <class Dot>
struct IQ1MR8 {
  using DotOps = Dot;
  static constexpr size_t kBlock = IQ1MR8Block::kBytes;  // one super-block of 8 rows
  static constexpr size_t kScales = IQ1MR8Block::kScales, kMinus = IQ1MR8Block::kMinus, kQs = IQ1MR8Block::kQs;

  // Block j's scales of the 8 rows, int32 lane i = row i: sc0 / sc1 the halves' 2 s + 1 (kInt16: in both int16
  // halves, for vpmaddwd), pair = sc0 | sc1 << 16 (for the activation sums).
  struct Scales {
    __m256i sc0, sc1, pair;
  };
  [[gnu::always_inline]] static Scales scales(const uint8_t* blk, int j) {
    const __m256i codes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + kScales + 8 * j)));
    const __m256i one = _mm256_set1_epi32(1), seven = _mm256_set1_epi32(7);
    Scales f;
    f.sc0 = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(codes, seven), 1), one);
    f.sc1 = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(codes, 3), seven), 1), one);
    f.pair = _mm256_or_si256(f.sc0, _mm256_slli_epi32(f.sc1, 16));
    if constexpr (Dot::kInt16) {
      f.sc0 = _mm256_or_si256(f.sc0, _mm256_slli_epi32(f.sc0, 16));
      f.sc1 = _mm256_or_si256(f.sc1, _mm256_slli_epi32(f.sc1, 16));
    }
    return f;
  }
  // Block j's delta signs: lane i = row i's nibble (bit k: 8-value group k's delta is -1/8).
  [[gnu::always_inline]] static __m256i minus_lanes(const uint8_t* blk, int j) {
    int32_t minus;
    std::memcpy(&minus, blk + kMinus + 4 * j, 4);
    return _mm256_srlv_epi32(_mm256_set1_epi32(minus), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
  }
  // 2 in each byte of lane i where group k's delta is +1/8, else 0.
  [[gnu::always_inline]] static __m256i plus2(__m256i minus, int k) {
    const __m256i plus = _mm256_cmpeq_epi32(_mm256_and_si256(minus, _mm256_set1_epi32(1 << k)), _mm256_setzero_si256());
    return _mm256_and_si256(plus, _mm256_set1_epi8(2));
  }
  // v = 8 g + e2 (0..18) from the chunk's 2-bit fields x at bits 2 jj: the field shifted straight to bits 3-4
  // (16-bit shifts carry the neighbour byte's bits only into bits the 0x18 mask drops).
  [[gnu::always_inline]] static __m256i values(__m256i x, int jj, __m256i e2) {
    __m256i at3;
    switch (jj) {
      case 0: at3 = _mm256_slli_epi16(x, 3); break;
      case 1: at3 = _mm256_slli_epi16(x, 1); break;
      case 2: at3 = _mm256_srli_epi16(x, 1); break;
      default: at3 = _mm256_srli_epi16(x, 3); break;
    }
    return _mm256_add_epi8(_mm256_and_si256(at3, _mm256_set1_epi8(0x18)), e2);
  }
  [[gnu::always_inline]] static __m256i scaled(__m256i total, __m256i sc) {
    return Dot::kInt16 ? _mm256_madd_epi16(total, sc) : _mm256_mullo_epi32(total, sc);
  }
  // sum w a of the 8 rows from the halves' dot totals and activation sums a0, a1.
  [[gnu::always_inline]] static __m256i block_sum(__m256i p0, __m256i p1, const Scales& f, int32_t a0, int32_t a1) {
    const __m256i asum = _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(a1) << 16) |
                                                                (static_cast<uint32_t>(a0) & 0xffff)));
    const __m256i off = _mm256_madd_epi16(f.pair, asum);
    return _mm256_sub_epi32(_mm256_add_epi32(scaled(p0, f.sc0), scaled(p1, f.sc1)),
                            _mm256_add_epi32(_mm256_slli_epi32(off, 3), off));  // - 9 (sc0 a0 + sc1 a1)
  }

  // One token, chunk-major over pairs of blocks: each qs chunk is loaded once for two blocks of its half, whose
  // four half sums wait in registers (the same integers and float operations as tile<kT>).
  static void tile1(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, bool prefetch) {
    const float* d = a.dt(t0);
    const int32_t *s = a.sumt(t0), *s16 = a.sum16t(t0);
    auto half_blocks = [&](const uint8_t* blk, __m256 dv8, int h, const int8_t* qa, int64_t b0, __m256 acc) {
#pragma GCC unroll 2
      for (int j0 = 0; j0 < 4; j0 += 2) {
        const uint8_t* bp = blk;
        asm("" : "+r"(bp));  // (as Q23_KR8::tile1: no chunks kept across the passes)
        const __m256i minus[2] = {minus_lanes(bp, 4 * h + j0), minus_lanes(bp, 4 * h + j0 + 1)};
        __m256i p[2][2];
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) {
          const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + kQs + 32 * (8 * h + c)));
#pragma GCC unroll 2
          for (int k2 = 0; k2 < 2; ++k2) {
            const int jj = j0 + k2;
            const __m256i v = values(x, jj, plus2(minus[k2], c / 2)), av = bcast4(qa + 32 * jj + 4 * c);
            p[k2][c / 4] = c % 4 == 0 ? Dot::first(v, av) : Dot::add(p[k2][c / 4], v, av);
          }
        }
#pragma GCC unroll 2
        for (int k2 = 0; k2 < 2; ++k2) {
          const int64_t b = b0 + j0 + k2;
          const __m256i s32 = block_sum(p[k2][0], p[k2][1], scales(blk, 4 * h + j0 + k2), s16[b], s[b] - s16[b]);
          acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dv8, _mm256_set1_ps(d[b])), acc);
        }
      }
      return acc;
    };
    _mm256_storeu_ps(y, one_token_halves<kBlock>(w, a, t0, prefetch, half_blocks));
  }

  // One token with int32 dots (the VNNI sets), chunk-major over the 4 blocks of a half as IQ1SR8::tile1: block
  // jj's field where it lies (g << 2 jj, a valid u8), one dot per chunk and block into its half's sum, and the
  // deltas apart from the dots: per half
  //   sum v a = 8 G_h + 2 P_h,   P_h = plus_k A_k + plus_k' A_k' over its two 8-value groups k, k'
  // (vpmaddwd of the rows' plus flags against the token's group sums, ActQ8::sum8p): the integers of tile<kT>.
  static void tile1_int32(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, bool prefetch) {
    const float* d = a.dt(t0);
    const int32_t *s = a.sumt(t0), *s16 = a.sum16t(t0), *s8p = a.sum8pt(t0);
    auto half_blocks = [&](const uint8_t* blk, __m256 dv8, int h, const int8_t* qa, int64_t b0, __m256 acc) {
      __m256i p[4][2];  // [block][half] dot sums of g << 2 jj
#pragma GCC unroll 8
      for (int c = 0; c < 8; ++c) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * (8 * h + c)));
#pragma GCC unroll 4
        for (int jj = 0; jj < 4; ++jj) {
          const __m256i v = _mm256_and_si256(x, _mm256_set1_epi8(static_cast<char>(3 << (2 * jj))));
          const __m256i av = bcast4(qa + 32 * jj + 4 * c);
          p[jj][c / 4] = c % 4 == 0 ? Dot::first(v, av) : Dot::add(p[jj][c / 4], v, av);
        }
      }
#pragma GCC unroll 4
      for (int jj = 0; jj < 4; ++jj) {
        const int j = 4 * h + jj;
        const int64_t b = b0 + jj;
        const __m256i plus = _mm256_andnot_si256(minus_lanes(blk, j), _mm256_set1_epi32(15));  // bit k: +1/8
        __m256i sh[2];
        for (int half = 0; half < 2; ++half) {
          __m256i g8;  // 8 G_h from 4^jj G_h (exact: its low bits are zero)
          switch (jj) {
            case 0: g8 = _mm256_slli_epi32(p[jj][half], 3); break;
            case 1: g8 = _mm256_slli_epi32(p[jj][half], 1); break;
            case 2: g8 = _mm256_srai_epi32(p[jj][half], 1); break;
            default: g8 = _mm256_srai_epi32(p[jj][half], 3); break;
          }
          // the half's two groups' plus flags, doubled, as an int16 pair
          const __m256i pk = _mm256_srli_epi32(plus, 2 * half);
          const __m256i flags = _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(pk, 1), _mm256_set1_epi32(2)),
                                                _mm256_and_si256(_mm256_slli_epi32(pk, 16), _mm256_set1_epi32(2 << 16)));
          sh[half] = _mm256_add_epi32(g8, _mm256_madd_epi16(flags, _mm256_set1_epi32(s8p[2 * b + half])));
        }
        const __m256i s32 = block_sum(sh[0], sh[1], scales(blk, j), s16[b], s[b] - s16[b]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dv8, _mm256_set1_ps(d[b])), acc);
      }
      return acc;
    };
    _mm256_storeu_ps(y, one_token_halves<kBlock>(w, a, t0, prefetch, half_blocks));
  }

  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    if constexpr (kT == 1) {
      if constexpr (Dot::kInt16)
        return tile1(w, a, t0, y, prefetch);
      else
        return tile1_int32(w, a, t0, y, prefetch);
    }
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;
    const auto& d = tk.d;
    const auto& s = tk.s;
    const auto& s16 = tk.s16;
    for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
      const uint8_t* blk = w + sb * kBlock;
      const __m256 dv8 = _mm256_mul_ps(row_scales(blk), _mm256_set1_ps(0.125f));
      for (int j = 0; j < 8; ++j) {
        const int64_t b = sb * 8 + j;
        if (prefetch) prefetch_ahead<kBlock / 8>(blk + j * (kBlock / 8));
        const Scales f = scales(blk, j);
        const __m256i minus = minus_lanes(blk, j);
        __m256i v[8];
        for (int c = 0; c < 8; ++c) {
          const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * (8 * (j / 4) + c)));
          v[c] = values(x, j % 4, plus2(minus, c / 2));
        }
        for (int t = 0; t < kT; ++t) {
          const int8_t* qa = q[t] + b * 32;
          ChainSum<Dot, kT> half[2];
          for (int c = 0; c < 8; ++c) {
            ChainSum<Dot, kT>& hs = half[c / 4];
            if constexpr (kT >= 2) hs.put_in_order(c % 4, hs.starts(c % 4), v[c], bcast4(qa + 4 * c));
            else hs.put(c % 4, hs.starts(c % 4), v[c], bcast4(qa + 4 * c));
          }
          const __m256i s32 = block_sum(half[0].total(), half[1].total(), f, s16[t][b], s[t][b] - s16[t][b]);
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dv8, _mm256_set1_ps(d[t][b])), acc[t]);
        }
      }
    }
    tk.store(y, ldy);
  }
};

}  // namespace
}  // namespace dsinfer::kern
