#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "util/error.h"

namespace dsinfer {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || temperature > 100.0f) fail("temperature must be in [0, 100], got ", temperature);
  if (top_k < 0) fail("top_k must be >= 0, got ", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("top_p must be in (0, 1], got ", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) fail("min_p must be in [0, 1], got ", min_p);
  if (!(repetition_penalty > 0.0f) || repetition_penalty > 100.0f)
    fail("repetition_penalty must be in (0, 100], got ", repetition_penalty);
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    fail("presence_penalty must be in [-2, 2], got ", presence_penalty);
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    fail("frequency_penalty must be in [-2, 2], got ", frequency_penalty);
  for (const auto& [id, bias] : logit_bias)
    if (!(bias >= -100.0f && bias <= 100.0f)) fail("logit_bias of token ", id, " must be in [-100, 100], got ", bias);
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) { p_.validate(); }

int32_t Sampler::sample(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history) {
  adjust(logits, n_vocab, history);
  candidates(n_vocab);
  const int32_t token = draw(-1);
  generated_[token] += 1;
  return token;
}

int32_t Sampler::sample_or_accept(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history,
                                  int32_t draft) {
  adjust(logits, n_vocab, history);
  candidates(n_vocab);
  double total = 0, p_draft = 0;
  for (int64_t i = 0; i < n_cand_; ++i) {
    total += prob_[i];
    if (ids_[i] == draft) p_draft = prob_[i];
  }
  int32_t token;
  if (p_draft >= total) {
    token = draft;  // (greedy with the right draft, or all mass on it)
  } else if (p_draft > 0 && std::uniform_real_distribution<double>(0.0, total)(rng_) < p_draft) {
    token = draft;
  } else {
    token = draw(draft);
  }
  generated_[token] += 1;
  return token;
}

void Sampler::adjust(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history) {
  work_.assign(logits, logits + n_vocab);
  for (const auto& [id, bias] : p_.logit_bias)
    if (id >= 0 && id < n_vocab) work_[id] += bias;
  if (p_.repetition_penalty != 1.0f) {
    std::unordered_set<int32_t> seen(history.begin(), history.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= n_vocab) continue;
      float& l = work_[id];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
    }
  }
  if (p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f)
    for (const auto& [id, count] : generated_)
      if (id >= 0 && id < n_vocab) work_[id] -= static_cast<float>(count) * p_.frequency_penalty + p_.presence_penalty;
}

void Sampler::candidates(int64_t n_vocab) {
  ids_.resize(static_cast<size_t>(n_vocab));
  if (p_.temperature == 0.0f) {
    // First maximum wins, so ties resolve to the lowest id (deterministic across runs and batches).
    ids_[0] = static_cast<int32_t>(std::max_element(work_.begin(), work_.end()) - work_.begin());
    prob_.assign(1, 1.0);
    n_cand_ = 1;
    return;
  }
  // Candidates: all tokens, or the top_k best. Probabilities at the requested temperature.
  std::iota(ids_.begin(), ids_.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return work_[a] > work_[b] || (work_[a] == work_[b] && a < b); };
  int64_t n = n_vocab;
  if (p_.top_k > 0 && p_.top_k < n) {
    std::partial_sort(ids_.begin(), ids_.begin() + p_.top_k, ids_.end(), by_logit);
    n = p_.top_k;
  }
  const float maxl = *std::max_element(work_.begin(), work_.end());
  std::vector<double>& prob = prob_;
  prob.assign(static_cast<size_t>(n), 0.0);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    prob[i] = std::exp((work_[ids_[i]] - maxl) / p_.temperature);
    sum += prob[i];
  }
  for (auto& q : prob) q /= sum;
  if (p_.top_p < 1.0f || p_.min_p > 0.0f) {
    // Both filters keep a prefix of the candidates sorted by probability; sort only as far as needed,
    // doubling the sorted prefix until it covers top_p (a full sort of a 129k vocabulary per token is slow).
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    auto by_prob = [&](int64_t a, int64_t b) { return prob[a] > prob[b] || (prob[a] == prob[b] && ids_[a] < ids_[b]); };
    int64_t sorted = std::min<int64_t>(n, 64), keep = n;
    for (;;) {
      std::partial_sort(order.begin(), order.begin() + sorted, order.end(), by_prob);
      double cum = 0;
      keep = -1;
      for (int64_t i = 0; i < sorted; ++i) {
        cum += prob[order[i]];
        if (p_.top_p < 1.0f && cum >= p_.top_p) {
          keep = i + 1;
          break;
        }
      }
      if (keep > 0 || sorted == n || p_.top_p >= 1.0f) break;
      sorted = std::min(n, sorted * 2);
    }
    if (keep < 0) keep = p_.top_p >= 1.0f ? n : sorted;
    if (p_.min_p > 0.0f) {
      if (p_.top_p >= 1.0f) std::sort(order.begin(), order.end(), by_prob);
      int64_t m = 1;
      while (m < keep && prob[order[m]] >= p_.min_p * prob[order[0]]) ++m;
      keep = m;
    }
    std::vector<int32_t> kept_ids(static_cast<size_t>(keep));
    std::vector<double> kept_prob(static_cast<size_t>(keep));
    for (int64_t i = 0; i < keep; ++i) {
      kept_ids[i] = ids_[order[i]];
      kept_prob[i] = prob[order[i]];
    }
    std::copy(kept_ids.begin(), kept_ids.end(), ids_.begin());
    prob = std::move(kept_prob);
    n = keep;
  }
  n_cand_ = n;
}

int32_t Sampler::draw(int32_t exclude) {
  const int64_t n = n_cand_;
  const std::vector<double>& prob = prob_;
  if (n == 1 && ids_[0] != exclude) return ids_[0];  // greedy: no draw
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += ids_[i] == exclude ? 0.0 : prob[i];
  if (!(total > 0)) {  // (only the excluded token had mass: the first other candidate)
    for (int64_t i = 0; i < n; ++i)
      if (ids_[i] != exclude) return ids_[i];
    return ids_[0];
  }
  std::uniform_real_distribution<double> uni(0.0, total);
  double r = uni(rng_);
  int32_t last = ids_[0];
  for (int64_t i = 0; i < n; ++i) {
    if (ids_[i] == exclude) continue;
    last = ids_[i];
    r -= prob[i];
    if (r <= 0) return ids_[i];
  }
  return last;
}

TokenLogprobs token_logprobs(const float* logits, int64_t n_vocab, int32_t token, int n_top) {
  if (n_vocab <= 0 || token < 0 || token >= n_vocab) fail("token_logprobs: token ", token, " outside [0, ", n_vocab, ")");
  const float maxl = *std::max_element(logits, logits + n_vocab);
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - maxl);
  const double lse = maxl + std::log(sum);
  TokenLogprobs r;
  r.logprob = static_cast<float>(logits[token] - lse);
  const int64_t k = std::clamp<int64_t>(n_top, 0, n_vocab);
  if (k > 0) {
    std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (int64_t i = 0; i < k; ++i) r.top.emplace_back(ids[i], static_cast<float>(logits[ids[i]] - lse));
  }
  return r;
}

}  // namespace dsinfer
