#include "runtime/output_constraint.h"

#include <algorithm>
#include <limits>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace dsinfer {

std::shared_ptr<const ConstraintVocab> ConstraintVocab::from(const Tokenizer& tokenizer) {
  auto v = std::make_shared<ConstraintVocab>();
  const int32_t n = tokenizer.n_vocab();
  v->bytes.resize(static_cast<size_t>(n));
  v->added.assign(static_cast<size_t>(n), 0);
  v->plain.assign(static_cast<size_t>(n), 0);
  v->whole_utf8.assign(static_cast<size_t>(n), 0);
  for (int32_t id = 0; id < n; ++id) {
    if (tokenizer.is_unused(id)) continue;  // no bytes: never allowed
    const std::string& b = tokenizer.token_bytes(id);
    v->bytes[id] = b;
    v->added[id] = tokenizer.is_special(id) || tokenizer.is_added(id);
    bool plain = !b.empty();
    for (unsigned char c : b) plain = plain && c >= 0x20 && c != '"' && c != '\\';
    v->plain[id] = plain;
    v->whole_utf8[id] = utf8_valid_length(b) == b.size();
  }
  return v;
}

int64_t OutputConstraint::mask(float* logits, int64_t n_vocab) const {
  const int64_t known = std::min<int64_t>(n_vocab, static_cast<int64_t>(vocab_->bytes.size()));
  const float ninf = -std::numeric_limits<float>::infinity();
  int64_t allowed = 0;
  for (int64_t id = 0; id < known; ++id) {
    if (allows(static_cast<int32_t>(id))) {
      ++allowed;
    } else {
      logits[id] = ninf;
    }
  }
  for (int64_t id = known; id < n_vocab; ++id) logits[id] = ninf;
  return allowed;
}

bool OutputConstraint::accept(int32_t token) {
  if (token < 0 || token >= static_cast<int32_t>(vocab_->bytes.size()) || !allows(token)) return false;
  advance(token);
  return true;
}

bool OutputConstraint::json_allows(const SchemaPrefix& state, int32_t token) const {
  const ConstraintVocab& v = *vocab_;
  const std::string& b = v.bytes[token];
  if (v.added[token] || b.empty() || !state.may_start_with(static_cast<uint8_t>(b[0]))) return false;
  if (b.size() > 1 && !state.may_start_with(static_cast<uint8_t>(b[0]), static_cast<uint8_t>(b[1]))) return false;
  if (v.plain[token]) {  // (most tokens of an answer, inside a string: no trial)
    if (const int64_t room = state.plain_string_room(); room >= 0 && v.whole_utf8[token]) {
      if (room >= static_cast<int64_t>(b.size())) return true;
      int64_t chars = 0;  // (UTF-8 lead bytes)
      for (unsigned char c : b) chars += (c & 0xC0) != 0x80;
      return chars <= room;
    }
    if (const int r = state.plain_string_takes(b); r >= 0) return r == 1;
  }
  return state.takes(b);
}

bool JsonSchemaConstraint::allows(int32_t token) const { return json_allows(state_, token); }

void JsonSchemaConstraint::advance(int32_t token) { state_.feed(vocab_->bytes[token]); }

ReasoningThenJsonConstraint::ReasoningThenJsonConstraint(std::shared_ptr<const ConstraintVocab> vocab,
                                                         std::shared_ptr<const JsonSchema> schema, std::string marker)
    : OutputConstraint(std::move(vocab)), marker_(std::move(marker)), json_(std::move(schema)) {
  if (marker_.empty() || marker_.find(marker_[0], 1) != std::string::npos)
    fail("ReasoningThenJsonConstraint: the marker's first byte must not recur in it");
}

bool ReasoningThenJsonConstraint::walk(std::string_view b, Progress& p, SchemaPrefix* json) const {
  size_t i = 0;
  while (!p.answering && i < b.size()) {  // (a mismatch can only restart the match at its first byte)
    const char c = b[i++];
    p.matched = c == marker_[p.matched] ? p.matched + 1 : c == marker_[0] ? 1 : 0;
    p.answering = p.matched == marker_.size();
  }
  if (!p.started) {
    for (; i < b.size() && is_json_space(static_cast<uint8_t>(b[i])); ++i)
      if (++p.spaces > kMaxLeadingSpace) return false;
    p.started = i < b.size();
  }
  if (i == b.size()) return true;
  return json ? json->feed(b.substr(i)) : json_.takes(b.substr(i));
}

bool ReasoningThenJsonConstraint::allows(int32_t token) const {
  const ConstraintVocab& v = *vocab_;
  const std::string& b = v.bytes[token];
  if (v.added[token] || b.empty()) return false;
  if (!at_.answering && at_.matched == 0 && b.find(marker_[0]) == std::string::npos) return true;  // (reasoning)
  if (at_.started) return json_allows(json_, token);
  Progress p = at_;
  return walk(b, p, nullptr);
}

void ReasoningThenJsonConstraint::advance(int32_t token) { walk(vocab_->bytes[token], at_, &json_); }

ToolCallConstraint::ToolCallConstraint(std::shared_ptr<const ConstraintVocab> vocab, std::shared_ptr<const ToolCallPattern> pattern)
    : OutputConstraint(std::move(vocab)), pattern_(std::move(pattern)) {
  if (pattern_->heads.empty()) fail("ToolCallConstraint: no function to call");
  // Where the markup holds an added token's text, only that token spells it (as the tokenizer would), never
  // pieces of it in plain tokens: a call cut there by max_tokens then leaves no half marker in the text.
  const ConstraintVocab& v = *vocab_;
  const ToolCallPattern& p = *pattern_;
  for (const std::string* lit : {&p.open, &p.close, &p.again, &p.end}) {
    std::vector<uint8_t>& span = added_spans_[lit];
    span.assign(lit->size(), 0);
    for (size_t id = 0; id < v.bytes.size(); ++id) {
      const std::string& t = v.bytes[id];
      if (!v.added[id] || t.empty()) continue;
      for (size_t at = lit->find(t); at != std::string::npos; at = lit->find(t, at + 1))
        std::fill_n(span.begin() + static_cast<std::ptrdiff_t>(at), t.size(), 1);
    }
  }
  enter(Part::kOpen);
}

void ToolCallConstraint::enter(Part part) {
  const ToolCallPattern& p = *pattern_;
  part_ = part;
  matched_.clear();
  live_.clear();
  switch (part) {
    case Part::kOpen: live_ = {&p.open}; break;
    case Part::kHead:
      for (const auto& h : p.heads) live_.push_back(&h);
      break;
    case Part::kArgs:
      args_.emplace(head_ < p.arguments.size() && p.arguments[head_] ? p.arguments[head_] : JsonSchema::any_object());
      break;
    case Part::kClose: live_ = {&p.close}; break;
    case Part::kNext:
      live_ = {&p.end};
      if (!p.again.empty()) live_.push_back(&p.again);
      break;
    case Part::kDone: break;
  }
  update_next_bytes();
}

void ToolCallConstraint::update_next_bytes() {
  next_byte_.fill(false);
  for (const std::string* lit : live_)
    if (lit->size() > matched_.size()) next_byte_[static_cast<uint8_t>((*lit)[matched_.size()])] = true;
}

bool ToolCallConstraint::allows(int32_t token) const {
  const ConstraintVocab& v = *vocab_;
  const std::string& b = v.bytes[token];
  if (b.empty() || part_ == Part::kDone) return false;
  if (part_ == Part::kArgs) return json_allows(*args_, token);
  if (!next_byte_[static_cast<uint8_t>(b[0])]) return false;
  const size_t at = matched_.size();
  for (const std::string* lit : live_) {  // (each starts with matched_)
    if (at + b.size() > lit->size() || lit->compare(at, b.size(), b) != 0) continue;
    const auto span = added_spans_.find(lit);
    if (v.added[token] || span == added_spans_.end() ||
        std::all_of(span->second.begin() + static_cast<std::ptrdiff_t>(at),
                    span->second.begin() + static_cast<std::ptrdiff_t>(at + b.size()), [](uint8_t in) { return in == 0; }))
      return true;
  }
  return false;
}

void ToolCallConstraint::advance(int32_t token) {
  const std::string& b = vocab_->bytes[token];
  if (part_ == Part::kArgs) {
    args_->feed(b);
    if (args_->complete()) enter(Part::kClose);
    return;
  }
  matched_ += b;
  std::erase_if(live_, [&](const std::string* lit) { return lit->compare(0, matched_.size(), matched_) != 0; });
  update_next_bytes();
  for (const std::string* lit : live_) {
    if (matched_ != *lit) continue;
    switch (part_) {
      case Part::kOpen: enter(Part::kHead); break;
      case Part::kHead:
        head_ = static_cast<size_t>(lit - pattern_->heads.data());
        enter(Part::kArgs);
        break;
      case Part::kClose: enter(Part::kNext); break;
      case Part::kNext: enter(lit == &pattern_->end ? Part::kDone : Part::kHead); break;
      default: break;
    }
    return;
  }
}

}  // namespace dsinfer
