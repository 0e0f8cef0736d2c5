#include "model/kv_cache.h"

#include <cstring>

#include "tensor/half.h"
#include "util/error.h"

namespace dsinfer {

LatentKvCache::LatentKvCache(int64_t n_layers, int64_t latent_dim, int64_t page_tokens, int64_t n_pages, DType dtype)
    : n_layers_(n_layers), latent_dim_(latent_dim), page_tokens_(page_tokens), n_pages_(n_pages), dtype_(dtype),
      elem_(dtype_block_bytes(dtype)) {
  if (n_layers <= 0 || latent_dim <= 0 || page_tokens <= 0 || n_pages <= 0) fail("KV cache: bad geometry");
  if (!supports(dtype)) fail("KV cache: values can be f32 or f16, not ", dtype_name(dtype));
  data_.resize(static_cast<size_t>(n_pages * n_layers * page_tokens * latent_dim) * elem_);
  refcount_.assign(static_cast<size_t>(n_pages), 0);
  for (int64_t p = n_pages - 1; p >= 0; --p) free_.push_back(p);
}

void LatentKvCache::write_row(int64_t layer, int seq, int64_t pos, const float* src) {
  void* dst = row_data(layer, seq, pos);
  if (dtype_ == DType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(latent_dim_) * sizeof(float));
    return;
  }
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < latent_dim_; ++i) h[i] = f32_to_f16(src[i]);
}

void LatentKvCache::read_row(int64_t layer, int seq, int64_t pos, float* dst) const {
  const void* src = row_data(layer, seq, pos);
  if (dtype_ == DType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(latent_dim_) * sizeof(float));
    return;
  }
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < latent_dim_; ++i) dst[i] = f16_to_f32(h[i]);
}

int LatentKvCache::create_sequence() {
  for (size_t i = 0; i < seqs_.size(); ++i) {
    if (!seqs_[i].live) {
      seqs_[i] = Sequence{true, {}, 0};
      return static_cast<int>(i);
    }
  }
  seqs_.push_back(Sequence{true, {}, 0});
  return static_cast<int>(seqs_.size() - 1);
}

void LatentKvCache::release_page(int64_t page) {
  if (--refcount_[page] == 0) free_.push_back(page);
}

void LatentKvCache::free_sequence(int seq) {
  auto& s = seqs_.at(seq);
  if (!s.live) return;
  for (int64_t p : s.pages) release_page(p);
  s = Sequence{};
}

int LatentKvCache::fork_prefix(int src, int64_t n_tokens) {
  const int id = create_sequence();
  const auto& from = seqs_.at(src);
  const int64_t n_pages = std::min<int64_t>(n_tokens / page_tokens_, static_cast<int64_t>(from.pages.size()));
  auto& s = seqs_[id];
  for (int64_t i = 0; i < n_pages; ++i) {
    s.pages.push_back(from.pages[i]);
    ++refcount_[from.pages[i]];
  }
  s.shared_tokens = n_pages * page_tokens_;
  return id;
}

bool LatentKvCache::reserve(int seq, int64_t n_tokens) {
  auto& s = seqs_.at(seq);
  const int64_t need = (n_tokens + page_tokens_ - 1) / page_tokens_ - static_cast<int64_t>(s.pages.size());
  if (need <= 0) return true;
  if (need > static_cast<int64_t>(free_.size())) return false;
  for (int64_t i = 0; i < need; ++i) {
    const int64_t p = free_.back();
    free_.pop_back();
    refcount_[p] = 1;
    s.pages.push_back(p);
  }
  return true;
}

void LatentKvCache::truncate(int seq, int64_t n_tokens) {
  auto& s = seqs_.at(seq);
  const int64_t keep = (n_tokens + page_tokens_ - 1) / page_tokens_;
  while (static_cast<int64_t>(s.pages.size()) > keep) {
    release_page(s.pages.back());
    s.pages.pop_back();
  }
  s.shared_tokens = std::min(s.shared_tokens, keep * page_tokens_);
}

int64_t LatentKvCache::capacity(int seq) const {
  return static_cast<int64_t>(seqs_.at(seq).pages.size()) * page_tokens_;
}

int64_t LatentKvCache::live_sequences() const {
  int64_t n = 0;
  for (const auto& s : seqs_) n += s.live;
  return n;
}

}  // namespace dsinfer
