#pragma once
// Byte-level BPE: the GPT-2 byte <-> character mapping and the merge loop that turns one pre-tokenized
// piece (raw bytes) into token ids.
//
// Tokens are kept as raw bytes internally: the byte-level form ("Ġthe") only exists in the vocab files.
// Every byte of a piece starts as its single-byte token; adjacent pairs are merged lowest rank first (ties:
// leftmost first), as Hugging Face tokenizers and llama.cpp do.

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace dsinfer {

// GPT-2 bytes_to_unicode: byte -> the code point that stands for it in byte-level token strings.
uint32_t byte_to_codepoint(uint8_t b);
// The inverse for a whole string: byte-level token text -> raw bytes. Characters outside the mapping are
// kept as their UTF-8 bytes (tokens such as "<｜begin▁of▁sentence｜>" contain such characters).
std::string byte_level_decode(std::string_view token_text);
// Raw bytes -> byte-level token text.
std::string byte_level_encode(std::string_view bytes);

class BpeModel {
 public:
  // Builds the byte table and the merge table; throws Error naming the source for a merge whose parts or
  // result are not in the vocabulary, or a byte without a single-byte token.
  explicit BpeModel(const VocabData& vocab);

  // Appends the ids of one piece. Thread-safe (the word cache is locked).
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;
  // The same without the cache, for tests and for measuring the cache.
  void encode_piece_uncached(std::string_view bytes, std::vector<int32_t>& out) const;

 private:
  struct MergeEntry {
    uint64_t key = ~uint64_t(0);  // (left id << 32) | right id; all ones = empty slot
    int32_t rank = 0;
    int32_t id = 0;
  };
  const MergeEntry* find_merge(int32_t left, int32_t right) const;
  void merge_small(std::string_view bytes, std::vector<int32_t>& out) const;
  void merge_heap(std::string_view bytes, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_token_{};
  std::vector<MergeEntry> merges_;  // open addressing, size a power of two
  uint64_t merge_mask_ = 0;

  static constexpr size_t kCacheMaxEntries = 1 << 17;
  static constexpr size_t kCacheMaxWordBytes = 128;
  mutable std::mutex cache_mutex_;
  struct StringHash {
    using is_transparent = void;  // lookups by string_view without building a std::string
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace dsinfer
