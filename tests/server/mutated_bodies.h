#pragma once
// Deterministic fuzzing of a request translator: random mutations of a valid body (one to four edits:
// bytes deleted, inserted or replaced from JSON's alphabet), each handed to `parse`, which must accept it
// or throw a 4xx ApiError — any other exception fails the test.

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "server/api_request.h"

namespace dsinfer::server {

// The limits the translator tests (Responses, Messages) parse under.
inline RequestLimits translator_limits() {
  RequestLimits l;
  l.max_body_bytes = 1 << 16;
  l.max_messages = 12;
  l.max_tokens = 1000;
  return l;
}

// Returns how many of the `runs` mutations `parse` accepted.
template <class Parse>
int accepted_mutations(const std::string& valid, uint32_t seed, int runs, Parse parse) {
  std::mt19937 rng(seed);
  const std::string alphabet = "{}[]\",:0123456789 -.etrufalsn\\";
  int accepted = 0;
  for (int i = 0; i < runs; ++i) {
    std::string body = valid;
    for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) {
      const size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0: body.erase(at, 1 + rng() % 8); break;
        case 1: body.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        default: body[at] = alphabet[rng() % alphabet.size()];
      }
    }
    try {
      parse(body, i);
      ++accepted;
    } catch (const ApiError& e) {
      EXPECT_GE(e.status, 400) << body;
      EXPECT_LT(e.status, 500) << body;
    }
  }
  return accepted;
}

}  // namespace dsinfer::server
