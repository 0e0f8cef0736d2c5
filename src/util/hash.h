#pragma once
// Small non-cryptographic hashes for deterministic seeding and cache keys.

#include <cstdint>
#include <string_view>

namespace dsinfer {

// splitmix64's finalizer: a well-mixed 64-bit value from any 64-bit input.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a over the bytes of s.
inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

}  // namespace dsinfer
