#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "util/error.h"

namespace dsinfer {
namespace {

std::vector<float> logits_of(std::initializer_list<float> l) { return std::vector<float>(l); }

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  Sampler s(SamplingParams{});
  const auto l = logits_of({0.1f, 3.0f, -1.0f, 3.0f});
  EXPECT_EQ(s.sample(l.data(), 4, {}), 1);
}

TEST(Sampler, SameSeedSameDrawsDifferentSeedDifferentDraws) {
  std::vector<float> l(1000);
  for (int i = 0; i < 1000; ++i) l[i] = std::sin(i * 0.37f) * 2;
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  Sampler a(p), b(p);
  p.seed = 43;
  Sampler c(p);
  int same_ac = 0;
  for (int i = 0; i < 50; ++i) {
    const int32_t x = a.sample(l.data(), 1000, {}), y = b.sample(l.data(), 1000, {}), z = c.sample(l.data(), 1000, {});
    EXPECT_EQ(x, y);
    same_ac += x == z;
  }
  EXPECT_LT(same_ac, 25);
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  std::vector<float> l = {1.0f, 2.0f, 5.0f, 4.9f, 0.0f};
  SamplingParams p;
  p.temperature = 2.0f;
  p.top_k = 1;
  Sampler a(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.sample(l.data(), 5, {}), 2);
  p.top_k = 0;
  p.top_p = 0.01f;
  Sampler b(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b.sample(l.data(), 5, {}), 2);
}

TEST(Sampler, FrequenciesFollowTheSoftmaxAndFiltersCut) {
  // p = softmax([0, ln 2, ln 3, ln 4]) = [0.1, 0.2, 0.3, 0.4]
  std::vector<float> l = {0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 1;
  Sampler s(p);
  std::map<int, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) count[s.sample(l.data(), 4, {})]++;
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(count[k] / double(n), 0.1 * (k + 1), 0.015) << k;
  // top_p 0.65: keeps 0.4 + 0.3 (0.7 >= 0.65); min_p 0.6: keeps p >= 0.24 -> tokens 3, 2.
  for (auto [top_p, min_p] : {std::pair{0.65f, 0.0f}, std::pair{1.0f, 0.6f}}) {
    SamplingParams q = p;
    q.top_p = top_p;
    q.min_p = min_p;
    Sampler f(q);
    std::map<int, int> c2;
    for (int i = 0; i < n; ++i) c2[f.sample(l.data(), 4, {})]++;
    EXPECT_EQ(c2[0] + c2[1], 0);
    EXPECT_NEAR(c2[3] / double(n), 4.0 / 7.0, 0.015);
  }
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
  std::vector<float> l = {2.0f, 1.5f, -1.0f};
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  Sampler s(p);
  EXPECT_EQ(s.sample(l.data(), 3, {0}), 1);  // 2.0 / 2 = 1.0 < 1.5
}

TEST(Sampler, RejectsOutOfRangeParameters) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_THROW(Sampler{p}, Error);
  p = {};
  p.temperature = -1.0f;
  EXPECT_THROW(Sampler{p}, Error);
  p = {};
  p.repetition_penalty = 0.0f;
  EXPECT_THROW(Sampler{p}, Error);
  p = {};
  p.min_p = 1.5f;
  EXPECT_THROW(Sampler{p}, Error);
}

}  // namespace
}  // namespace dsinfer
