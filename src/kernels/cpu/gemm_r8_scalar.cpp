// Scalar mirror of the R8 kernels (gemm_r8_tiles.h, gemm_r8_panels.h) for every row-interleaved layout
// of tensor/interleave.h: per row, token and block the exact integer sum, then the same float operations
// in block order — the AVX2 and VNNI lanes bit for bit.

#include <cmath>
#include <cstring>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_blocks.h"
#include "tensor/interleave.h"

namespace dsinfer::kern {
namespace {

constexpr int64_t kGroup = kInterleaveRows;

// y[t * ldy + r] = dot(row group of r, lane of r, token t's q, d, sum) for every row and token.
template <class Dot>
void for_rows_and_tokens(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y,
                         int64_t ldy, Dot&& dot) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* grp = w + (r / kGroup) * kGroup * row_bytes;
    const int lane = static_cast<int>(r % kGroup);
    for (int64_t t = 0; t < a.n_tok; ++t) y[t * ldy + r] = dot(grp, lane, a.qt(t), a.dt(t), a.sumt(t));
  }
}

// Q8_0_R8: per row, token and block the exact int8 dot, then acc = fma(float(sum), d_w * d_a, acc).
void gemm_q8_0_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kBlock = kGroup * kQ8_0Bytes;
  for_rows_and_tokens(w, row_bytes, n_rows, a, y, ldy,
                      [&](const uint8_t* g, int lane, const int8_t* q, const float* d, const int32_t*) {
                        float acc = 0;
                        for (int64_t b = 0; b < a.nb; ++b) {
                          const uint8_t* blk = g + b * kBlock;
                          int32_t s = 0;
                          for (int c = 0; c < 8; ++c)
                            for (int j = 0; j < 4; ++j)
                              s += static_cast<int8_t>(blk[16 + 32 * c + 4 * lane + j]) * q[32 * b + 4 * c + j];
                          acc = std::fma(static_cast<float>(s), half_at(blk + 2 * lane) * d[b], acc);
                        }
                        return acc;
                      });
}

// Q4_0_R8 (kBits 4), Q5_0_R8 / Q5_1_R8 (kBits 5, kMin: Q5_1), the AVX2 NibbleR8 lane by lane: the exact
// sum a q - kOffset sum a, then acc = fma(float(sum), d_w * d_a, acc) (Q5_1: then acc = fma(m, d_a sum a, acc)).
template <int kBits, bool kMin>
void gemm_nibble_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kScales = kMin ? 32 : 16, kBlock = kScales + 128 + (kBits == 5 ? 32 : 0);
  constexpr int kOffset = kMin ? 0 : (kBits == 5 ? 16 : 8);
  for_rows_and_tokens(w, row_bytes, n_rows, a, y, ldy,
                      [&](const uint8_t* g, int lane, const int8_t* q, const float* d, const int32_t* sum) {
                        float acc = 0;
                        for (int64_t b = 0; b < a.nb; ++b) {
                          const uint8_t* blk = g + b * kBlock;
                          int32_t s = 0;
                          for (int k = 0; k < 8; ++k)  // chunk k: values 4k..4k+3
                            for (int j = 0; j < 4; ++j) {
                              const uint8_t byte = blk[kScales + 32 * (k % 4) + 4 * lane + j];
                              int v = k < 4 ? (byte & 0x0f) : (byte >> 4);
                              if (kBits == 5) v |= ((blk[kScales + 128 + 4 * lane + j] >> k) & 1) << 4;
                              s += v * q[32 * b + 4 * k + j];
                            }
                          s -= kOffset * sum[b];
                          acc = std::fma(static_cast<float>(s), half_at(blk + 2 * lane) * d[b], acc);
                          if (kMin) acc = std::fma(half_at(blk + 16 + 2 * lane), d[b] * static_cast<float>(sum[b]), acc);
                        }
                        return acc;
                      });
}

// Q4_K_R8 / Q5_K_R8 (layouts in tensor/interleave.h), the AVX2 QK45R8 lane by lane.
template <bool kFifthBit>
void gemm_qk45_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kBlock = 8 * (kFifthBit ? 180 : 148), kQs = kFifthBit ? 416 : 160;
  for_rows_and_tokens(w, row_bytes, n_rows, a, y, ldy,
                      [&](const uint8_t* grp, int lane, const int8_t* q, const float* d, const int32_t* sum) {
                        float acc = 0;
                        for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
                          const uint8_t* blk = grp + sb * kBlock;
                          const float dd = half_at(blk + 2 * lane), dmin = half_at(blk + 16 + 2 * lane);
                          for (int g = 0; g < 8; ++g) {
                            const int64_t b = sb * 8 + g;
                            const float dsc = dd * static_cast<float>(blk[32 + 8 * g + lane]);
                            const float dmn = dmin * static_cast<float>(blk[96 + 8 * g + lane]);
                            const uint8_t* qs = blk + kQs + 256 * (g / 2);
                            int32_t s = 0;
                            for (int c = 0; c < 8; ++c)
                              for (int j = 0; j < 4; ++j) {
                                const uint8_t v = qs[32 * c + 4 * lane + j];
                                int val = (g & 1) ? (v >> 4) : (v & 0x0f);
                                if (kFifthBit) val |= ((blk[160 + 32 * c + 4 * lane + j] >> g) & 1) << 4;
                                s += val * q[b * 32 + 4 * c + j];
                              }
                            acc = std::fma(static_cast<float>(s), dsc * d[b], acc);
                            acc = std::fma(-dmn, d[b] * static_cast<float>(sum[b]), acc);
                          }
                        }
                        return acc;
                      });
}

// Q6_K_R8 (layout in tensor/interleave.h): the integers of the AVX2 Q6_KR8 (which sums q a and takes
// 32 sc sum_half a off per block: the same integer), then its float operations.
void gemm_q6_k_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kBlock = 8 * 210;
  for_rows_and_tokens(
      w, row_bytes, n_rows, a, y, ldy,
      [&](const uint8_t* grp, int lane, const int8_t* q, const float* d, const int32_t*) {
        float acc = 0;
        for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
          const uint8_t* blk = grp + sb * kBlock;
          const float dd = half_at(blk + 2 * lane);
          for (int h = 0; h < 2; ++h)
            for (int quarter = 0; quarter < 4; ++quarter) {
              const int64_t b = sb * 8 + 4 * h + quarter;
              const uint8_t* ql = blk + 144 + (h * 2 + (quarter & 1)) * 256;
              const uint8_t* qh = blk + 1168 + h * 256;
              int32_t s = 0;
              for (int half = 0; half < 2; ++half) {
                const auto sc = static_cast<int8_t>(blk[16 + 8 * (8 * h + 2 * quarter + half) + lane]);
                int32_t part = 0;
                for (int c = 4 * half; c < 4 * half + 4; ++c)
                  for (int j = 0; j < 4; ++j) {
                    const uint8_t lo = ql[32 * c + 4 * lane + j], hi = qh[32 * c + 4 * lane + j];
                    const int v =
                        ((quarter >> 1) ? (lo >> 4) : (lo & 0x0f)) | (((hi >> (2 * quarter)) & 3) << 4);
                    part += (v - 32) * q[b * 32 + 4 * c + j];
                  }
                s += sc * part;
              }
              acc = std::fma(static_cast<float>(s), dd * d[b], acc);
            }
        }
        return acc;
      });
}

// Q2_K_R8 / Q3_K_R8 (layouts in tensor/interleave.h): the integers and float operations of gemm_r8_k23.h's
// Q23_KR8, read from the row's own bytes.
template <bool kQ3>
void gemm_q23_k_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kBlock = 8 * (kQ3 ? kQ3_KR8Bytes : kQ2_KBytes), kQs = kQ3 ? 144 : 160;
  for_rows_and_tokens(
      w, row_bytes, n_rows, a, y, ldy,
      [&](const uint8_t* grp, int lane, const int8_t* q, const float* d, const int32_t*) {
        float acc = 0;
        for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
          const uint8_t* blk = grp + sb * kBlock;
          const float dd = half_at(blk + 2 * lane), dmin = kQ3 ? 0.0f : half_at(blk + 16 + 2 * lane);
          int sc[16], mn[16] = {};
          if constexpr (kQ3) {
            for (int g = 0; g < 16; ++g) sc[g] = static_cast<int8_t>(blk[16 + 8 * g + lane]);
          } else {
            for (int g = 0; g < 16; ++g) {
              sc[g] = blk[32 + 8 * g + lane] & 0x0f;
              mn[g] = blk[32 + 8 * g + lane] >> 4;
            }
          }
          for (int j = 0; j < 8; ++j) {
            const int64_t b = sb * 8 + j;
            int32_t s = 0, half_sum[2] = {0, 0};
            for (int half = 0; half < 2; ++half) {
              int32_t part = 0;
              for (int c = 4 * half; c < 4 * half + 4; ++c)
                for (int k = 0; k < 4; ++k) {
                  int v = (blk[kQs + 32 * (8 * (j / 4) + c) + 4 * lane + k] >> (2 * (j % 4))) & 3;
                  if (kQ3) v |= ((blk[656 + 32 * c + 4 * lane + k] >> j) & 1) << 2;
                  const int qa = q[b * 32 + 4 * c + k];
                  part += v * qa;
                  half_sum[half] += qa;
                }
              s += sc[2 * j + half] * part;
            }
            if (kQ3) s -= 4 * (sc[2 * j] * half_sum[0] + sc[2 * j + 1] * half_sum[1]);
            acc = std::fma(static_cast<float>(s), dd * d[b], acc);
            if (!kQ3) {
              const int32_t m = mn[2 * j] * half_sum[0] + mn[2 * j + 1] * half_sum[1];
              acc = std::fma(-static_cast<float>(m), dmin * d[b], acc);
            }
          }
        }
        return acc;
      });
}

// IQ4_NL_R8 / IQ4_XS_R8 (layouts in tensor/interleave.h), gemm_r8_tiles.h's IQ4R8 lane by lane: the exact
// sum of table values times activations, then acc = fma(float(sum), factor * d_a, acc) with factor = d (NL)
// or d * (scale - 32) (XS).
template <bool kXS>
void gemm_iq4_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kBlock = kXS ? 8 * 138 : 16 + 128;
  constexpr int kGroups = kXS ? 8 : 1;
  for_rows_and_tokens(w, row_bytes, n_rows, a, y, ldy,
                      [&](const uint8_t* grp, int lane, const int8_t* q, const float* d, const int32_t*) {
                        float acc = 0;
                        for (int64_t ib = 0; ib < a.nb / kGroups; ++ib) {
                          const uint8_t* blk = grp + ib * kBlock;
                          for (int g = 0; g < kGroups; ++g) {
                            const int64_t b = ib * kGroups + g;
                            float factor = half_at(blk + 2 * lane);
                            if (kXS) factor *= static_cast<float>(static_cast<int8_t>(blk[16 + 8 * g + lane]));
                            const uint8_t* qs = blk + (kXS ? 80 + 128 * g : 16);
                            int32_t s = 0;
                            for (int k = 0; k < 8; ++k)  // chunk k: values 4k..4k+3
                              for (int j = 0; j < 4; ++j) {
                                const uint8_t byte = qs[32 * (k % 4) + 4 * lane + j];
                                s += kIQ4NLValues[k < 4 ? (byte & 0x0f) : (byte >> 4)] * q[32 * b + 4 * k + j];
                              }
                            acc = std::fma(static_cast<float>(s), factor * d[b], acc);
                          }
                        }
                        return acc;
                      });
}

// IQ1_S_R8 (layout in tensor/interleave.h), gemm_r8_iq1.h's IQ1SR8 lane by lane: per block the exact
// sum w a = 8 (2s + 1) sum g a - (2s + 1)(7 + 2 minus) sum a, then acc = fma(float(sum), (d / 8) * d_a, acc).
void gemm_iq1_s_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kBlock = IQ1SR8Block::kBytes, kCodes = IQ1SR8Block::kCodes, kQs = IQ1SR8Block::kQs;
  for_rows_and_tokens(
      w, row_bytes, n_rows, a, y, ldy,
      [&](const uint8_t* grp, int lane, const int8_t* q, const float* d, const int32_t* sum) {
        float acc = 0;
        for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
          const uint8_t* blk = grp + sb * kBlock;
          const float d8 = half_at(blk + 2 * lane) * 0.125f;
          for (int j = 0; j < 8; ++j) {
            const int64_t b = sb * 8 + j;
            const int code = (blk[kCodes + 4 * j + lane / 2] >> (4 * (lane % 2))) & 15;
            const int sc = 2 * (code & 7) + 1, m = sc * (code & 8 ? 9 : 7);
            int32_t ga = 0;
            for (int c = 0; c < 8; ++c)
              for (int k = 0; k < 4; ++k)
                ga += ((blk[kQs + 32 * (8 * (j / 4) + c) + 4 * lane + k] >> (2 * (j % 4))) & 3) * q[b * 32 + 4 * c + k];
            const int32_t s = 8 * sc * ga - m * sum[b];
            acc = std::fma(static_cast<float>(s), d8 * d[b], acc);
          }
        }
        return acc;
      });
}

// IQ1_M_R8 (layout in tensor/interleave.h), gemm_r8_iq1.h's IQ1MR8 lane by lane: per block the exact
// sum w a = sum_half (2 s_half + 1)(sum v a - 9 sum a) with v = 8 g + (delta +1/8 ? 2 : 0), then
// acc = fma(float(sum), (d / 8) * d_a, acc).
void gemm_iq1_m_r8(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y, int64_t ldy) {
  constexpr size_t kBlock = IQ1MR8Block::kBytes, kScales = IQ1MR8Block::kScales, kMinus = IQ1MR8Block::kMinus,
                   kQs = IQ1MR8Block::kQs;
  for_rows_and_tokens(
      w, row_bytes, n_rows, a, y, ldy,
      [&](const uint8_t* grp, int lane, const int8_t* q, const float* d, const int32_t*) {
        float acc = 0;
        for (int64_t sb = 0; sb < a.nb / 8; ++sb) {
          const uint8_t* blk = grp + sb * kBlock;
          const float d8 = half_at(blk + 2 * lane) * 0.125f;
          for (int j = 0; j < 8; ++j) {
            const int64_t b = sb * 8 + j;
            const int code = blk[kScales + 8 * j + lane];
            const int minus = (blk[kMinus + 4 * j + lane / 2] >> (4 * (lane % 2))) & 15;
            int32_t s = 0;
            for (int half = 0; half < 2; ++half) {
              const int sc = 2 * ((code >> (3 * half)) & 7) + 1;
              int32_t va = 0, asum = 0;
              for (int c = 4 * half; c < 4 * half + 4; ++c)
                for (int k = 0; k < 4; ++k) {
                  const int g = (blk[kQs + 32 * (8 * (j / 4) + c) + 4 * lane + k] >> (2 * (j % 4))) & 3;
                  const int v = 8 * g + ((minus >> (c / 2)) & 1 ? 0 : 2), qa = q[b * 32 + 4 * c + k];
                  va += v * qa;
                  asum += qa;
                }
              s += sc * (va - 9 * asum);
            }
            acc = std::fma(static_cast<float>(s), d8 * d[b], acc);
          }
        }
        return acc;
      });
}

}  // namespace

QuantGemmFn iq4_nl_r8_scalar() {
  return gemm_iq4_r8<false>;
}
QuantGemmFn iq4_xs_r8_scalar() {
  return gemm_iq4_r8<true>;
}
QuantGemmFn q2_k_r8_scalar() {
  return gemm_q23_k_r8<false>;
}
QuantGemmFn q3_k_r8_scalar() {
  return gemm_q23_k_r8<true>;
}
QuantGemmFn q6_k_r8_scalar() {
  return gemm_q6_k_r8;
}
QuantGemmFn q4_k_r8_scalar() {
  return gemm_qk45_r8<false>;
}
QuantGemmFn q5_k_r8_scalar() {
  return gemm_qk45_r8<true>;
}
QuantGemmFn q4_0_r8_scalar() {
  return gemm_nibble_r8<4, false>;
}
QuantGemmFn q5_0_r8_scalar() {
  return gemm_nibble_r8<5, false>;
}
QuantGemmFn q5_1_r8_scalar() {
  return gemm_nibble_r8<5, true>;
}
QuantGemmFn q8_0_r8_scalar() {
  return gemm_q8_0_r8;
}
QuantGemmFn iq1_s_r8_scalar() {
  return gemm_iq1_s_r8;
}
QuantGemmFn iq1_m_r8_scalar() {
  return gemm_iq1_m_r8;
}

}  // namespace dsinfer::kern
