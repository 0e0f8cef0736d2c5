#pragma once
// The Responses API's stored responses (`store`, the default): what `previous_response_id` continues and
// `GET /v1/responses/{id}` returns. In memory only, bounded by count and bytes (the oldest go first), so a
// server that answers forever never grows without limit; a restart forgets them, and a continuation of a
// forgotten response is a 400 that says so.

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace dsinfer::server {

struct StoredResponse {
  nlohmann::ordered_json response;      // the response object as it was returned
  nlohmann::ordered_json conversation;  // input items (the previous ones too) followed by the output items
  size_t input_begin = 0, input_end = 0;  // this request's own input items: conversation[input_begin, input_end)
};

// One page of a stored response's own input items, as GET /v1/responses/{id}/input_items lists them:
// `order` "desc" (the default: last item first) or "asc", `limit` 1..100 (default 20), `after` an item id
// (the page starts behind it). Empty strings are the defaults; a bad value is an ApiError 400.
nlohmann::ordered_json input_items_page(const StoredResponse& r, const std::string& order, const std::string& limit,
                                        const std::string& after);

class ResponseStore {
 public:
  ResponseStore(size_t max_entries = 1024, size_t max_bytes = 64u << 20);

  void put(const std::string& id, StoredResponse r);
  std::optional<StoredResponse> get(const std::string& id) const;
  bool erase(const std::string& id);
  size_t size() const;

 private:
  struct Entry {
    StoredResponse value;
    size_t bytes = 0;
  };
  size_t max_entries_;
  size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<std::string> order_;  // oldest first
  std::unordered_map<std::string, std::pair<Entry, std::list<std::string>::iterator>> entries_;
  size_t bytes_ = 0;

  void drop(const std::string& id);  // mu_ held
};

}  // namespace dsinfer::server
