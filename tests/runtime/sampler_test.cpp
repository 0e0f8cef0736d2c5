#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
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

// Speculative sampling: whatever the draft, the token's distribution is the one sample() draws from,
// and the draft is accepted with its own probability under it.
TEST(Sampler, DraftAcceptanceKeepsTheDistribution) {
  std::vector<float> l = {0.0f, std::log(2.0f), std::log(3.0f), std::log(4.0f)};  // p = 0.1 0.2 0.3 0.4
  for (auto [top_p, want] : {std::pair{1.0f, std::vector<double>{0.1, 0.2, 0.3, 0.4}},
                             std::pair{0.65f, std::vector<double>{0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0}}}) {
    for (int32_t draft = 0; draft < 4; ++draft) {
      SamplingParams p;
      p.temperature = 1.0f;
      p.top_p = top_p;
      p.seed = 7 + static_cast<uint64_t>(draft);
      Sampler s(p);
      std::map<int, int> count;
      const int n = 40000;
      for (int i = 0; i < n; ++i) count[s.sample_or_accept(l.data(), 4, {}, draft)]++;
      for (int k = 0; k < 4; ++k)
        EXPECT_NEAR(count[k] / double(n), want[k], 0.01) << "top_p " << top_p << " draft " << draft << " token " << k;
    }
  }
  // Greedy: the argmax, whether or not it was the draft.
  Sampler g(SamplingParams{});
  EXPECT_EQ(g.sample_or_accept(l.data(), 4, {}, 3), 3);
  EXPECT_EQ(g.sample_or_accept(l.data(), 4, {}, 1), 3);
  EXPECT_EQ(g.sample_or_accept(l.data(), 4, {}, -1), 3);
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
  std::vector<float> l = {2.0f, 1.5f, -1.0f};
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  Sampler s(p);
  EXPECT_EQ(s.sample(l.data(), 3, {0}), 1);  // 2.0 / 2 = 1.0 < 1.5
}

TEST(Sampler, RejectsOutOfRangeParameters) {
  // Each case: the defaults with one parameter out of its range.
  const std::vector<std::function<void(SamplingParams&)>> cases = {
      [](SamplingParams& p) { p.top_p = 0.0f; },
      [](SamplingParams& p) { p.temperature = -1.0f; },
      [](SamplingParams& p) { p.repetition_penalty = 0.0f; },
      [](SamplingParams& p) { p.min_p = 1.5f; },
      [](SamplingParams& p) { p.presence_penalty = 2.5f; },
      [](SamplingParams& p) { p.frequency_penalty = -2.5f; },
      [](SamplingParams& p) { p.logit_bias = {{1, 100.5f}}; },
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SamplingParams p;
    cases[i](p);
    EXPECT_THROW(Sampler{p}, Error) << "case " << i;
  }
}

TEST(Sampler, LogitBiasIsAddedBeforeTheChoice) {
  std::vector<float> l = {2.0f, 1.5f, -1.0f};
  SamplingParams p;
  p.logit_bias = {{2, 3.5f}, {0, -0.25f}, {7, 100.0f}};  // 7: outside the vocabulary, ignored
  Sampler s(p);
  EXPECT_EQ(s.sample(l.data(), 3, {}), 2);  // -1 + 3.5 = 2.5 > 1.75, 1.5
  p.logit_bias = {{2, 3.0f}};  // ties at 2.0 go to the lower id
  Sampler t(p);
  EXPECT_EQ(t.sample(l.data(), 3, {}), 0);
  p.logit_bias = {{0, -100.0f}, {1, -100.0f}};  // as a ban, with a temperature too
  p.temperature = 1.0f;
  Sampler u(p);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(u.sample(l.data(), 3, {}), 2);
}

TEST(Sampler, PresenceAndFrequencyPenaltiesCountOnlyGeneratedTokens) {
  // Token 0 leads by 1.0; the prompt (history) is full of it, which must not count.
  const std::vector<float> l = {3.0f, 2.0f, 0.0f};
  const std::vector<int32_t> prompt = {0, 0, 0, 0};
  SamplingParams p;
  p.presence_penalty = 0.6f;
  Sampler pres(p);
  EXPECT_EQ(pres.sample(l.data(), 3, prompt), 0);  // nothing generated yet
  EXPECT_EQ(pres.sample(l.data(), 3, prompt), 0);  // 3 - 0.6 = 2.4 > 2
  // presence does not grow with the count: 0 stays ahead of 1, and 1 (2 - 0.6) never passes it
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pres.sample(l.data(), 3, prompt), 0);

  p = {};
  p.frequency_penalty = 0.4f;
  Sampler freq(p);
  // 0 generated c times scores 3 - 0.4 c: ahead of 2 for c = 0, 1, 2, then 1 takes over (c = 3: 1.8 < 2),
  // and from then on they alternate as their counts grow.
  std::vector<int32_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(freq.sample(l.data(), 3, prompt));
  EXPECT_EQ(got, (std::vector<int32_t>{0, 0, 0, 1, 0, 1}));

  p = {};
  p.presence_penalty = -2.0f;  // negative: favours what was generated
  p.logit_bias = {{1, 1.5f}};  // 1 starts ahead (3.5 > 3)
  Sampler neg(p);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(neg.sample(l.data(), 3, prompt), 1);
}

TEST(TokenLogprobs, LogSoftmaxOfTheRawLogitsAndTheMostLikelyTokens) {
  std::vector<float> l(1000);
  for (int i = 0; i < 1000; ++i) l[i] = std::sin(i * 0.37f) * 8 + 40.0f;  // large logits: no overflow
  l[17] = l[18] = 60.0f;  // a tie at the top: the lower id first
  double z = 0;
  for (float x : l) z += std::exp(static_cast<double>(x) - 60.0);
  const TokenLogprobs r = token_logprobs(l.data(), 1000, 500, 5);
  EXPECT_NEAR(r.logprob, l[500] - 60.0 - std::log(z), 1e-5);
  ASSERT_EQ(r.top.size(), 5u);
  EXPECT_EQ(r.top[0].first, 17);
  EXPECT_EQ(r.top[1].first, 18);
  EXPECT_NEAR(r.top[0].second, -std::log(z), 1e-5);
  for (size_t i = 1; i < r.top.size(); ++i) EXPECT_GE(r.top[i - 1].second, r.top[i].second);
  std::vector<float> sorted = l;
  std::sort(sorted.rbegin(), sorted.rend());
  EXPECT_FLOAT_EQ(l[r.top[4].first], sorted[4]);
  EXPECT_TRUE(token_logprobs(l.data(), 1000, 3, 0).top.empty());
  EXPECT_EQ(token_logprobs(l.data(), 3, 0, 20).top.size(), 3u);  // never more than the vocabulary
  EXPECT_THROW(token_logprobs(l.data(), 1000, 1000, 1), Error);
}

}  // namespace
}  // namespace dsinfer
