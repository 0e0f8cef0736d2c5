#include "runtime/prefix_cache_file.h"

#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "formats/byte_reader.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

constexpr char kMagic[8] = {'D', 'S', 'P', 'F', 'X', '0', '0', '1'};

// mix64 over 8-byte little-endian words (the tail zero-padded), then the length: ~5 GB/s, so checking a
// multi-GB file costs little next to reading it.
class WordHash {
 public:
  void update(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_ += n;
    while (n > 0 && fill_ > 0) {
      buf_[fill_++] = *b++;
      --n;
      if (fill_ == 8) flush();
    }
    for (; n >= 8; n -= 8, b += 8) {
      uint64_t w;
      std::memcpy(&w, b, 8);
      h_ = mix64(h_ ^ w);
    }
    while (n-- > 0) buf_[fill_++] = *b++;
  }
  uint64_t digest() {
    if (fill_ > 0) {
      std::memset(buf_ + fill_, 0, 8 - fill_);
      flush();
    }
    return mix64(h_ ^ bytes_);
  }

 private:
  void flush() {
    uint64_t w;
    std::memcpy(&w, buf_, 8);
    h_ = mix64(h_ ^ w);
    fill_ = 0;
  }
  uint64_t h_ = 0x243f6a8885a308d3ull, bytes_ = 0;
  uint8_t buf_[8] = {};
  int fill_ = 0;
};

class Writer {
 public:
  explicit Writer(const std::string& path) : path_(path), tmp_(path + ".tmp"), f_(std::fopen(tmp_.c_str(), "wb")) {
    if (!f_) fail(tmp_, ": cannot create");
  }
  ~Writer() {
    if (f_) {
      std::fclose(f_);
      std::remove(tmp_.c_str());
    }
  }
  void put(const void* p, size_t n) {
    hash_.update(p, n);
    bytes_ += n;
    if (n > 0 && std::fwrite(p, 1, n, f_) != n) fail(tmp_, ": write failed (disk full?)");
  }
  template <class T>
  void put(T v) {
    put(&v, sizeof v);
  }
  uint64_t commit() {
    const uint64_t h = hash_.digest();
    if (std::fwrite(&h, 1, 8, f_) != 8) fail(tmp_, ": write failed (disk full?)");
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0 || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      std::remove(tmp_.c_str());
      fail(path_, ": cannot write it");
    }
    return bytes_ + 8;
  }

 private:
  std::string path_, tmp_;
  std::FILE* f_;
  WordHash hash_;
  uint64_t bytes_ = 0;
};

uint32_t dtype_code(DType t) { return t == DType::F16 ? 1 : 0; }

}  // namespace

PrefixFileReport save_prefix_cache(const PrefixCache& prefix, const LatentKvCache& cache, uint64_t fingerprint,
                                   const std::string& path) {
  const int64_t page = cache.page_tokens(), layers = cache.n_layers();
  const size_t row_bytes = static_cast<size_t>(cache.latent_dim()) * dtype_block_bytes(cache.dtype());
  Writer w(path);
  w.put(kMagic, sizeof kMagic);
  w.put<uint64_t>(fingerprint);
  w.put<uint64_t>(static_cast<uint64_t>(layers));
  w.put<uint64_t>(static_cast<uint64_t>(cache.latent_dim()));
  w.put<uint64_t>(static_cast<uint64_t>(page));
  w.put<uint32_t>(static_cast<uint32_t>(dtype_block_bytes(cache.dtype())));
  w.put<uint32_t>(dtype_code(cache.dtype()));
  w.put<uint64_t>(static_cast<uint64_t>(prefix.entries()));
  PrefixFileReport rep;
  std::unordered_set<uint64_t> written;  // block hashes of the pages already in the file
  prefix.for_each_oldest_first([&](int seq, const std::vector<int32_t>& tokens) {
    const int64_t n = static_cast<int64_t>(tokens.size());
    const std::vector<uint64_t> hashes = PrefixCache::block_hashes(tokens, n, page);
    int64_t shared = 0;
    while (shared < static_cast<int64_t>(hashes.size()) && written.count(hashes[shared])) ++shared;
    shared *= page;
    w.put<uint64_t>(static_cast<uint64_t>(n));
    w.put<uint64_t>(static_cast<uint64_t>(shared));
    w.put(tokens.data(), tokens.size() * sizeof(int32_t));
    for (int64_t pos = shared; pos < n; ++pos)
      for (int64_t l = 0; l < layers; ++l) w.put(cache.row_data(l, seq, pos), row_bytes);
    written.insert(hashes.begin(), hashes.end());
    ++rep.entries;
    rep.tokens += n;
  });
  rep.bytes = w.commit();
  return rep;
}

PrefixFileReport load_prefix_cache(PrefixCache& prefix, LatentKvCache& cache, uint64_t fingerprint,
                                   const std::string& path) {
  PrefixFileReport rep;
  if (!file_exists(path)) {
    rep.skipped = "no file yet";
    return rep;
  }
  try {
    const MappedFile f(path);
    rep.bytes = f.size();
    if (f.size() < sizeof kMagic + 8 || std::memcmp(f.data(), kMagic, sizeof kMagic) != 0)
      fail("not a dsinfer prefix-cache file");
    WordHash h;
    h.update(f.data(), f.size() - 8);
    uint64_t stored;
    std::memcpy(&stored, f.data() + f.size() - 8, 8);
    if (h.digest() != stored) fail("damaged or truncated (its checksum does not match)");
    ByteReader r(f.data(), f.size() - 8);
    r.take(sizeof kMagic, "magic");
    if (r.read<uint64_t>("fingerprint") != fingerprint)
      fail("written for another model, KV dtype or dsinfer build");
    const int64_t page = cache.page_tokens(), layers = cache.n_layers();
    const uint64_t f_layers = r.read<uint64_t>("layers"), f_latent = r.read<uint64_t>("latent_dim"),
                   f_page = r.read<uint64_t>("page_tokens");
    const uint32_t f_elem = r.read<uint32_t>("value bytes"), f_dtype = r.read<uint32_t>("dtype");
    if (f_layers != static_cast<uint64_t>(layers) || f_latent != static_cast<uint64_t>(cache.latent_dim()) ||
        f_page != static_cast<uint64_t>(page) || f_elem != dtype_block_bytes(cache.dtype()) || f_dtype != dtype_code(cache.dtype()))
      fail("written for another cache layout (layers ", f_layers, ", page ", f_page, " tokens, ", f_elem,
           "-byte values; this server: ", layers, ", ", page, ", ", dtype_block_bytes(cache.dtype()), ")");
    const size_t row_bytes = static_cast<size_t>(cache.latent_dim()) * f_elem;
    const uint64_t n_entries = r.read<uint64_t>("entry count");
    for (uint64_t e = 0; e < n_entries; ++e) {
      const uint64_t n = r.read<uint64_t>("entry tokens"), shared = r.read<uint64_t>("entry shared tokens");
      if (n == 0 || n % page != 0 || shared % page != 0 || shared > n || n > r.remaining() / sizeof(int32_t))
        fail("entry ", e, ": ", n, " tokens with ", shared, " shared do not fit its page size or the file");
      std::vector<int32_t> tokens(n);
      std::memcpy(tokens.data(), r.take(n * sizeof(int32_t), "entry tokens"), n * sizeof(int32_t));
      const uint64_t rows = (n - shared) * static_cast<uint64_t>(layers);
      if (rows > r.remaining() / row_bytes) fail("entry ", e, ": its rows run past the end of the file");
      const uint8_t* data = r.take(rows * row_bytes, "entry rows");
      const int64_t ni = static_cast<int64_t>(n), si = static_cast<int64_t>(shared);
      PrefixCache::Match m;
      if (si > 0) {
        m = prefix.lookup(tokens, si);
        if (m.tokens != si) {
          rep.skipped = cat("entry ", e, ": the prefix it shares with an earlier entry was not kept; the rest was not read");
          return rep;
        }
      }
      const int seq = si > 0 ? cache.fork_prefix(m.seq, si) : cache.create_sequence();
      if (!cache.reserve(seq, ni)) {
        cache.free_sequence(seq);
        rep.skipped = cat("the KV budget is full after ", rep.entries, " of ", n_entries, " entries");
        return rep;
      }
      for (int64_t pos = si; pos < ni; ++pos)
        for (int64_t l = 0; l < layers; ++l, data += row_bytes) std::memcpy(cache.row_data(l, seq, pos), data, row_bytes);
      prefix.insert(seq, tokens, ni);
      cache.free_sequence(seq);
      ++rep.entries;
      rep.tokens += ni;
    }
    if (r.remaining() != 0) fail(r.remaining(), " bytes after the last entry");
  } catch (const Error& e) {
    rep.skipped = cat(path, ": ", e.what());
  }
  return rep;
}

}  // namespace dsinfer
