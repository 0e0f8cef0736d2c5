// Streaming reasoning / tool-call parser. See output_parser.h.

#include "tokenizer/output_parser.h"

#include <nlohmann/json.hpp>

namespace dsinfer {

namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the longest suffix of s that is a proper prefix of marker (the part to hold back).
size_t partial_marker(std::string_view s, std::string_view marker) {
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

// Length of s without a trailing incomplete UTF-8 sequence.
size_t utf8_safe_end(std::string_view s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

bool parse_tool_call_body(std::string_view body, ParsedToolCall& out) {
  size_t sep = body.find(kSep);
  if (sep == std::string_view::npos) return false;
  std::string_view left = trim(body.substr(0, sep));
  std::string_view right = body.substr(sep + kSep.size());
  std::string_view name, args;
  size_t nl = right.find('\n');
  std::string_view after = nl == std::string_view::npos ? std::string_view() : trim(right.substr(nl + 1));
  if (nl != std::string_view::npos && starts_with(after, "```")) {
    // V3/R1: TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```
    name = trim(right.substr(0, nl));
    args = after.substr(3);
    if (starts_with(args, "json")) args.remove_prefix(4);
    args = trim(args);
    if (args.size() < 3 || args.substr(args.size() - 3) != "```") return false;
    args = trim(args.substr(0, args.size() - 3));
  } else {
    // V3.1: NAME<｜tool▁sep｜>ARGS
    name = left;
    args = trim(right);
  }
  if (name.empty() || name.find_first_of(" \t\r\n<>") != std::string_view::npos) return false;
  if (args.empty()) args = "{}";
  if (!nlohmann::json::accept(args)) return false;
  out.name = std::string(name);
  out.arguments = std::string(args);
  return true;
}

ChatOutputParser::ChatOutputParser(ChatOutputOptions options) : options_(options) {
  if (options_.parse_reasoning && options_.starts_in_reasoning) {
    state_ = State::kReasoning;
  } else if (options_.parse_reasoning) {
    state_ = State::kStart;
  } else {
    state_ = State::kContent;
  }
}

ChatDelta ChatOutputParser::feed(std::string_view text) {
  ChatDelta delta;
  buf_.append(text);
  run(false, delta);
  return delta;
}

ChatDelta ChatOutputParser::finish() {
  ChatDelta delta;
  run(true, delta);
  return delta;
}

void ChatOutputParser::emit_content(std::string_view text, ChatDelta& delta) {
  if (strip_content_ws_) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    if (text.empty()) return;
    strip_content_ws_ = false;
  }
  delta.content.append(text);
  content_.append(text);
}

void ChatOutputParser::emit_reasoning(std::string_view text, ChatDelta& delta) {
  delta.reasoning.append(text);
  reasoning_.append(text);
}

void ChatOutputParser::run(bool final, ChatDelta& delta) {
  for (;;) {
    std::string_view b = buf_;
    switch (state_) {
      case State::kStart: {
        size_t ws = 0;
        while (ws < b.size() && is_space(b[ws])) ++ws;
        std::string_view rest = b.substr(ws);
        if (starts_with(rest, kThinkOpen)) {
          buf_.erase(0, ws + kThinkOpen.size());
          state_ = State::kReasoning;
          continue;
        }
        if (!final && kThinkOpen.substr(0, rest.size()) == rest) return;  // may still become <think>
        state_ = State::kContent;
        continue;
      }
      case State::kReasoning: {
        size_t close = b.find(kThinkClose);
        if (close != std::string_view::npos) {
          emit_reasoning(b.substr(0, close), delta);
          buf_.erase(0, close + kThinkClose.size());
          state_ = State::kContent;
          strip_content_ws_ = true;
          continue;
        }
        size_t keep = final ? 0 : partial_marker(b, kThinkClose);
        size_t end = final ? b.size() : utf8_safe_end(b.substr(0, b.size() - keep));
        emit_reasoning(b.substr(0, end), delta);
        buf_.erase(0, end);
        return;
      }
      case State::kContent: {
        size_t begin = options_.parse_tool_calls ? b.find(kCallsBegin) : std::string_view::npos;
        if (begin != std::string_view::npos) {
          emit_content(b.substr(0, begin), delta);
          buf_.erase(0, begin + kCallsBegin.size());
          state_ = State::kTools;
          continue;
        }
        size_t keep = final || !options_.parse_tool_calls ? 0 : partial_marker(b, kCallsBegin);
        size_t end = final ? b.size() : utf8_safe_end(b.substr(0, b.size() - keep));
        emit_content(b.substr(0, end), delta);
        buf_.erase(0, end);
        return;
      }
      case State::kTools:
        if (!run_tools(final, delta)) return;
        continue;
    }
  }
}

// One step inside <｜tool▁calls▁begin｜> … <｜tool▁calls▁end｜>. Returns true if it consumed something or
// changed state, false if it needs more text.
bool ChatOutputParser::run_tools(bool final, ChatDelta& delta) {
  std::string_view b = buf_;
  size_t ws = 0;
  while (ws < b.size() && is_space(b[ws])) ++ws;
  std::string_view rest = b.substr(ws);
  if (starts_with(rest, kCallsEnd)) {
    buf_.erase(0, ws + kCallsEnd.size());
    state_ = State::kContent;
    return true;
  }
  if (starts_with(rest, kCallBegin)) {
    size_t end = rest.find(kCallEnd, kCallBegin.size());
    if (end == std::string_view::npos) {
      if (!final) return false;
    } else {
      std::string_view body = rest.substr(kCallBegin.size(), end - kCallBegin.size());
      ParsedToolCall call;
      if (parse_tool_call_body(body, call)) {
        delta.tool_calls.push_back({int(tool_calls_.size()), call});
        tool_calls_.push_back(std::move(call));
      } else {
        emit_content(b.substr(0, ws + end + kCallEnd.size()), delta);
      }
      buf_.erase(0, ws + end + kCallEnd.size());
      return true;
    }
  } else if (!final && (kCallsEnd.substr(0, rest.size()) == rest || kCallBegin.substr(0, rest.size()) == rest)) {
    return false;  // whitespace or the start of a marker so far
  }
  // Not markup (or the stream ended inside a call): the rest is plain content.
  state_ = State::kContent;
  return true;
}

}  // namespace dsinfer
