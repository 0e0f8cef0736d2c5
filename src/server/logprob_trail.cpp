#include "server/logprob_trail.h"

#include <algorithm>
#include <string_view>

#include "tokenizer/stream_decoder.h"

namespace dsinfer::server {

using json = nlohmann::ordered_json;

namespace {

int64_t utf8_chars(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

void LogprobTrail::set_prompt(const std::vector<int32_t>& ids, const std::vector<int64_t>& starts, const std::string& text) {
  for (size_t i = 0; i < ids.size(); ++i) {
    Entry e;
    e.token = ids[i];
    e.char_offset = utf8_chars(std::string_view(text).substr(0, static_cast<size_t>(starts[i])));
    entries_.push_back(std::move(e));
  }
  echo_chars_ = utf8_chars(text);
}

void LogprobTrail::set_prompt_logprobs(int64_t pos, TokenLogprobs logprobs) {
  if (pos >= 1 && pos < static_cast<int64_t>(entries_.size())) entries_[pos].logprobs = std::move(logprobs);
}

void LogprobTrail::add(int64_t start, int32_t token, TokenLogprobs logprobs) {
  pending_.push_back(Entry{start, 0, token, std::move(logprobs)});
}

void LogprobTrail::release(int64_t released, const std::string& text) {
  while (!pending_.empty() && pending_.front().start < released) {
    Entry e = std::move(pending_.front());
    pending_.pop_front();
    if (!chat_) {  // characters (UTF-8 lead bytes) of the text before the token
      const int64_t upto = std::min<int64_t>(e.start, static_cast<int64_t>(text.size()));
      for (; counted_bytes_ < upto; ++counted_bytes_)
        counted_chars_ += (static_cast<unsigned char>(text[counted_bytes_]) & 0xC0) != 0x80;
      e.char_offset = echo_chars_ + counted_chars_;
    }
    entries_.push_back(std::move(e));
  }
}

json LogprobTrail::take() {
  if (taken_ == entries_.size()) return nullptr;
  json j = render(taken_, entries_.size());
  taken_ = entries_.size();
  return j;
}

json LogprobTrail::render(size_t begin, size_t end) const {
  // (a model's vocabulary may be padded past the tokenizer's: such ids have no bytes)
  auto raw = [&](int32_t id) { return id < tokenizer_.n_vocab() ? tokenizer_.token_bytes(id) : std::string(); };
  auto text_of = [&](int32_t id) { return utf8_sanitize(raw(id)); };
  if (chat_) {
    auto bytes_of = [&](int32_t id) {
      json b = json::array();
      for (unsigned char c : raw(id)) b.push_back(static_cast<int>(c));
      return b;
    };
    json content = json::array();
    for (size_t i = begin; i < end; ++i) {
      const Entry& e = entries_[i];
      const TokenLogprobs lps = e.logprobs.value_or(TokenLogprobs{});  // (chat entries always have them)
      json top = json::array();
      for (const auto& [id, lp] : lps.top) top.push_back({{"token", text_of(id)}, {"logprob", lp}, {"bytes", bytes_of(id)}});
      content.push_back(
          {{"token", text_of(e.token)}, {"logprob", lps.logprob}, {"bytes", bytes_of(e.token)}, {"top_logprobs", std::move(top)}});
    }
    return {{"content", std::move(content)}, {"refusal", nullptr}};
  }
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(), offsets = json::array();
  for (size_t i = begin; i < end; ++i) {
    const Entry& e = entries_[i];
    tokens.push_back(text_of(e.token));
    if (!e.logprobs) {  // the echoed prompt's first token: nothing before it to score it
      token_logprobs.push_back(nullptr);
      top_logprobs.push_back(nullptr);
      offsets.push_back(e.char_offset);
      continue;
    }
    token_logprobs.push_back(e.logprobs->logprob);
    json top = json::object();  // (tokens that render alike share a key, as in the OpenAI API)
    for (const auto& [id, lp] : e.logprobs->top) top.emplace(text_of(id), lp);
    top_logprobs.push_back(std::move(top));
    offsets.push_back(e.char_offset);
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)},
          {"text_offset", std::move(offsets)}};
}

}  // namespace dsinfer::server
