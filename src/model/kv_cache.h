#pragma once
// The latent KV cache (spec 6): per token and layer it holds only [RMSNorm(c_kv) (rkv) | RoPE(k_pe) (dr)]
// = latent_dim values (576 for V2/V3 shapes), never per-head keys and values; stored as float32 (exact, the
// default) or IEEE float16 (half the memory and half the cache read per decoded token, ~1e-3 relative
// rounding of each cached value). Storage is paged:
// every sequence owns a list of fixed-size pages, so many sequences share one memory budget and a
// finished sequence returns its pages at once. Pages are reference-counted so sequences can share the
// full pages of a common prefix (the pages of a prefix are never written again once full).

#include <cstdint>
#include <vector>

#include "tensor/dtype.h"

namespace dsinfer {

class LatentKvCache {
 public:
  // n_pages pages of page_tokens tokens each, for n_layers layers of latent_dim values.
  // dtype: F32 or F16 (supports()); anything else is an Error.
  LatentKvCache(int64_t n_layers, int64_t latent_dim, int64_t page_tokens, int64_t n_pages, DType dtype = DType::F32);

  static bool supports(DType t) { return t == DType::F32 || t == DType::F16; }
  // Bytes of one token slot (all layers) — for sizing from a --ctx budget.
  static int64_t bytes_per_token(int64_t n_layers, int64_t latent_dim, DType dtype = DType::F32) {
    return n_layers * latent_dim * static_cast<int64_t>(dtype_block_bytes(dtype));
  }
  DType dtype() const { return dtype_; }

  int create_sequence();          // a new empty sequence id
  void free_sequence(int seq);    // returns its pages (those not shared with another sequence)
  // A new sequence whose first n_tokens (rounded DOWN to whole pages) share src's pages.
  int fork_prefix(int src, int64_t n_tokens);
  // Makes room for positions [0, n_tokens); false (and nothing changed) when the pages run out.
  bool reserve(int seq, int64_t n_tokens);
  // Forgets positions >= n_tokens (rolls back speculative or cancelled tokens).
  void truncate(int seq, int64_t n_tokens);

  int64_t capacity(int seq) const;  // positions reserved
  int64_t shared_tokens(int seq) const { return seqs_[seq].shared_tokens; }
  int64_t free_pages() const { return static_cast<int64_t>(free_.size()); }
  int64_t total_pages() const { return n_pages_; }
  int64_t page_tokens() const { return page_tokens_; }
  int64_t latent_dim() const { return latent_dim_; }
  int64_t n_layers() const { return n_layers_; }
  int64_t live_sequences() const;

  // The latent_dim values of (layer, seq, pos) in the cache's dtype (float or uint16_t f16 bits);
  // pos must be < capacity(seq).
  void* row_data(int64_t layer, int seq, int64_t pos) {
    const auto& s = seqs_[seq];
    const int64_t page = s.pages[pos / page_tokens_];
    return data_.data() + ((page * n_layers_ + layer) * page_tokens_ + pos % page_tokens_) * latent_dim_ * elem_;
  }
  const void* row_data(int64_t layer, int seq, int64_t pos) const {
    return const_cast<LatentKvCache*>(this)->row_data(layer, seq, pos);
  }
  void write_row(int64_t layer, int seq, int64_t pos, const float* src);   // latent_dim values
  void read_row(int64_t layer, int seq, int64_t pos, float* dst) const;     // as float32

 private:
  struct Sequence {
    bool live = false;
    std::vector<int64_t> pages;
    int64_t shared_tokens = 0;
  };
  int64_t n_layers_, latent_dim_, page_tokens_, n_pages_;
  DType dtype_;
  size_t elem_;                   // bytes per value
  std::vector<uint8_t> data_;     // [n_pages][n_layers][page_tokens][latent_dim] values of dtype_
  std::vector<int> refcount_;     // per page
  std::vector<int64_t> free_;     // free page ids
  std::vector<Sequence> seqs_;
  void release_page(int64_t page);
};

// A sequence that is freed when it goes out of scope.
class ScopedSequence {
 public:
  explicit ScopedSequence(LatentKvCache& cache) : cache_(cache), seq_(cache.create_sequence()) {}
  ~ScopedSequence() { cache_.free_sequence(seq_); }
  ScopedSequence(const ScopedSequence&) = delete;
  ScopedSequence& operator=(const ScopedSequence&) = delete;
  int id() const { return seq_; }

 private:
  LatentKvCache& cache_;
  int seq_;
};

}  // namespace dsinfer
