// The prefix cache on disk (runtime/prefix_cache_file.h): entries and their KV rows come back exactly,
// shared prefixes are stored once, and a file that does not fit (another model or layout, damaged,
// truncated, not ours, a smaller KV budget) is reported without corrupting or leaking the cache.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../model/test_models.h"
#include "runtime/prefix_cache_file.h"

namespace dsinfer {
namespace {

constexpr int64_t kLayers = 3, kLatent = 8, kPage = 4;

float value_of(int32_t token, int64_t pos, int64_t layer, int64_t i) {
  return static_cast<float>(token) * 0.25f + static_cast<float>(pos) * 0.01f + static_cast<float>(layer) + 0.001f * static_cast<float>(i);
}

// Inserts an entry whose rows are value_of(...): the first `shared` tokens forked from what the cache holds.
void add_entry(PrefixCache& prefix, LatentKvCache& cache, const std::vector<int32_t>& tokens) {
  const PrefixCache::Match m = prefix.lookup(tokens, static_cast<int64_t>(tokens.size()));
  const int seq = m.seq >= 0 ? cache.fork_prefix(m.seq, m.tokens) : cache.create_sequence();
  ASSERT_TRUE(cache.reserve(seq, static_cast<int64_t>(tokens.size())));
  std::vector<float> row(kLatent);
  for (int64_t pos = m.tokens; pos < static_cast<int64_t>(tokens.size()); ++pos)
    for (int64_t l = 0; l < kLayers; ++l) {
      for (int64_t i = 0; i < kLatent; ++i) row[i] = value_of(tokens[pos], pos, l, i);
      cache.write_row(l, seq, pos, row.data());
    }
  prefix.insert(seq, tokens, static_cast<int64_t>(tokens.size()));
  cache.free_sequence(seq);
}

const std::vector<int32_t> kA = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
const std::vector<int32_t> kB = {1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22, 23, 24, 25, 26, 27};  // 2 pages of A
const std::vector<int32_t> kC = {30, 31, 32, 33, 34, 35, 36, 37};

struct Cache {
  explicit Cache(int64_t pages = 32, DType dt = DType::F32, int64_t page = kPage)
      : cache(kLayers, kLatent, page, pages, dt), prefix(cache) {}
  LatentKvCache cache;
  PrefixCache prefix;
};

std::string written(DType dt = DType::F32) {
  const std::string path = testing::temp_dir() + "/prefix-" + dtype_name(dt) + ".bin";
  Cache c(32, dt);
  add_entry(c.prefix, c.cache, kA);
  add_entry(c.prefix, c.cache, kB);
  add_entry(c.prefix, c.cache, kC);
  const PrefixFileReport r = save_prefix_cache(c.prefix, c.cache, 7, path);
  EXPECT_EQ(r.entries, 3);
  // Header 56 bytes; per entry 16 + 4 n + (n - shared) rows of kLayers x kLatent values; hash 8.
  const size_t v = dtype_block_bytes(dt);
  const size_t want = 56 + (16 + 48 + 12 * kLayers * kLatent * v) + (16 + 64 + 8 * kLayers * kLatent * v) +
                      (16 + 32 + 8 * kLayers * kLatent * v) + 8;
  EXPECT_EQ(r.bytes, want);  // B's first 8 tokens (A's pages) are not stored again
  EXPECT_EQ(std::filesystem::file_size(path), want);
  return path;
}

void expect_rows(Cache& c, const std::vector<int32_t>& tokens, DType dt) {
  const PrefixCache::Match m = c.prefix.lookup(tokens, static_cast<int64_t>(tokens.size()));
  ASSERT_EQ(m.tokens, static_cast<int64_t>(tokens.size()));
  std::vector<float> row(kLatent);
  for (int64_t pos = 0; pos < m.tokens; ++pos)
    for (int64_t l = 0; l < kLayers; ++l) {
      c.cache.read_row(l, m.seq, pos, row.data());
      for (int64_t i = 0; i < kLatent; ++i) {
        const float want = value_of(tokens[pos], pos, l, i);
        if (dt == DType::F32) ASSERT_EQ(row[i], want) << pos << " " << l << " " << i;
        else ASSERT_NEAR(row[i], want, 2e-3f * std::fabs(want));
      }
    }
}

TEST(PrefixCacheFile, EntriesAndRowsComeBackExactly) {
  for (DType dt : {DType::F32, DType::F16}) {
    const std::string path = written(dt);
    Cache c(32, dt);
    const PrefixFileReport r = load_prefix_cache(c.prefix, c.cache, 7, path);
    EXPECT_EQ(r.skipped, "");
    EXPECT_EQ(r.entries, 3);
    EXPECT_EQ(r.tokens, 12 + 16 + 8);
    EXPECT_EQ(c.prefix.entries(), 3);
    expect_rows(c, kA, dt);
    expect_rows(c, kB, dt);
    expect_rows(c, kC, dt);
    c.prefix.clear();
    EXPECT_EQ(c.cache.free_pages(), c.cache.total_pages());
  }
}

TEST(PrefixCacheFile, AFileThatDoesNotFitIsReportedAndChangesNothing) {
  const std::string path = written();
  const std::string bad = testing::temp_dir() + "/prefix-bad.bin";
  auto bytes_of = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto write = [&](const std::string& b) { std::ofstream(bad, std::ios::binary) << b; };
  const std::string good = bytes_of(path);
  auto skipped_reason = [&](Cache& c, uint64_t fingerprint) {
    const PrefixFileReport r = load_prefix_cache(c.prefix, c.cache, fingerprint, bad);
    EXPECT_EQ(r.entries, 0);
    EXPECT_EQ(c.prefix.entries(), 0);
    EXPECT_EQ(c.cache.free_pages(), c.cache.total_pages());
    EXPECT_EQ(c.cache.live_sequences(), 0);
    return r.skipped;
  };
  Cache c;
  write(good.substr(0, good.size() / 2));
  EXPECT_NE(skipped_reason(c, 7).find("damaged or truncated"), std::string::npos);
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x10;
  write(flipped);
  EXPECT_NE(skipped_reason(c, 7).find("damaged or truncated"), std::string::npos);
  write(std::string(200, 'x'));
  EXPECT_NE(skipped_reason(c, 7).find("not a dsinfer prefix-cache file"), std::string::npos);
  write("");
  EXPECT_NE(skipped_reason(c, 7).find("not a dsinfer prefix-cache file"), std::string::npos);
  write(good);
  EXPECT_NE(skipped_reason(c, 8).find("another model"), std::string::npos);
  Cache other_page(32, DType::F32, 8);
  EXPECT_NE(skipped_reason(other_page, 7).find("another cache layout"), std::string::npos);
  Cache f16(32, DType::F16);
  EXPECT_NE(skipped_reason(f16, 7).find("another cache layout"), std::string::npos);
  std::filesystem::remove(bad);
  EXPECT_EQ(skipped_reason(c, 7), "no file yet");
}

// A smaller KV budget keeps the entries that fit, in order, and says where it stopped.
TEST(PrefixCacheFile, ASmallerBudgetKeepsWhatFits) {
  const std::string path = written();
  Cache c(5);  // A takes 3 pages, B 2 more (sharing 2 of A's): C does not fit
  const PrefixFileReport r = load_prefix_cache(c.prefix, c.cache, 7, path);
  EXPECT_EQ(r.entries, 2);
  EXPECT_NE(r.skipped.find("the KV budget is full after 2 of 3 entries"), std::string::npos) << r.skipped;
  expect_rows(c, kA, DType::F32);
  expect_rows(c, kB, DType::F32);
  EXPECT_EQ(c.cache.live_sequences(), c.prefix.entries());
  c.prefix.clear();
  EXPECT_EQ(c.cache.free_pages(), c.cache.total_pages());
}

TEST(PrefixCacheFile, AnUnwritablePathIsAnError) {
  Cache c;
  EXPECT_THROW(save_prefix_cache(c.prefix, c.cache, 7, "/nonexistent-dir/prefix.bin"), Error);
  EXPECT_FALSE(std::filesystem::exists("/nonexistent-dir/prefix.bin.tmp"));
}

}  // namespace
}  // namespace dsinfer
