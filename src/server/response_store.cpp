#include "server/response_store.h"

namespace dsinfer::server {

ResponseStore::ResponseStore(size_t max_entries, size_t max_bytes) : max_entries_(max_entries), max_bytes_(max_bytes) {}

void ResponseStore::put(const std::string& id, StoredResponse r) {
  // Its JSON text's length stands for its size (the parsed tree is a few times larger, in proportion).
  const size_t bytes = r.response.dump().size() + r.conversation.dump().size() + id.size();
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.count(id)) drop(id);
  if (bytes > max_bytes_ || max_entries_ == 0) return;  // larger than the whole store: not kept
  while (!order_.empty() && (entries_.size() + 1 > max_entries_ || bytes_ + bytes > max_bytes_)) {
    const std::string oldest = order_.front();
    drop(oldest);
  }
  order_.push_back(id);
  entries_.emplace(id, std::make_pair(Entry{std::move(r), bytes}, std::prev(order_.end())));
  bytes_ += bytes;
}

std::optional<StoredResponse> ResponseStore::get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.first.value;
}

bool ResponseStore::erase(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!entries_.count(id)) return false;
  drop(id);
  return true;
}

size_t ResponseStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void ResponseStore::drop(const std::string& id) {
  auto it = entries_.find(id);
  bytes_ -= it->second.first.bytes;
  order_.erase(it->second.second);
  entries_.erase(it);
}

}  // namespace dsinfer::server
