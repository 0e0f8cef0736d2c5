// AVX2 MLA kernels (see attention.h). Scores: 8 heads at a time against one key row, so the row is
// loaded from L1 H/8 times but from memory once. Values: 32 columns x 2 heads of accumulators held in
// registers across all keys.

#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm.h"

namespace dsinfer::kern {
namespace {

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 load8(const float* k) { return _mm256_loadu_ps(k); }
inline __m256 load8(const uint16_t* k) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k))); }

}  // namespace

void mla_scores_scalar(const float*, int64_t, int64_t, const float* const*, int64_t, float, float*, int64_t);
void mla_values_scalar(const float*, int64_t, int64_t, const float* const*, int64_t, int64_t, int64_t, float*,
                       int64_t);
void mla_scores_f16_scalar(const float*, int64_t, int64_t, const uint16_t* const*, int64_t, float, float*, int64_t);
void mla_values_f16_scalar(const float*, int64_t, int64_t, const uint16_t* const*, int64_t, int64_t, int64_t, float*,
                           int64_t);

namespace {

inline void scores_fallback(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale,
                            float* s, int64_t lds) {
  mla_scores_scalar(q, H, L, keys, n, scale, s, lds);
}
inline void scores_fallback(const float* q, int64_t H, int64_t L, const uint16_t* const* keys, int64_t n, float scale,
                            float* s, int64_t lds) {
  mla_scores_f16_scalar(q, H, L, keys, n, scale, s, lds);
}
inline void values_fallback(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0,
                            int64_t c1, float* out, int64_t ldo) {
  mla_values_scalar(p, lds, H, keys, n, c0, c1, out, ldo);
}
inline void values_fallback(const float* p, int64_t lds, int64_t H, const uint16_t* const* keys, int64_t n, int64_t c0,
                            int64_t c1, float* out, int64_t ldo) {
  mla_values_f16_scalar(p, lds, H, keys, n, c0, c1, out, ldo);
}

// Prefetches the cache lines of `rows` (row_lines each), a few per call of step(): the key rows of the
// next tile, fetched while this one computes (a decode step finds them in memory, not in any cache; the
// hardware prefetchers alone left the kernel at about half its speed on such rows).
template <class K>
struct RowPrefetch {
  const K* const* rows = nullptr;  // rows [0, n_rows), lines [0, row_lines) of each from `offset` bytes
  int64_t n_rows = 0, row_lines = 0, offset = 0;
  int64_t row = 0, line = 0;  // the next line to fetch (counters, not a division: this runs per chunk)
  RowPrefetch() = default;
  RowPrefetch(const K* const* r, int64_t n, int64_t offset_bytes, int64_t bytes)
      : rows(r), n_rows(n), row_lines((bytes + 63) / 64 + 1), offset(offset_bytes) {}  // +1: rows need not start on a line
  bool done() const { return row >= n_rows; }
  void step() {
    if (row >= n_rows) return;
    _mm_prefetch(reinterpret_cast<const char*>(rows[row]) + offset + 64 * line, _MM_HINT_T0);
    if (++line == row_lines) {
      line = 0;
      ++row;
    }
  }
};

// NJ keys x NH heads of scores: each key chunk is loaded once for NH heads and each query chunk once for
// NJ keys (12 FMAs per 7 loads at 3 x 4, against 8 per 9 one key at a time). Every (key, head) keeps its
// own 8-lane accumulator over the columns in order, so the sums are those of the one-key loop.
template <int NJ, int NH, class K>
void scores_tile(const float* q, int64_t L, const K* const* keys, float scale, float* s, int64_t lds,
                 RowPrefetch<K>& pf) {
  __m256 acc[NJ][NH];
  for (int j = 0; j < NJ; ++j)
    for (int i = 0; i < NH; ++i) acc[j][i] = _mm256_setzero_ps();
  for (int64_t c = 0; c < L; c += 8) {
    if (c % 16 == 0) pf.step();  // every other chunk: enough for 3 rows over 4 head tiles
    __m256 kv[NJ];
    for (int j = 0; j < NJ; ++j) kv[j] = load8(keys[j] + c);
    for (int i = 0; i < NH; ++i) {
      const __m256 qv = _mm256_loadu_ps(q + i * L + c);
      for (int j = 0; j < NJ; ++j) acc[j][i] = _mm256_fmadd_ps(qv, kv[j], acc[j][i]);
    }
  }
  for (int j = 0; j < NJ; ++j)
    for (int i = 0; i < NH; ++i) s[i * lds + j] = hsum8(acc[j][i]) * scale;
}

// Keys [0, NJ) for all H heads; meanwhile the n_next rows of `next` are prefetched, spread over the
// head tiles.
template <int NJ, class K>
void scores_keys(const float* q, int64_t H, int64_t L, const K* const* keys, float scale, float* s, int64_t lds,
                 const K* const* next, int64_t n_next) {
  RowPrefetch<K> pf(next, n_next, 0, L * static_cast<int64_t>(sizeof(K)));
  int64_t h = 0;
  for (; h + 4 <= H; h += 4) scores_tile<NJ, 4>(q + h * L, L, keys, scale, s + h * lds, lds, pf);
  switch (H - h) {
    case 1: scores_tile<NJ, 1>(q + h * L, L, keys, scale, s + h * lds, lds, pf); break;
    case 2: scores_tile<NJ, 2>(q + h * L, L, keys, scale, s + h * lds, lds, pf); break;
    case 3: scores_tile<NJ, 3>(q + h * L, L, keys, scale, s + h * lds, lds, pf); break;
    default: break;
  }
  while (!pf.done()) pf.step();  // fewer column chunks than lines (small H): fetch the rest now
}

template <class K>
void scores(const float* q, int64_t H, int64_t L, const K* const* keys, int64_t n, float scale, float* s, int64_t lds) {
  if (L % 8 != 0) return scores_fallback(q, H, L, keys, n, scale, s, lds);
  int64_t j = 0;
  for (; j + 3 <= n; j += 3)
    scores_keys<3>(q, H, L, keys + j, scale, s + j, lds, keys + j + 3, std::min<int64_t>(3, n - j - 3));
  if (n - j == 2) scores_keys<2>(q, H, L, keys + j, scale, s + j, lds, keys, 0);
  if (n - j == 1) scores_keys<1>(q, H, L, keys + j, scale, s + j, lds, keys, 0);
}

// 4 heads x W (24 or 16) columns of accumulators in registers; keys in blocks of kKeyBlock rows (~300 KB,
// kept in L2 while every strip and head group passes over them), the partial sums parked in `out`
// between blocks. Every (head, column) still accumulates over the keys in order: the sums of the scalar
// mirror. With 24 columns 12 independent chains hide the FMA latency (8 did not: ~50 % of peak).
constexpr int64_t kKeyBlock = 128;

template <int W, class K>
void values_strip(const float* p, int64_t lds, int64_t h, const K* const* keys, int64_t j0, int64_t j1, int64_t c,
                  float* out, int64_t ldo, RowPrefetch<K>& pf) {
  constexpr int NV = W / 8;
  __m256 a[4][NV];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v)
      a[i][v] = j0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(out + (h + i) * ldo + c + 8 * v);
  const float* ph = p + h * lds;
  for (int64_t j = j0; j < j1; ++j) {
    pf.step();
    const K* k = keys[j] + c;
    __m256 kv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) kv[v] = load8(k + 8 * v);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m256 w = _mm256_broadcast_ss(ph + i * lds + j);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) a[i][v] = _mm256_fmadd_ps(w, kv[v], a[i][v]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(out + (h + i) * ldo + c + 8 * v, a[i][v]);
}

template <class K>
void values(const float* p, int64_t lds, int64_t H, const K* const* keys, int64_t n, int64_t c0, int64_t c1, float* out,
            int64_t ldo) {
  if ((c1 - c0) % 8 != 0 || c1 - c0 < 16 || H % 4 != 0) return values_fallback(p, lds, H, keys, n, c0, c1, out, ldo);
  for (int64_t j0 = 0; j0 == 0 || j0 < n; j0 += kKeyBlock) {
    const int64_t j1 = std::min(n, j0 + kKeyBlock);
    // The next block's columns [c0, c1), fetched a line per key step while this block computes (its
    // rows are scattered pages: the hardware prefetchers do not follow them).
    RowPrefetch<K> pf(keys + j1, std::max<int64_t>(0, std::min(kKeyBlock, n - j1)), c0 * static_cast<int64_t>(sizeof(K)),
                      (c1 - c0) * static_cast<int64_t>(sizeof(K)));
    // m = (c1 - c0) / 8 >= 2 chunks as 3 a + 2 b: as many 24-column strips as leave an even rest.
    const int64_t m = (c1 - c0) / 8;
    int64_t n24 = m / 3;
    if ((m - 3 * n24) % 2 != 0) --n24;
    int64_t c = c0;
    for (; c < c0 + 24 * n24; c += 24)
      for (int64_t h = 0; h < H; h += 4) values_strip<24>(p, lds, h, keys, j0, j1, c, out, ldo, pf);
    for (; c < c1; c += 16)
      for (int64_t h = 0; h < H; h += 4) values_strip<16>(p, lds, h, keys, j0, j1, c, out, ldo, pf);
  }
}

}  // namespace

void mla_scores_avx2(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale, float* s,
                     int64_t lds) {
  scores(q, H, L, keys, n, scale, s, lds);
}
void mla_values_avx2(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0,
                     int64_t c1, float* out, int64_t ldo) {
  values(p, lds, H, keys, n, c0, c1, out, ldo);
}
void mla_scores_f16_avx2(const float* q, int64_t H, int64_t L, const uint16_t* const* keys, int64_t n, float scale,
                         float* s, int64_t lds) {
  scores(q, H, L, keys, n, scale, s, lds);
}
void mla_values_f16_avx2(const float* p, int64_t lds, int64_t H, const uint16_t* const* keys, int64_t n, int64_t c0,
                         int64_t c1, float* out, int64_t ldo) {
  values(p, lds, H, keys, n, c0, c1, out, ldo);
}

}  // namespace dsinfer::kern
