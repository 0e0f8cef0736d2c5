// swiglu_jobs: the fused gate / up / SiLU·mul / down of several experts over their own tokens, combined
// into the output with per-token weights.

#include "kernels/cpu/expert_mlp.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "tensor/quant.h"
#include "util/error.h"

namespace dsinfer {
namespace {

struct Expert {
  Weights gate, up, down;
};

// Shapes chosen so every sweep splits unevenly: D = 17 blocks of 32 (34 row grains of 16, 3 combine
// ranges of 256), I = 3 blocks of 32; jobs of 1 to 5 tokens, one token in three jobs.
constexpr int64_t kD = 544, kI = 96, kTokens = 5;

struct Fixture {
  std::vector<Expert> experts;
  std::vector<SwigluJob> jobs;
  std::vector<float> x = make_x(kTokens, kD, 3);
  explicit Fixture(DType t) {
    const std::vector<std::vector<int32_t>> tokens{{0}, {1, 2}, {0, 1, 2, 3, 4}, {4}, {0, 3}};
    experts.reserve(tokens.size());
    for (size_t j = 0; j < tokens.size(); ++j) {
      const auto s = static_cast<uint32_t>(10 * j);
      experts.push_back({make_weights(t, kI, kD, s + 1), make_weights(t, kI, kD, s + 2), make_weights(t, kD, kI, s + 3)});
      SwigluJob job;
      job.gate = &experts[j].gate.view;
      job.up = &experts[j].up.view;
      job.down = &experts[j].down.view;
      job.tokens = tokens[j];
      for (size_t i = 0; i < tokens[j].size(); ++i) job.weights.push_back(0.25f + 0.1f * static_cast<float>(i + j));
      jobs.push_back(job);
    }
  }
  // out starts at 1 + 0.001 c: swiglu_jobs accumulates into it.
  std::vector<float> run(int threads) const {
    ThreadPool pool(threads);
    std::vector<float> out(static_cast<size_t>(kTokens * kD));
    for (size_t i = 0; i < out.size(); ++i) out[i] = 1.0f + 0.001f * static_cast<float>(i % kD);
    swiglu_jobs(pool, x.data(), kD, kTokens, kD, jobs, out.data(), kD);
    return out;
  }
};

std::vector<double> dequantized(const TensorView& w) {
  std::vector<float> f(static_cast<size_t>(w.rows() * w.cols()));
  dequantize_rows(w, 0, w.rows(), f.data());
  return {f.begin(), f.end()};
}

// The definition in double precision from the dequantized weights and unquantized activations.
std::vector<double> reference(const Fixture& f) {
  std::vector<double> out(static_cast<size_t>(kTokens * kD));
  for (size_t i = 0; i < out.size(); ++i) out[i] = 1.0 + 0.001 * static_cast<double>(static_cast<float>(i % kD));
  for (const SwigluJob& job : f.jobs) {
    const auto g = dequantized(*job.gate), u = dequantized(*job.up), d = dequantized(*job.down);
    for (size_t i = 0; i < job.tokens.size(); ++i) {
      const float* x = f.x.data() + job.tokens[i] * kD;
      std::vector<double> h(kI);
      for (int64_t r = 0; r < kI; ++r) {
        double gs = 0, us = 0;
        for (int64_t k = 0; k < kD; ++k) {
          gs += g[r * kD + k] * x[k];
          us += u[r * kD + k] * x[k];
        }
        h[r] = gs / (1 + std::exp(-gs)) * us;
      }
      for (int64_t c = 0; c < kD; ++c) {
        double y = 0;
        for (int64_t r = 0; r < kI; ++r) y += d[c * kI + r] * h[r];
        out[job.tokens[i] * kD + c] += job.weights[i] * y;
      }
    }
  }
  return out;
}

double max_rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 0, err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::abs(want[i] - 1.0));  // (the part swiglu_jobs added)
    err = std::max(err, std::abs(got[i] - want[i]));
  }
  return err / scale;
}

// The pool hands out row and column ranges dynamically; every output element is still one fixed
// sequence of operations, so any thread count gives the same bits.
TEST(ExpertMlp, ResultDoesNotDependOnTheThreadCount) {
  for (DType t : {DType::F32, DType::Q4_0_R8, DType::Q8_0}) {
    const Fixture f(t);
    const std::vector<float> one = f.run(1);
    EXPECT_EQ(f.run(2), one) << dtype_name(t);
    EXPECT_EQ(f.run(3), one) << dtype_name(t);
  }
}

// Against the definition: float weights within float rounding; the block types (int8 activations, and
// the hidden activations quantized again before down) within their quantization error.
TEST(ExpertMlp, MatchesTheDefinitionOfTheWeightedExpertSum) {
  struct Case {
    DType t;
    double bound;
  };
  for (Case c : {Case{DType::F32, 1e-5}, Case{DType::Q4_0_R8, 3e-2}, Case{DType::Q8_0, 3e-2}}) {
    const Fixture f(c.t);
    const double e = max_rel_err(f.run(2), reference(f));
    std::printf("  %s: max error %.3g of the largest contribution\n", dtype_name(c.t), e);
    EXPECT_LE(e, c.bound) << dtype_name(c.t);
  }
}

TEST(ExpertMlp, ShapesThatDoNotFitAreErrors) {
  Fixture f(DType::F32);
  ThreadPool pool(2);
  std::vector<float> out(static_cast<size_t>(kTokens * kD));
  EXPECT_THROW(swiglu_jobs(pool, f.x.data(), kD, kTokens, kD - 32, f.jobs, out.data(), kD), Error);
}

}  // namespace
}  // namespace dsinfer
