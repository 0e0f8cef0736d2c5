// x @ B in float (KernelSet::f32_nn, matmul_f32_nn): the scalar mirror against a double-precision
// product, every SIMD set against the scalar mirror bit for bit, on awkward shapes (columns not a multiple
// of 8 or 16, token counts across the 6-token tiles, K across the kernel's 256-value blocks, strides wider
// than the data).

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cpu/matmul.h"

namespace dsinfer {
namespace {

struct Problem {
  int64_t n_tok, N, K, ldx, ldb, ldy;
  std::vector<float> x, b;
};

Problem make_problem(int64_t n_tok, int64_t N, int64_t K, uint32_t seed) {
  Problem p{n_tok, N, K, K + 3, N + 5, N + 7, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  p.x.resize(static_cast<size_t>(n_tok * p.ldx));
  p.b.resize(static_cast<size_t>(std::max<int64_t>(K, 1) * p.ldb));
  for (auto& v : p.x) v = nd(rng);
  for (auto& v : p.b) v = nd(rng);
  return p;
}

std::vector<float> run(const kern::KernelSet& ks, const Problem& p) {
  std::vector<float> y(static_cast<size_t>(p.n_tok * p.ldy), -7.0f);  // columns past N must stay untouched
  ks.f32_nn(p.x.data(), p.ldx, p.n_tok, p.b.data(), p.ldb, p.N, p.K, y.data(), p.ldy);
  return y;
}

TEST(F32Nn, ScalarMirrorIsTheProductWithinFloatRounding) {
  for (auto [n_tok, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {3, 17, 40}, {7, 130, 300}, {13, 9, 513}}) {
    const Problem p = make_problem(n_tok, N, K, static_cast<uint32_t>(n_tok * 1000 + N));
    const auto y = run(kern::scalar_kernels(), p);
    for (int64_t t = 0; t < n_tok; ++t) {
      for (int64_t n = 0; n < N; ++n) {
        double want = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          want += static_cast<double>(p.x[t * p.ldx + k]) * p.b[k * p.ldb + n];
          mag += std::fabs(static_cast<double>(p.x[t * p.ldx + k]) * p.b[k * p.ldb + n]);
        }
        ASSERT_NEAR(y[t * p.ldy + n], want, 1e-7 * static_cast<double>(K + 1) * mag)  // sequential float sum
            << t << " " << n << " K " << K;
      }
      for (int64_t n = N; n < p.ldy; ++n) ASSERT_EQ(y[t * p.ldy + n], -7.0f) << "wrote past N";
    }
  }
}

TEST(F32Nn, EverySetEqualsTheScalarMirrorBitForBit) {
  const auto sets = runnable_kernel_sets();
  for (int64_t n_tok : {1, 2, 5, 6, 7, 12, 13}) {
    for (int64_t N : {1, 7, 8, 15, 16, 24, 33, 128}) {
      for (int64_t K : {0, 1, 31, 192, 256, 257, 700}) {
        const Problem p = make_problem(n_tok, N, K, static_cast<uint32_t>(n_tok * 7919 + N * 131 + K));
        const auto want = run(kern::scalar_kernels(), p);
        for (const auto* ks : sets) {
          ASSERT_EQ(run(*ks, p), want) << ks->isa << " tokens " << n_tok << " N " << N << " K " << K;
        }
        if (K == 0) {
          for (int64_t t = 0; t < n_tok; ++t) ASSERT_EQ(want[t * p.ldy], 0.0f);
        }
      }
    }
  }
}

TEST(F32Nn, MatmulEntryPointRunsTheCurrentPathsSet) {
  const Problem p = make_problem(5, 40, 300, 11);
  std::vector<float> y(static_cast<size_t>(p.n_tok * p.ldy), -7.0f);
  matmul_f32_nn(p.x.data(), p.ldx, p.n_tok, p.b.data(), p.ldb, p.N, p.K, y.data(), p.ldy);
  EXPECT_EQ(y, run(matmul_kernels(), p));
}

}  // namespace
}  // namespace dsinfer
