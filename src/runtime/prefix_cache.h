#pragma once
// Prefix reuse: the latent KV of whole pages of earlier requests' tokens, kept alive after the request
// finished so that a later prompt starting with the same tokens (a system prompt, a multi-turn history)
// forks those pages instead of recomputing them.
//
// Every entry owns one sequence of the LatentKvCache that holds (by page refcount) the pages of its
// tokens; blocks are identified by a hash chain over the tokens of each page (block i's hash covers blocks
// 0..i), so one hash lookup per block finds the longest cached prefix. Entries are evicted least recently
// used first when the scheduler needs pages. Not thread-safe: the scheduler's engine thread owns it.

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "model/kv_cache.h"

namespace dsinfer {

class PrefixCache {
 public:
  explicit PrefixCache(LatentKvCache& cache) : cache_(cache) {}
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;
  ~PrefixCache() { clear(); }

  struct Match {
    int seq = -1;        // cache sequence to fork from (-1: no match)
    int64_t tokens = 0;  // matched tokens, a whole number of pages
  };
  // The longest cached prefix of `tokens`, at most max_tokens long (rounded down to pages). Marks the
  // entry as recently used.
  Match lookup(const std::vector<int32_t>& tokens, int64_t max_tokens);

  // Keeps the whole pages of tokens[0, n_written) of sequence `seq` (whose KV rows are written for those
  // positions). Does nothing when they are already cached or shorter than a page.
  void insert(int seq, const std::vector<int32_t>& tokens, int64_t n_written);

  // Drops the least recently used entry; false when there is none.
  bool evict_one();
  void clear();

  int64_t entries() const { return static_cast<int64_t>(entries_.size()); }
  // Counts entries added and dropped: a saved copy is stale when this moved on.
  uint64_t changes() const { return changes_; }
  // f(seq, tokens) for every entry, least recently used first (the order that, inserted again, rebuilds
  // the same recency) — for saving the cache (runtime/prefix_cache_file.h).
  template <class F>
  void for_each_oldest_first(F&& f) const {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) f(it->seq, it->tokens);
  }
  // Sum of the pages the entries reference (pages shared between entries count once per entry, so this
  // bounds the pages held only by the cache from above).
  int64_t referenced_pages() const { return referenced_pages_; }

  // Chain hashes of the whole pages of tokens[0, n): result[i] covers pages 0..i.
  static std::vector<uint64_t> block_hashes(const std::vector<int32_t>& tokens, int64_t n, int64_t page_tokens);

 private:
  struct Entry {
    int seq;
    std::vector<int32_t> tokens;  // whole pages
    std::vector<uint64_t> hashes;
  };
  using EntryList = std::list<Entry>;  // most recently used first
  LatentKvCache& cache_;
  EntryList entries_;
  std::unordered_map<uint64_t, EntryList::iterator> by_hash_;  // block hash -> an entry holding that block
  int64_t referenced_pages_ = 0;
  uint64_t changes_ = 0;

  void erase(EntryList::iterator it);
};

}  // namespace dsinfer
