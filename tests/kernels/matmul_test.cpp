// Every kernel set is checked against an independent reference on random inputs of awkward sizes:
//  - SIMD (AVX2) kernels against the scalar kernels, which mirror their lanes and FMA order: equal bit
//    for bit (so a whole model decodes identically on either set);
//  - the integer path against the float reference (dequantized weights · float activations), within a
//    bound derived from the activation rounding: |err| <= sum_k |w_k| * d_block(k) / 2;
//  - float-weight kernels against the float reference (fp32 summation order only).

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matmul.h"
#include "tensor/fp8.h"
#include "tensor/half.h"
#include "tensor/quant.h"
#include "util/cpu_features.h"
#include "util/error.h"

namespace dsinfer {
namespace {

std::vector<float> run_set(const kern::KernelSet& ks, const TensorView& w, const std::vector<float>& x, int64_t n_tok,
                           kern::ActQ8& a) {
  const int64_t rows = w.rows(), K = w.cols();
  std::vector<float> y(static_cast<size_t>(n_tok * rows), NAN);
  if (dtype_is_block_quant(w.dtype)) {
    kern::quantize_act(ks, x.data(), K, n_tok, K, a);
    ks.quant_for(w.dtype)(static_cast<const uint8_t*>(w.data), w.row_bytes(), rows, a, y.data(), rows);
  } else {
    const kern::FloatGemmFn fn = ks.float_for(w.dtype);
    if (w.dtype == DType::F8_E4M3) {
      const int64_t sc = (K + 127) / 128;
      for (int64_t r0 = 0; r0 < rows; r0 += 128)
        fn(w.row_ptr(r0), w.row_bytes(), std::min<int64_t>(128, rows - r0), K, x.data(), K, n_tok,
           w.block_scale + (r0 / 128) * sc, y.data() + r0, rows);
    } else {
      fn(static_cast<const uint8_t*>(w.data), w.row_bytes(), rows, K, x.data(), K, n_tok, nullptr, y.data(), rows);
    }
  }
  return y;
}

bool have_avx2() { return cpu_features().has_avx2_tier(); }

struct Case {
  DType t;
  int64_t K;
};

const Case kQuantCases[] = {{DType::Q8_0, 96},  {DType::Q8_0, 2048}, {DType::Q4_0, 96}, {DType::Q4_0, 2048},
                            {DType::Q5_0, 96},  {DType::Q5_0, 1408}, {DType::Q5_1, 96}, {DType::Q5_1, 1408},
                            {DType::Q4_K, 512}, {DType::Q5_K, 512},  {DType::Q6_K, 768}, {DType::Q2_K, 512},
                            {DType::Q3_K, 768}, {DType::IQ4_NL, 96}, {DType::IQ4_NL, 1408}, {DType::IQ4_XS, 512},
                            {DType::IQ4_XS, 768}, {DType::IQ2_XXS, 512}, {DType::IQ2_XS, 768},
                            {DType::IQ2_S, 512},  {DType::IQ3_XXS, 768}, {DType::IQ3_S, 512},   {DType::IQ1_S, 768},
                            {DType::IQ1_M, 512},  {DType::IQ1_S, 2048}};
const int64_t kRowCounts[] = {1, 3, 13, 37};
const int64_t kTokCounts[] = {1, 2, 3, 4, 5, 7, 8, 17};

TEST(Kernels, DispatchPicksTheBestSetThisCpuRuns) {
  const auto& f = cpu_features();
  const std::string want = f.has_avx512_tier()    ? "avx512-vnni"
                           : f.has_avxvnni_tier() ? "avx-vnni"
                           : f.has_avx2_tier()    ? "avx2"
                                                  : "scalar";
  EXPECT_EQ(kern::active_kernels().isa, want) << f.describe();
}

TEST(Kernels, ActivationQuantizationSimdMatchesScalarBitForBit) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  for (int64_t n_tok : {1, 5}) {
    auto x = make_x(n_tok, 320, 3);
    x[5] = 0.5f / 127.0f * 3;  // values near rounding ties
    kern::ActQ8 s, v;
    kern::quantize_act(kern::scalar_kernels(), x.data(), 320, n_tok, 320, s);
    kern::quantize_act(kern::avx2_kernels(), x.data(), 320, n_tok, 320, v);
    EXPECT_EQ(s.q, v.q);
    EXPECT_EQ(s.d, v.d);
    EXPECT_EQ(s.sum, v.sum);
    EXPECT_EQ(s.d4, v.d4);
    EXPECT_EQ(s.sum4, v.sum4);
  }
  // An all-zero block quantizes to zeros with scale 0 (no division by zero).
  std::vector<float> z(64, 0.0f);
  kern::ActQ8 a;
  kern::quantize_act(kern::avx2_kernels(), z.data(), 64, 1, 64, a);
  EXPECT_EQ(a.d[0], 0.0f);
  EXPECT_EQ(a.q[3], 0);
}

// One ActQ8 reused across calls (as every MatmulInput is) must equal a fresh one: the padding rows a
// previous, larger batch left behind are zeroed again, sum16 is the first 16 values' sum, sum8p the 8-value
// groups' sums, and the panels' unsigned copy u appears from kPanelMinTokens tokens on.
TEST(Kernels, AReusedActivationBufferEqualsAFreshOne) {
  kern::ActQ8 reused;
  uint32_t seed = 40;
  for (int64_t n_tok : {5, 3, 3, 7, 13, 1, 1, 6}) {
    auto x = make_x(n_tok, 320, ++seed);
    kern::ActQ8 fresh;
    kern::quantize_act(kern::scalar_kernels(), x.data(), 320, n_tok, 320, fresh);
    kern::quantize_act(kern::scalar_kernels(), x.data(), 320, n_tok, 320, reused);
    const size_t n_pad = static_cast<size_t>(fresh.n_pad());
    ASSERT_EQ(reused.q.size(), n_pad * 320) << n_tok;
    EXPECT_EQ(reused.q, fresh.q) << n_tok;
    EXPECT_EQ(reused.d, fresh.d) << n_tok;
    EXPECT_EQ(reused.sum, fresh.sum) << n_tok;
    EXPECT_EQ(reused.sum16, fresh.sum16) << n_tok;
    EXPECT_EQ(reused.sum8p, fresh.sum8p) << n_tok;
    EXPECT_EQ(reused.d4, fresh.d4) << n_tok;
    EXPECT_EQ(reused.sum4, fresh.sum4) << n_tok;
    EXPECT_EQ(reused.u, fresh.u) << n_tok;
    for (size_t i = static_cast<size_t>(n_tok) * 320; i < n_pad * 320; ++i) ASSERT_EQ(fresh.q[i], 0) << n_tok;
    for (size_t b = 0; b < fresh.sum16.size(); ++b) {
      int32_t s16 = 0;
      for (int j = 0; j < 16; ++j) s16 += fresh.q[b * 32 + static_cast<size_t>(j)];
      ASSERT_EQ(fresh.sum16[b], s16) << n_tok << " block " << b;
      for (int h = 0; h < 2; ++h) {  // the 8-value groups' sums, an int16 pair per half
        int32_t g[2] = {0, 0};
        for (int j = 0; j < 16; ++j) g[j / 8] += fresh.q[b * 32 + static_cast<size_t>(16 * h + j)];
        const int32_t pair = fresh.sum8p[2 * b + static_cast<size_t>(h)];
        ASSERT_EQ(static_cast<int16_t>(pair & 0xffff), g[0]) << n_tok << " block " << b;
        ASSERT_EQ(pair >> 16, g[1]) << n_tok << " block " << b;
      }
    }
    EXPECT_EQ(fresh.u.size(), n_tok >= kern::kPanelMinTokens ? static_cast<size_t>(n_tok) * 320 : 0u);
    for (size_t i = 0; i < fresh.u.size(); ++i)
      ASSERT_EQ(fresh.u[i], static_cast<uint8_t>(fresh.q[i] + 128)) << n_tok;
  }
}

TEST(Kernels, IntegerScalarKernelsMatchFloatReferenceWithinRoundingBound) {
  for (const Case& c : kQuantCases)
    for (int64_t rows : {5, 37})
      for (int64_t n_tok : {1, 3, 6}) {
        Weights w = make_weights(c.t, rows, c.K, 11 + static_cast<uint32_t>(rows));
        auto x = make_x(n_tok, c.K, 5);
        kern::ActQ8 a;
        auto y = run_set(kern::scalar_kernels(), w.view, x, n_tok, a);
        auto ref = reference(w.view, x, n_tok);
        auto bound = rounding_bound(w.view, a);
        double worst = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_LE(std::fabs(y[i] - ref[i]), bound[i]) << dtype_name(c.t) << " K=" << c.K << " i=" << i;
          worst = std::max(worst, std::fabs(y[i] - ref[i]) / bound[i]);
        }
        EXPECT_GT(worst, 0.0) << "int8 activations should differ from float at all";
      }
}

TEST(Kernels, SimdIntegerKernelsMatchScalar) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  for (const Case& c : kQuantCases)
    for (int64_t rows : kRowCounts)
      for (int64_t n_tok : kTokCounts) {
        Weights w = make_weights(c.t, rows, c.K, 100 + static_cast<uint32_t>(rows * 31 + n_tok));
        auto x = make_x(n_tok, c.K, 9 + static_cast<uint32_t>(n_tok));
        kern::ActQ8 as, av;
        auto ys = run_set(kern::scalar_kernels(), w.view, x, n_tok, as);
        for (const auto* ks : runnable_kernel_sets()) {
          auto yv = run_set(*ks, w.view, x, n_tok, av);
          ASSERT_EQ(as.q, av.q) << ks->isa;
          for (size_t i = 0; i < ys.size(); ++i)
            ASSERT_EQ(yv[i], ys[i]) << ks->isa << " " << dtype_name(c.t) << " K=" << c.K << " rows=" << rows
                                    << " tokens=" << n_tok << " i=" << i;
        }
      }
}

TEST(Kernels, FloatWeightKernelsMatchReference) {
  const Case cases[] = {{DType::F32, 300}, {DType::F16, 300}, {DType::BF16, 300}, {DType::F8_E4M3, 300},
                        {DType::F32, 8},   {DType::F16, 5},   {DType::F8_E4M3, 1024}};
  for (const Case& c : cases)
    for (int64_t rows : {1, 7, 130})
      for (int64_t n_tok : {1, 2, 4, 7}) {
        Weights w = make_weights(c.t, rows, c.K, 7 + static_cast<uint32_t>(rows));
        auto x = make_x(n_tok, c.K, 13);
        auto ref = reference(w.view, x, n_tok);
        kern::ActQ8 a;
        const auto sets = runnable_kernel_sets();
        const auto y_scalar = run_set(kern::scalar_kernels(), w.view, x, n_tok, a);
        for (const auto* ks : sets) {
          if (c.t == DType::BF16 && ks->bf16_rounds_activations) continue;  // Bf16Dot* below
          auto y = run_set(*ks, w.view, x, n_tok, a);
          ASSERT_EQ(y, y_scalar) << ks->isa << " " << dtype_name(c.t) << " K=" << c.K << " rows=" << rows;
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_NEAR(y[i], ref[i], 2e-5 * (1 + std::fabs(ref[i])) + 1e-4)
                << ks->isa << " " << dtype_name(c.t) << " K=" << c.K << " rows=" << rows << " i=" << i;
        }
      }
}

// BF16 weights on AVX512-BF16: activations rounded to bf16, pairs multiplied (vdpbf16ps). The scalar
// mirror of that arithmetic stays within the activation-rounding bound of the exact product (2^-9 per
// activation, plus fp32 summation), everywhere; the SIMD kernel equals its mirror up to the order in which
// the hardware rounds the two products of a pair.
std::vector<double> abs_products(const TensorView& w, const std::vector<float>& x, int64_t n_tok) {
  const int64_t rows = w.rows(), K = w.cols();
  std::vector<float> wf(static_cast<size_t>(rows * K));
  dequantize_rows(w, 0, rows, wf.data());
  std::vector<double> s(static_cast<size_t>(n_tok * rows), 0.0);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < K; ++k) s[t * rows + r] += std::fabs(double(wf[r * K + k]) * x[t * K + k]);
  return s;
}

TEST(Kernels, Bf16DotScalarMirrorIsWithinTheActivationRoundingOfTheExactProduct) {
  for (int64_t K : {5, 32, 300, 2048})
    for (int64_t rows : {1, 7})
      for (int64_t n_tok : {1, 3, 6}) {
        Weights w = make_weights(DType::BF16, rows, K, 40 + static_cast<uint32_t>(K + rows));
        auto x = make_x(n_tok, K, 41);
        const auto ref = reference(w.view, x, n_tok);
        const auto mag = abs_products(w.view, x, n_tok);
        std::vector<float> y(static_cast<size_t>(n_tok * rows), NAN);
        kern::bf16_dot_scalar()(static_cast<const uint8_t*>(w.view.data), w.view.row_bytes(), rows, K, x.data(), K,
                                n_tok, nullptr, y.data(), rows);
        double worst = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_LE(std::fabs(y[i] - ref[i]), mag[i] * (1.0 / 512 + 1e-6) + 1e-6) << "K=" << K << " i=" << i;
          worst = std::max(worst, std::fabs(y[i] - ref[i]));
        }
        if (K >= 32) {
          EXPECT_GT(worst, 0.0) << "bf16 activations should differ from fp32 at all";
        }
      }
}

TEST(Kernels, Bf16DotKernelMatchesItsScalarMirror) {
  bool ran = false;
  for (const auto* ks : runnable_kernel_sets()) {
    if (!ks->bf16_rounds_activations) continue;
    ran = true;
    for (int64_t K : {5, 32, 300, 2048})
      for (int64_t rows : {1, 7, 130})
        for (int64_t n_tok : {1, 2, 4, 7}) {
          Weights w = make_weights(DType::BF16, rows, K, 50 + static_cast<uint32_t>(K + rows));
          auto x = make_x(n_tok, K, 51 + static_cast<uint32_t>(n_tok));
          kern::ActQ8 a;
          const auto y = run_set(*ks, w.view, x, n_tok, a);
          std::vector<float> ym(y.size(), NAN);
          kern::bf16_dot_scalar()(static_cast<const uint8_t*>(w.view.data), w.view.row_bytes(), rows, K, x.data(),
                                  K, n_tok, nullptr, ym.data(), rows);
          const auto mag = abs_products(w.view, x, n_tok);
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_LE(std::fabs(y[i] - ym[i]), mag[i] * 1e-6 + 1e-7)
                << ks->isa << " K=" << K << " rows=" << rows << " tokens=" << n_tok << " i=" << i;
        }
  }
  if (!ran) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
}

TEST(Kernels, ThreadedMatmulEqualsSingleThreadRowsAndRespectsRowOffsets) {
  ThreadPool pool(2);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q6_K, DType::F16, DType::F8_E4M3}) {
    const int64_t K = t == DType::Q6_K ? 512 : 256, rows = 300, n_tok = 5;
    Weights w = make_weights(t, rows, K, 77);
    auto x = make_x(n_tok, K, 78);
    // Rows [129, 129 + 150): crosses an FP8 128-row block boundary.
    std::vector<float> y(static_cast<size_t>(n_tok * 160), -1.0f), y1(y.size(), -1.0f);
    matmul(pool, w.view, 129, 150, x.data(), K, n_tok, y.data(), 160);
    MatmulInput in;
    in.prepare(x.data(), K, n_tok, K, t);
    matmul_rows(w.view, 129, 150, in, y1.data(), 160);
    EXPECT_EQ(y, y1) << dtype_name(t);
    auto ref = reference(w.view, x, n_tok);
    for (int64_t tt = 0; tt < n_tok; ++tt) {
      EXPECT_EQ(y[tt * 160 + 155], -1.0f);  // untouched beyond n_rows
      const double r = ref[tt * rows + 129 + 7];
      EXPECT_NEAR(y[tt * 160 + 7], r, 0.02 * (1 + std::fabs(r))) << dtype_name(t);
    }
  }
}

TEST(Kernels, ReferencePathIsTheFloatDefinition) {
  Weights w = make_weights(DType::Q4_0, 20, 64, 5);
  auto x = make_x(3, 64, 6);
  ThreadPool pool(2);
  set_matmul_path(MatmulPath::kReference);
  std::vector<float> y(60);
  matmul(pool, w.view, x.data(), 3, y.data());
  set_matmul_path(MatmulPath::kFast);
  auto ref = reference(w.view, x, 3);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-5 * (1 + std::fabs(ref[i])));
}

TEST(Kernels, BadShapesAreErrorsNotCrashes) {
  Weights w = make_weights(DType::Q8_0, 4, 64, 5);
  auto x = make_x(1, 64, 6);
  ThreadPool pool(1);
  std::vector<float> y(8);
  EXPECT_THROW(matmul(pool, w.view, 2, 3, x.data(), 64, 1, y.data(), 8), Error);
  MatmulInput in;
  in.prepare(x.data(), 64, 1, 32, DType::Q8_0);  // K of the input differs from the weight's
  EXPECT_THROW(matmul_rows(w.view, 0, 4, in, y.data(), 4), Error);
  EXPECT_THROW(in.prepare(x.data(), 64, 1, 40, DType::Q8_0), Error);  // not a multiple of 32
}

}  // namespace
}  // namespace dsinfer

namespace dsinfer {
namespace {

TEST(Kernels, SimdSiluMulMatchesScalar) {
  std::vector<float> g(1003), u(1003), ys(1003), yv(1003);
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  for (size_t i = 0; i < g.size(); ++i) {
    g[i] = nd(rng);
    u[i] = nd(rng);
  }
  g[0] = -100.0f;  // exp overflow side
  g[1] = 100.0f;
  g[2] = 0.0f;
  kern::scalar_kernels().silu_mul(g.data(), u.data(), ys.data(), 1003);
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  for (const auto* ks : runnable_kernel_sets()) {
    ks->silu_mul(g.data(), u.data(), yv.data(), 1003);
    EXPECT_EQ(yv, ys) << ks->isa;
    for (size_t i = 0; i < g.size(); ++i) {  // and the polynomial exp against libm
      const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
      ASSERT_NEAR(yv[i], want, 1e-6 * (1 + std::fabs(want))) << ks->isa << " " << g[i];
    }
  }
}

TEST(Kernels, SimdSoftmaxMatchesScalarAndLibm) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 6.0f);
  for (int64_t n : {1, 7, 8, 9, 64, 1003, 3001}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = nd(rng);
    if (n > 2) x[1] = -200.0f;  // far below the max: exp underflows to (nearly) zero
    std::vector<float> ys = x;
    kern::scalar_kernels().softmax(ys.data(), n);
    double max_x = -1e30, denom = 0;  // libm in double, as the reference
    for (float v : x) max_x = std::max<double>(max_x, v);
    for (float v : x) denom += std::exp(v - max_x);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::exp(x[i] - max_x) / denom;
      ASSERT_NEAR(ys[i], want, 1e-5 * want + 1e-30) << "n " << n << " i " << i;  // x - max rounds in float
      total += ys[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-5) << n;
    if (!have_avx2()) continue;
    for (const auto* ks : runnable_kernel_sets()) {
      std::vector<float> yv = x;
      ks->softmax(yv.data(), n);
      EXPECT_EQ(yv, ys) << ks->isa << " n " << n;
    }
  }
}

}  // namespace
}  // namespace dsinfer
