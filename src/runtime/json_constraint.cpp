#include "runtime/json_constraint.h"

#include <limits>

#include "tokenizer/tokenizer.h"

namespace dsinfer {

std::shared_ptr<const JsonTokenTable> JsonTokenTable::from(const Tokenizer& tokenizer) {
  auto t = std::make_shared<JsonTokenTable>();
  const int32_t n = tokenizer.n_vocab();
  t->bytes.resize(static_cast<size_t>(n));
  t->banned.assign(static_cast<size_t>(n), 0);
  t->plain.assign(static_cast<size_t>(n), 0);
  for (int32_t id = 0; id < n; ++id) {
    if (tokenizer.is_special(id) || tokenizer.is_added(id) || tokenizer.token_bytes(id).empty()) {
      t->banned[id] = 1;
      continue;
    }
    const std::string& b = tokenizer.token_bytes(id);
    t->bytes[id] = b;
    bool plain = true;
    for (unsigned char c : b) plain = plain && c >= 0x20 && c != '"' && c != '\\';
    t->plain[id] = plain;
  }
  return t;
}

int64_t JsonConstraint::mask(float* logits, int64_t n_vocab) const {
  const JsonTokenTable& t = *table_;
  const int64_t known = std::min<int64_t>(n_vocab, static_cast<int64_t>(t.bytes.size()));
  const float ninf = -std::numeric_limits<float>::infinity();
  const bool in_string = state_.in_plain_string();
  int64_t allowed = 0;
  for (int64_t id = 0; id < known; ++id) {
    bool ok = !t.banned[id];
    if (ok && !(in_string && t.plain[id])) {  // (most tokens inside a string need no trial)
      JsonPrefix trial = state_;
      ok = trial.feed(t.bytes[id]);
    }
    if (ok) {
      ++allowed;
    } else {
      logits[id] = ninf;
    }
  }
  for (int64_t id = known; id < n_vocab; ++id) logits[id] = ninf;
  return allowed;
}

bool JsonConstraint::accept(int32_t token) {
  const JsonTokenTable& t = *table_;
  if (token < 0 || token >= static_cast<int32_t>(t.bytes.size()) || t.banned[token]) return false;
  JsonPrefix next = state_;
  if (!next.feed(t.bytes[token])) return false;
  state_ = next;
  return true;
}

}  // namespace dsinfer
