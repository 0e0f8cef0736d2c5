#pragma once
// The row-at-a-time driver of the file-layout tile kernels (gemm_k_avx2.cpp, gemm_iq_grid_avx2.cpp): each
// weight row runs against tokens 4 at a time, then the 1-3 left, through Tile::run<kT>(row, a, t0, out[kT]).
// A tile decodes each block of the row once for its kT tokens; every token's arithmetic is the one-token
// kernel's, so results never depend on the batch. Internal to src/kernels/cpu/.

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/gemm.h"

namespace dsinfer::kern {
namespace {  // each *_avx2.cpp gets its own copy, built with its own -m flags

template <class Tile>
void gemm_row_tiles(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  float out[4];
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* wr = w + r * row_bytes;
    int64_t t = 0;
    for (; t + 4 <= a.n_tok; t += 4) {
      Tile::template run<4>(wr, a, t, out);
      for (int i = 0; i < 4; ++i) y[(t + i) * ldy + r] = out[i];
    }
    const int64_t rest = a.n_tok - t;
    switch (rest) {
      case 1:
        Tile::template run<1>(wr, a, t, out);
        break;
      case 2:
        Tile::template run<2>(wr, a, t, out);
        break;
      case 3:
        Tile::template run<3>(wr, a, t, out);
        break;
      default:
        break;
    }
    for (int64_t i = 0; i < rest; ++i) y[(t + i) * ldy + r] = out[i];
  }
}

}  // namespace
}  // namespace dsinfer::kern
