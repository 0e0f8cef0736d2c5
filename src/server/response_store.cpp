#include "server/response_store.h"

#include <algorithm>
#include <charconv>

#include "server/api_request.h"

namespace dsinfer::server {

nlohmann::ordered_json input_items_page(const StoredResponse& r, const std::string& order, const std::string& limit,
                                        const std::string& after) {
  using json = nlohmann::ordered_json;
  if (!order.empty() && order != "asc" && order != "desc") throw ApiError(400, "'order' must be \"asc\" or \"desc\"", "order");
  int n = 20;
  if (!limit.empty()) {
    const auto [end, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), n);
    if (ec != std::errc() || end != limit.data() + limit.size() || n < 1 || n > 100)
      throw ApiError(400, "'limit' must be an integer from 1 to 100", "limit");
  }
  std::vector<const json*> items;
  for (size_t i = r.input_begin; i < r.input_end && i < r.conversation.size(); ++i) items.push_back(&r.conversation[i]);
  if (order != "asc") std::reverse(items.begin(), items.end());
  size_t from = 0;
  if (!after.empty()) {
    auto it = std::find_if(items.begin(), items.end(), [&](const json* item) { return item->value("id", "") == after; });
    if (it == items.end()) throw ApiError(400, "'after' is not the id of one of this response's input items", "after");
    from = static_cast<size_t>(it - items.begin()) + 1;
  }
  json page = {{"object", "list"}, {"data", json::array()}, {"first_id", nullptr}, {"last_id", nullptr}, {"has_more", false}};
  for (size_t i = from; i < items.size() && page["data"].size() < static_cast<size_t>(n); ++i) page["data"].push_back(*items[i]);
  if (!page["data"].empty()) {
    page["first_id"] = page["data"].front().value("id", "");
    page["last_id"] = page["data"].back().value("id", "");
  }
  page["has_more"] = from + page["data"].size() < items.size();
  return page;
}

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
