#include "runtime/dfa_lengths.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "util/error.h"

namespace dsinfer {
namespace {

struct Edge {
  int32_t to;
  bool starts_char;  // the byte starts a character (not a UTF-8 continuation byte)
  bool operator<(const Edge& o) const { return to != o.to ? to < o.to : starts_char < o.starts_char; }
  bool operator==(const Edge& o) const = default;
};

constexpr bool is_continuation(int byte) { return byte >= 0x80 && byte <= 0xBF; }

// [states] the distinct (next state, starts a character) pairs.
std::vector<std::vector<Edge>> edges_of(const ByteDfa& dfa) {
  std::vector<std::vector<Edge>> edges(dfa.next.size());
  for (size_t s = 0; s < dfa.next.size(); ++s) {
    for (int b = 0; b < 256; ++b)
      if (dfa.next[s][b] >= 0) edges[s].push_back({dfa.next[s][b], !is_continuation(b)});
    std::sort(edges[s].begin(), edges[s].end());
    edges[s].erase(std::unique(edges[s].begin(), edges[s].end()), edges[s].end());
  }
  return edges;
}

// Adds to `set` every state that reaches one in it by continuation bytes alone (the rest of a character).
void close_over_continuations(const std::vector<std::vector<Edge>>& edges, std::vector<uint8_t>& set) {
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t s = 0; s < edges.size(); ++s) {
      if (set[s]) continue;
      for (const Edge& e : edges[s])
        if (!e.starts_char && set[e.to]) {
          set[s] = 1;
          changed = true;
          break;
        }
    }
  }
}

// The states with an edge that starts a character into `set`.
std::vector<uint8_t> one_char_before(const std::vector<std::vector<Edge>>& edges, const std::vector<uint8_t>& set) {
  std::vector<uint8_t> before(edges.size(), 0);
  for (size_t s = 0; s < edges.size(); ++s)
    before[s] = std::any_of(edges[s].begin(), edges[s].end(), [&](const Edge& e) { return e.starts_char && set[e.to]; });
  return before;
}

}  // namespace

DfaLengths DfaLengths::compute(const ByteDfa& dfa, uint32_t min_length, uint32_t max_length) {
  DfaLengths t;
  t.open_ended = max_length == std::numeric_limits<uint32_t>::max();
  t.cap = t.open_ended ? min_length : max_length;
  const size_t n = dfa.next.size();
  if (static_cast<uint64_t>(n) * (uint64_t{t.cap} + 1) > kMaxBits)
    fail("a length limit of ", t.cap, " characters next to a pattern of ", n, " states is too costly (at most ",
         kMaxBits, " state-lengths)");
  t.words = (t.cap + 1 + 63) / 64;
  t.bits.assign(n * t.words, 0);
  const auto record = [&](const std::vector<uint8_t>& set, uint32_t k) {
    for (size_t s = 0; s < n; ++s)
      if (set[s]) t.bits[s * t.words + k / 64] |= uint64_t{1} << (k % 64);
  };
  const std::vector<std::vector<Edge>> edges = edges_of(dfa);
  // exact[s]: an accepted text of exactly k more characters follows s.
  std::vector<uint8_t> exact(dfa.accepting.begin(), dfa.accepting.end());
  close_over_continuations(edges, exact);
  const uint32_t last_exact = t.open_ended ? t.cap - (t.cap > 0) : t.cap;
  for (uint32_t k = 0;; ++k) {
    if (!t.open_ended || k < t.cap) record(exact, k);
    if (k == last_exact) break;
    exact = one_char_before(edges, exact);
    close_over_continuations(edges, exact);
  }
  if (t.open_ended) {
    // at_least[s]: an accepted text of cap or more characters follows s, the least fixed point of
    //   at_least(s) = some character edge into exact_{cap-1} or at_least, or a continuation edge into at_least.
    std::vector<uint8_t> at_least(n, 0);
    if (t.cap == 0) {
      at_least.assign(n, 1);  // (every state of a cut DFA reaches an accepting one)
    } else {
      for (bool changed = true; changed;) {
        changed = false;
        for (size_t s = 0; s < n; ++s) {
          if (at_least[s]) continue;
          for (const Edge& e : edges[s])
            if (at_least[e.to] || (e.starts_char && exact[e.to])) {
              at_least[s] = 1;
              changed = true;
              break;
            }
        }
      }
    }
    record(at_least, t.cap);
  }
  t.shortest.assign(n, std::numeric_limits<uint32_t>::max());
  for (size_t s = 0; s < n; ++s)
    for (size_t w = 0; w < t.words; ++w)
      if (const uint64_t word = t.bits[s * t.words + w]) {
        t.shortest[s] = static_cast<uint32_t>(w * 64 + std::countr_zero(word));
        break;
      }
  return t;
}

bool DfaLengths::reachable(int32_t state, uint32_t count, uint32_t min_length, uint32_t max_length) const {
  if (count > max_length) return false;
  uint32_t lo = min_length > count ? min_length - count : 0;
  uint32_t hi = max_length == std::numeric_limits<uint32_t>::max() ? cap : max_length - count;
  lo = std::min(lo, cap);  // (open ended: lo <= min_length = cap anyway)
  hi = std::min(hi, cap);
  if (lo == 0) return shortest[state] <= hi;
  const uint64_t* row = bits.data() + static_cast<size_t>(state) * words;
  for (uint32_t w = lo / 64; w <= hi / 64; ++w) {
    uint64_t word = row[w];
    if (w == lo / 64) word &= ~uint64_t{0} << (lo % 64);
    if (w == hi / 64 && hi % 64 != 63) word &= (uint64_t{1} << (hi % 64 + 1)) - 1;
    if (word) return true;
  }
  return false;
}

}  // namespace dsinfer
