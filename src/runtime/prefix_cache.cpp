#include "runtime/prefix_cache.h"

#include <algorithm>

#include "util/hash.h"

namespace dsinfer {
std::vector<uint64_t> PrefixCache::block_hashes(const std::vector<int32_t>& tokens, int64_t n, int64_t page_tokens) {
  std::vector<uint64_t> out;
  n = std::min<int64_t>(n, static_cast<int64_t>(tokens.size()));
  uint64_t h = 0x6a09e667f3bcc908ull;
  for (int64_t b = 0; (b + 1) * page_tokens <= n; ++b) {
    for (int64_t i = b * page_tokens; i < (b + 1) * page_tokens; ++i) h = mix64(h ^ static_cast<uint32_t>(tokens[i]));
    out.push_back(h);
  }
  return out;
}

PrefixCache::Match PrefixCache::lookup(const std::vector<int32_t>& tokens, int64_t max_tokens) {
  const int64_t page = cache_.page_tokens();
  const std::vector<uint64_t> hashes = block_hashes(tokens, max_tokens, page);
  EntryList::iterator found = entries_.end();
  int64_t n_blocks = 0;
  for (size_t i = 0; i < hashes.size(); ++i) {
    auto it = by_hash_.find(hashes[i]);
    if (it == by_hash_.end()) break;
    found = it->second;
    n_blocks = static_cast<int64_t>(i) + 1;
  }
  if (found == entries_.end()) return {};
  // The hash chain makes a false match astronomically unlikely; the tokens are compared anyway, since a
  // wrong match would silently change the answer.
  if (!std::equal(tokens.begin(), tokens.begin() + n_blocks * page, found->tokens.begin())) return {};
  entries_.splice(entries_.begin(), entries_, found);
  return {found->seq, n_blocks * page};
}

void PrefixCache::insert(int seq, const std::vector<int32_t>& tokens, int64_t n_written) {
  const int64_t page = cache_.page_tokens();
  std::vector<uint64_t> hashes = block_hashes(tokens, n_written, page);
  if (hashes.empty()) return;
  if (auto it = by_hash_.find(hashes.back()); it != by_hash_.end()) {
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  const int64_t n_tokens = static_cast<int64_t>(hashes.size()) * page;
  Entry e{cache_.fork_prefix(seq, n_tokens), std::vector<int32_t>(tokens.begin(), tokens.begin() + n_tokens),
          std::move(hashes)};
  entries_.push_front(std::move(e));
  ++changes_;
  const auto added = entries_.begin();
  referenced_pages_ += static_cast<int64_t>(added->hashes.size());
  // Entries that are a prefix of the new one are redundant now: the new entry holds all of their blocks.
  std::vector<EntryList::iterator> covered;
  for (auto h : added->hashes) {
    auto it = by_hash_.find(h);
    if (it != by_hash_.end() && it->second != added && it->second->hashes.back() == h) covered.push_back(it->second);
    by_hash_[h] = added;
  }
  for (auto it : covered) erase(it);
}

void PrefixCache::erase(EntryList::iterator victim) {
  for (size_t i = 0; i < victim->hashes.size(); ++i) {
    const uint64_t h = victim->hashes[i];
    auto it = by_hash_.find(h);
    if (it == by_hash_.end() || it->second != victim) continue;
    // Another entry may hold the same block (a longer prompt that shares it); point the hash there.
    auto other = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return &e != &*victim && e.hashes.size() > i && e.hashes[i] == h;
    });
    if (other == entries_.end()) {
      by_hash_.erase(it);
    } else {
      it->second = other;
    }
  }
  referenced_pages_ -= static_cast<int64_t>(victim->hashes.size());
  cache_.free_sequence(victim->seq);
  entries_.erase(victim);
  ++changes_;
}

bool PrefixCache::evict_one() {
  if (entries_.empty()) return false;
  erase(std::prev(entries_.end()));
  return true;
}

void PrefixCache::clear() {
  while (evict_one()) {
  }
}

}  // namespace dsinfer
