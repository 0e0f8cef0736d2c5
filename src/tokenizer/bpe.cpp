// Byte-level BPE merges. See bpe.h.

#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "util/error.h"

namespace dsinfer {

namespace {

struct ByteTables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 324> from_cp{};  // code point -> byte, -1 if it stands for none
  ByteTables() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      // Printable Latin-1 bytes stand for themselves; the others are shifted past U+00FF in order.
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      to_cp[b] = printable ? uint32_t(b) : next++;
      from_cp[to_cp[b]] = int16_t(b);
    }
  }
};

const ByteTables& tables() {
  static const ByteTables t;
  return t;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

uint64_t hash_key(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return k;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t b) { return tables().to_cp[b]; }

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) append_utf8(out, tables().to_cp[b]);
  return out;
}

std::string byte_level_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + n > s.size()) n = s.size() - i;
    uint32_t cp = c;
    if (n == 2) cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
    if (n == 3) cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    if (n == 4) cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
    if (cp < tables().from_cp.size() && tables().from_cp[cp] >= 0) {
      out += char(tables().from_cp[cp]);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

BpeModel::BpeModel(const VocabData& v) {
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(v.tokens.size() * 2);
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (!v.tokens[i].empty()) ids.emplace(v.tokens[i], int32_t(i));
  byte_token_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(s, tables().to_cp[b]);
    auto it = ids.find(s);
    if (it != ids.end()) byte_token_[b] = it->second;
  }
  size_t cap = 16;
  while (cap < v.merges.size() * 2) cap <<= 1;
  merges_.assign(cap, MergeEntry{});
  merge_mask_ = cap - 1;
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const auto& [a, b] = v.merges[r];
    auto ia = ids.find(a), ib = ids.find(b), iab = ids.find(a + b);
    if (ia == ids.end() || ib == ids.end() || iab == ids.end())
      fail(v.source, ": merge ", r, " '", a, " ", b, "': a part or the result is not in the vocabulary");
    uint64_t key = (uint64_t(uint32_t(ia->second)) << 32) | uint32_t(ib->second);
    for (uint64_t h = hash_key(key) & merge_mask_;; h = (h + 1) & merge_mask_) {
      if (merges_[h].key == key) break;  // a repeated merge keeps its first (lowest) rank
      if (merges_[h].key == ~uint64_t(0)) {
        merges_[h] = {key, int32_t(r), iab->second};
        break;
      }
    }
  }
}

const BpeModel::MergeEntry* BpeModel::find_merge(int32_t left, int32_t right) const {
  uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  for (uint64_t h = hash_key(key) & merge_mask_;; h = (h + 1) & merge_mask_) {
    const MergeEntry& e = merges_[h];
    if (e.key == key) return &e;
    if (e.key == ~uint64_t(0)) return nullptr;
  }
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.size() > kCacheMaxWordBytes) return encode_piece_uncached(bytes, out);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(bytes);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t start = out.size();
  encode_piece_uncached(bytes, out);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheMaxEntries) cache_.clear();
  cache_.emplace(std::string(bytes), std::vector<int32_t>(out.begin() + long(start), out.end()));
}

void BpeModel::encode_piece_uncached(std::string_view bytes, std::vector<int32_t>& out) const {
  // Short pieces (nearly all of them) are cheapest with a rescan per merge; long ones (CJK runs, long
  // words) need the heap to stay O(n log n).
  if (bytes.size() <= 24) {
    merge_small(bytes, out);
  } else {
    merge_heap(bytes, out);
  }
}

void BpeModel::merge_small(std::string_view bytes, std::vector<int32_t>& out) const {
  int32_t sym[24];
  int n = 0;
  for (unsigned char b : bytes)
    if (byte_token_[b] >= 0) sym[n++] = byte_token_[b];  // a byte without a token is dropped, as in HF
  while (n > 1) {
    int best = -1;
    const MergeEntry* best_merge = nullptr;
    for (int i = 0; i + 1 < n; ++i) {
      const MergeEntry* m = find_merge(sym[i], sym[i + 1]);
      if (m && (!best_merge || m->rank < best_merge->rank)) {
        best_merge = m;
        best = i;
      }
    }
    if (!best_merge) break;
    sym[best] = best_merge->id;
    std::copy(sym + best + 2, sym + n, sym + best + 1);
    --n;
  }
  out.insert(out.end(), sym, sym + n);
}

void BpeModel::merge_heap(std::string_view bytes, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;  // -1 at the ends; a merged-away symbol gets id -1
  };
  struct Candidate {
    int32_t rank;
    int32_t left;  // symbol index
    int32_t left_id;
    int32_t right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::vector<Symbol> sym;
  sym.reserve(bytes.size());
  for (unsigned char b : bytes) {
    if (byte_token_[b] < 0) continue;
    int32_t i = int32_t(sym.size());
    sym.push_back({byte_token_[b], i - 1, -1});
    if (i > 0) sym[i - 1].next = i;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int32_t left) {
    if (left < 0 || sym[left].next < 0) return;
    const Symbol& l = sym[left];
    const Symbol& r = sym[l.next];
    if (const MergeEntry* m = find_merge(l.id, r.id)) heap.push({m->rank, left, l.id, r.id});
  };
  for (int32_t i = 0; i + 1 < int32_t(sym.size()); ++i) push(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    Symbol& l = sym[c.left];
    // Stale entries: the left symbol changed or its right neighbour did.
    if (l.id != c.left_id || l.next < 0 || sym[l.next].id != c.right_id) continue;
    Symbol& r = sym[l.next];
    l.id = find_merge(c.left_id, c.right_id)->id;
    r.id = -1;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    push(l.prev);
    push(c.left);
  }
  for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace dsinfer
