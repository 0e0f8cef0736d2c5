#pragma once
// Small vocabularies for the constraint tests, and what a constraint allows of them.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "runtime/output_constraint.h"
#include "tokenizer/stream_decoder.h"

namespace dsinfer::testing {

inline std::shared_ptr<ConstraintVocab> vocab_of(const std::vector<std::string>& tokens,
                                                 const std::vector<std::string>& added) {
  auto v = std::make_shared<ConstraintVocab>();
  for (const auto& t : tokens) {
    v->bytes.push_back(t);
    v->added.push_back(std::find(added.begin(), added.end(), t) != added.end());
    bool plain = !t.empty();
    for (unsigned char c : t) plain = plain && c >= 0x20 && c != '"' && c != '\\';
    v->plain.push_back(plain);
    v->whole_utf8.push_back(utf8_valid_length(t) == t.size());
  }
  return v;
}

// The tokens a constraint allows now, as "a|b|" (ids past the vocabulary: never).
inline std::string allowed(const OutputConstraint& c, const std::vector<std::string>& tokens) {
  std::vector<float> l(tokens.size() + 2, 0.0f);
  c.mask(l.data(), static_cast<int64_t>(l.size()));
  std::string s;
  for (size_t i = 0; i < l.size(); ++i)
    if (!std::isinf(l[i])) s += (i < tokens.size() ? tokens[i] : "?") + "|";
  return s;
}

}  // namespace dsinfer::testing
