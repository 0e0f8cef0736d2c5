#include "server/text_output.h"

#include <algorithm>

namespace dsinfer::server {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
  for (const auto& s : stops_) hold_ = std::max(hold_, s.size() - 1);
}

std::string StopMatcher::push(const std::string& text) {
  if (matched_) return {};
  if (stops_.empty()) return text;
  pending_ += text;
  size_t first = std::string::npos;
  for (const auto& s : stops_) {
    const size_t at = pending_.find(s);
    if (at < first) {
      first = at;
      matched_stop_ = s;
    }
  }
  if (first != std::string::npos) {
    matched_ = true;
    std::string out = pending_.substr(0, first);
    pending_.clear();
    return out;
  }
  if (pending_.size() <= hold_) return {};
  size_t cut = pending_.size() - hold_;
  // Never split a UTF-8 character: back up to the start of the one the cut falls into.
  while (cut > 0 && (static_cast<unsigned char>(pending_[cut]) & 0xC0) == 0x80) --cut;
  std::string out = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  if (!matched_) out.swap(pending_);
  pending_.clear();
  return out;
}

EchoText echo_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  EchoText e;
  StreamDecoder decoder(tokenizer, true);
  for (int32_t id : ids) {
    e.starts.push_back(static_cast<int64_t>(e.text.size()));
    e.text += decoder.push(id);
  }
  e.text += decoder.flush();
  return e;
}

TextOutput::TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stops, bool chat,
                       ChatOutputOptions parser_options)
    : decoder_(tokenizer, true), stop_(std::move(stops)), chat_(chat), parser_(parser_options) {}

ChatDelta TextOutput::route(const std::string& text, bool final) {
  if (!chat_) {
    ChatDelta d;
    d.content = text;
    content_ += text;
    return d;
  }
  ChatDelta d = text.empty() ? ChatDelta{} : parser_.feed(text);
  if (final) {
    ChatDelta rest = parser_.finish();
    d.content += rest.content;
    d.reasoning += rest.reasoning;
    for (auto& c : rest.tool_calls) d.tool_calls.push_back(std::move(c));
  }
  return d;
}

ChatDelta TextOutput::push(int32_t token) {
  if (stop_.matched()) return {};
  const std::string decoded = decoder_.push(token);
  decoded_ += static_cast<int64_t>(decoded.size());
  const std::string out = stop_.push(decoded);
  released_ += static_cast<int64_t>(out.size());
  const bool reasoning_before = chat_ && parser_.in_reasoning();
  ChatDelta delta = route(out, false);
  if (reasoning_before || (chat_ && parser_.in_reasoning())) ++reasoning_tokens_;
  return delta;
}

ChatDelta TextOutput::finish() {
  std::string text;
  if (!stop_.matched()) {
    const std::string decoded = decoder_.flush();
    decoded_ += static_cast<int64_t>(decoded.size());
    text = stop_.push(decoded);
    text += stop_.flush();
    released_ += static_cast<int64_t>(text.size());
  }
  return route(text, true);
}

}  // namespace dsinfer::server
