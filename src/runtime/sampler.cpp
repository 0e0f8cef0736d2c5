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
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) { p_.validate(); }

int32_t Sampler::sample(const float* logits, int64_t n_vocab, const std::vector<int32_t>& history) {
  work_.assign(logits, logits + n_vocab);
  if (p_.repetition_penalty != 1.0f) {
    std::unordered_set<int32_t> seen(history.begin(), history.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= n_vocab) continue;
      float& l = work_[id];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
    }
  }
  if (p_.temperature == 0.0f) {
    // First maximum wins, so ties resolve to the lowest id (deterministic across runs and batches).
    return static_cast<int32_t>(std::max_element(work_.begin(), work_.end()) - work_.begin());
  }
  ids_.resize(static_cast<size_t>(n_vocab));
  std::iota(ids_.begin(), ids_.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) { return work_[a] > work_[b] || (work_[a] == work_[b] && a < b); };
  int64_t n = n_vocab;
  if (p_.top_k > 0 && p_.top_k < n) {
    std::partial_sort(ids_.begin(), ids_.begin() + p_.top_k, ids_.end(), by_logit);
    n = p_.top_k;
  } else {
    std::sort(ids_.begin(), ids_.end(), by_logit);
  }
  // Probabilities of the candidates at the requested temperature (sorted, descending).
  std::vector<double> prob(static_cast<size_t>(n));
  const double maxl = work_[ids_[0]];
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    prob[i] = std::exp((work_[ids_[i]] - maxl) / p_.temperature);
    sum += prob[i];
  }
  for (auto& q : prob) q /= sum;
  if (p_.top_p < 1.0f) {
    double cum = 0;
    int64_t keep = n;
    for (int64_t i = 0; i < n; ++i) {
      cum += prob[i];
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (p_.min_p > 0.0f) {
    int64_t keep = 1;
    while (keep < n && prob[keep] >= p_.min_p * prob[0]) ++keep;
    n = keep;
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += prob[i];
  std::uniform_real_distribution<double> uni(0.0, total);
  double r = uni(rng_);
  for (int64_t i = 0; i < n; ++i) {
    r -= prob[i];
    if (r <= 0) return ids_[i];
  }
  return ids_[n - 1];
}

}  // namespace dsinfer
