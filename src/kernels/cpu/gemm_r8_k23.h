#pragma once
// R8 tile kernels of the low-bit K-quants, Q2_K_R8 and Q3_K_R8 (layouts in tensor/interleave.h), written once
// for every x86 set as gemm_r8_tiles.h's (include after it). Like Q6_K's they keep int16 sums in every set:
// each 16-value group has its own scale, applied with vpmaddwd.
//
// Per activation block j (values 32j..32j+31 = groups 2j, 2j+1) its two groups' factors of the 8 rows come as
// int16 (Q2_K: the 4-bit scale and min nibbles; Q3_K: the 6-bit scale - 32, unpacked to a byte by the
// repacking); per chunk c (values 4c..4c+3) the 2-bit fields at bits 2 (j % 4) of half j / 4's qs chunk, for
// Q3_K with hmask bit j as the third bit (q = 0..7; x = d (sc - 32) (q - 4)). Per (row, token, block), exact
// in int32:
//   s = sc_0 sum_{c<4} q a + sc_1 sum_{c>=4} q a    (int16 sums of 4 chunks: 4 x 2 x 7 x 127 fits)
//   Q3_K: s -= 4 (sc_0 a_0 + sc_1 a_1)             (a_0, a_1: the activation sums of the two halves)
//   acc = fma(float(s), d * d_a, acc)
//   Q2_K: acc = fma(-float(m_0 a_0 + m_1 a_1), dmin * d_a, acc)
// gemm_r8_scalar.cpp mirrors this lane by lane.

namespace dsinfer::kern {
namespace {

template <class Dot, bool kQ3>
struct Q23_KR8 {
  using DotOps = Dot;
  static constexpr size_t kBlock = 8 * (kQ3 ? 114 : 84);
  static constexpr size_t kQs = kQ3 ? 144 : 160;  // qs: [half][chunk][8 rows][4 bytes]
  static constexpr size_t kHmask = 656;          // Q3_K: [chunk][8 rows][4 bytes]

  // Block j's group factors for the 8 rows as vpmaddwd operands: sc0 / sc1 with lanes 2i, 2i+1 = row i's factor
  // of group 2j / 2j + 1 (Q2_K: 4-bit scale; Q3_K: 6-bit scale - 32), and pair with lanes 2i, 2i+1 = row i's
  // (Q3_K) factors of both groups or (Q2_K) 4-bit mins of both. The two groups' 16 bytes are one load; each
  // vector is one byte shuffle into int16 lanes (Q3_K's signed bytes into the high halves, then shifted down).
  struct Factors {
    __m256i sc0, sc1, pair;
  };
  [[gnu::always_inline]] static Factors factors(const uint8_t* blk, int j) {
    constexpr char Z = -128;  // (vpshufb: a zero byte)
    const __m256i bytes =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + (kQ3 ? 16 : 32) + 16 * j)));
    // int16 lane k of the low 128 bits takes byte i_k, of the high 128 bits byte i_k + 4 (rows 4..7)
    auto spread = [&](const char (&i)[8]) {
      const __m256i idx = kQ3 ? _mm256_setr_epi8(Z, i[0], Z, i[1], Z, i[2], Z, i[3], Z, i[4], Z, i[5], Z, i[6], Z, i[7],
                                                 Z, i[0] + 4, Z, i[1] + 4, Z, i[2] + 4, Z, i[3] + 4, Z, i[4] + 4, Z,
                                                 i[5] + 4, Z, i[6] + 4, Z, i[7] + 4)
                              : _mm256_setr_epi8(i[0], Z, i[1], Z, i[2], Z, i[3], Z, i[4], Z, i[5], Z, i[6], Z, i[7], Z,
                                                 i[0] + 4, Z, i[1] + 4, Z, i[2] + 4, Z, i[3] + 4, Z, i[4] + 4, Z,
                                                 i[5] + 4, Z, i[6] + 4, Z, i[7] + 4, Z);
      const __m256i x = _mm256_shuffle_epi8(bytes, idx);
      return kQ3 ? _mm256_srai_epi16(x, 8) : x;
    };
    static constexpr char kRows0[8] = {0, 0, 1, 1, 2, 2, 3, 3}, kRows1[8] = {8, 8, 9, 9, 10, 10, 11, 11},
                          kBoth[8] = {0, 8, 1, 9, 2, 10, 3, 11};
    Factors f{spread(kRows0), spread(kRows1), spread(kBoth)};
    if constexpr (!kQ3) {
      const __m256i m4 = _mm256_set1_epi16(0x0f);
      f.sc0 = _mm256_and_si256(f.sc0, m4);
      f.sc1 = _mm256_and_si256(f.sc1, m4);
      f.pair = _mm256_srli_epi16(f.pair, 4);  // the mins
    }
    return f;
  }
  // Chunk c of activation block j for the 8 rows: q = 0..3 (Q2_K) or 0..7 (Q3_K). The third bit is
  // shifted straight to bit 2 (16-bit shifts carry the neighbour byte's bits only into bits the mask drops).
  [[gnu::always_inline]] static __m256i values(const uint8_t* blk, int j, int c) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * (8 * (j / 4) + c)));
    __m256i v = _mm256_and_si256(_mm256_srli_epi16(x, 2 * (j % 4)), _mm256_set1_epi8(3));
    if constexpr (kQ3) {
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kHmask + 32 * c));
      const __m256i at2 = j < 2 ? _mm256_slli_epi16(hb, 2 - j) : _mm256_srli_epi16(hb, j - 2);
      v = _mm256_or_si256(v, _mm256_and_si256(at2, _mm256_set1_epi8(4)));
    }
    return v;
  }

  // The block's integer for one token from its two halves' int16 sums, then the float operations.
  [[gnu::always_inline]] static __m256 finish_block(__m256 acc, __m256i p0, __m256i p1, const Factors& f, int32_t a0,
                                                    int32_t a1, __m256 dv, __m256 dmv, float d_a) {
    __m256i s32 = _mm256_add_epi32(_mm256_madd_epi16(p0, f.sc0), _mm256_madd_epi16(p1, f.sc1));
    const __m256i asum = _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(a1) << 16) |
                                                                (static_cast<uint32_t>(a0) & 0xffff)));
    const __m256i paired = _mm256_madd_epi16(f.pair, asum);  // Q3_K: sc_0 a_0 + sc_1 a_1; Q2_K: the mins
    if constexpr (kQ3) s32 = _mm256_sub_epi32(s32, _mm256_slli_epi32(paired, 2));
    const __m256 da = _mm256_set1_ps(d_a);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dv, da), acc);
    if constexpr (!kQ3) acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(paired), _mm256_mul_ps(dmv, da), acc);
    return acc;
  }

  // One token, chunk-major: each qs (and hmask) chunk is loaded once for two blocks of its half, whose
  // int16 sums wait in 4 registers; then the blocks finish in order (the same integers and float operations
  // as the token-major tiles below).
  static void tile1(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, bool prefetch) {
    const int8_t* q = a.qt(t0);
    const float* d = a.dt(t0);
    const int32_t *s = a.sumt(t0), *s16 = a.sum16t(t0);
    __m256 acc = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
      const uint8_t* blk = w + sb * kBlock;
      const __m256 dv = row_scales(blk);
      const __m256 dmv = kQ3 ? _mm256_setzero_ps() : row_scales(blk + 16);
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        if (prefetch) prefetch_ahead<kBlock / 2>(blk + h * (kBlock / 2));
        const int8_t* qa = q + (sb * 8 + 4 * h) * 32;  // block 4h + jj at qa + 32 jj
#pragma GCC unroll 2
        for (int j0 = 0; j0 < 4; j0 += 2) {  // two blocks per pass over the chunks: 4 sums in registers
          __m256i p[2][2];
          // (an opaque copy of the pointer: GCC would otherwise keep the first pass's chunks for the second
          // one, which spills them)
          const uint8_t* bp = blk;
          asm("" : "+r"(bp));
#pragma GCC unroll 8
          for (int c = 0; c < 8; ++c) {
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + kQs + 32 * (8 * h + c)));
            const __m256i hb = kQ3 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + kHmask + 32 * c))
                                   : _mm256_setzero_si256();
#pragma GCC unroll 2
            for (int k = 0; k < 2; ++k) {
              const int jj = j0 + k, j = 4 * h + jj;  // hmask bit j -> bit 2
              __m256i v = _mm256_and_si256(jj == 0 ? x : _mm256_srli_epi16(x, 2 * jj), m3);
              if constexpr (kQ3) {
                const __m256i at2 =
                    j < 2 ? _mm256_slli_epi16(hb, 2 - j) : j == 2 ? hb : _mm256_srli_epi16(hb, j - 2);
                v = _mm256_or_si256(v, _mm256_and_si256(at2, m4));
              }
              const __m256i prod = _mm256_maddubs_epi16(v, bcast4(qa + 32 * jj + 4 * c));
              p[k][c / 4] = c % 4 == 0 ? prod : _mm256_add_epi16(p[k][c / 4], prod);
              asm("" : "+x"(p[k][c / 4]));  // in order: GCC's tree of live products spills
            }
          }
#pragma GCC unroll 2
          for (int k = 0; k < 2; ++k) {
            const int j = 4 * h + j0 + k;
            const int64_t b = sb * 8 + j;
            acc = finish_block(acc, p[k][0], p[k][1], factors(blk, j), s16[b], s[b] - s16[b], dv, dmv, d[b]);
          }
        }
      }
    }
    _mm256_storeu_ps(y, acc);
  }

  template <int kT>
  static void tile(const uint8_t* w, const ActQ8& a, int64_t t0, float* y, int64_t ldy, bool prefetch) {
    if constexpr (kT == 1) return tile1(w, a, t0, y, prefetch);
    TileTokens<kT> tk(a, t0);
    auto& acc = tk.acc;
    const auto& q = tk.q;
    const auto& d = tk.d;
    const auto& s = tk.s;
    const auto& s16 = tk.s16;
    for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
      const uint8_t* blk = w + sb * kBlock;
      const __m256 dv = row_scales(blk);
      const __m256 dmv = kQ3 ? _mm256_setzero_ps() : row_scales(blk + 16);
      auto block = [&](int j) {
        const int64_t b = sb * 8 + j;
        if (prefetch) prefetch_ahead<kBlock / 8>(blk + j * (kBlock / 8));  // an eighth per block, as Q6_KR8
        const Factors f = factors(blk, j);
        __m256i v[8];
        for (int c = 0; c < 8; ++c) v[c] = values(blk, j, c);
        for (int t = 0; t < kT; ++t) {
          const int8_t* qa = q[t] + b * 32;
          __m256i p[2];
          for (int half = 0; half < 2; ++half) {
            const int c0 = 4 * half;
            p[half] = _mm256_add_epi16(
                _mm256_add_epi16(_mm256_maddubs_epi16(v[c0], bcast4(qa + 4 * c0)),
                                 _mm256_maddubs_epi16(v[c0 + 1], bcast4(qa + 4 * c0 + 4))),
                _mm256_add_epi16(_mm256_maddubs_epi16(v[c0 + 2], bcast4(qa + 4 * c0 + 8)),
                                 _mm256_maddubs_epi16(v[c0 + 3], bcast4(qa + 4 * c0 + 12))));
          }
          // (|a| <= 2032: the half sums fit int16)
          acc[t] = finish_block(acc[t], p[0], p[1], f, s16[t][b], s[t][b] - s16[t][b], dv, dmv, d[t][b]);
        }
      };
      for (int j = 0; j < 8; ++j) block(j);
    }
    tk.store(y, ldy);
  }
};

}  // namespace
}  // namespace dsinfer::kern
