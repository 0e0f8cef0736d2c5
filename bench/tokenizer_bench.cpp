// Single-thread encode throughput of the DeepSeek-V3 tokenizer on a large mixed text. Compare with
// bench/tokenizer_hf.py, which builds the same text and encodes it with Hugging Face tokenizers.
//
// The text: the golden corpus texts (tests/tokenizer/golden/deepseek_v3_corpus.json: many scripts, emoji,
// code, odd whitespace) joined by "\n", then every .h/.cpp/.md/.py file under src/, docs/, tools/ in
// sorted path order joined by "\n", the whole repeated until it is at least 8 MiB.
//
//   cmake -B build-bench -DDSINFER_BUILD_BENCH=ON && ninja -C build-bench tokenizer_bench
//   build-bench/bin/tokenizer_bench
// For the same bytes as the Python side while files change:
//   python bench/tokenizer_hf.py --dump /tmp/t.txt && DSINFER_BENCH_TEXT=/tmp/t.txt build-bench/bin/tokenizer_bench

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "util/mapped_file.h"

namespace {

namespace fs = std::filesystem;
const std::string kRoot = DSINFER_SOURCE_DIR;

std::string bench_text() {
  // The exact text tokenizer_hf.py --dump wrote, so both encode the same bytes while src/ changes.
  if (const char* path = std::getenv("DSINFER_BENCH_TEXT")) return dsinfer::read_text_file(path);
  std::string unit;
  auto corpus = nlohmann::json::parse(dsinfer::read_text_file(kRoot + "/tests/tokenizer/golden/deepseek_v3_corpus.json"));
  for (const auto& c : corpus["cases"]) unit += c["text"].get<std::string>() + "\n";
  std::vector<std::string> files;
  for (const char* dir : {"src", "docs", "tools"}) {
    if (!fs::exists(kRoot + "/" + dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(kRoot + "/" + dir)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".h" || ext == ".cpp" || ext == ".md" || ext == ".py"))
        files.push_back(fs::relative(e.path(), kRoot).generic_string());
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) unit += dsinfer::read_text_file(kRoot + "/" + f) + "\n";
  std::string text;
  while (text.size() < (8u << 20)) text += unit;
  return text;
}

const dsinfer::Tokenizer& v3() {
  static const auto tok = dsinfer::load_tokenizer(kRoot + "/assets/tokenizers/deepseek-v3/tokenizer.json");
  return *tok;
}

// Pieces of at most 4 KiB cut after a newline, as a server sees prompts (tokenizer_hf.py cuts the same).
std::vector<std::string> chunks(const std::string& text, size_t size = 4096) {
  std::vector<std::string> out;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(start + size, text.size());
    if (end < text.size()) {
      size_t nl = text.rfind('\n', end - 1);
      if (nl != std::string::npos && nl >= start) end = nl + 1;
    }
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

void BM_EncodeChunks(benchmark::State& state) {
  static const std::string text = bench_text();
  static const std::vector<std::string> pieces = chunks(text);
  size_t n_tokens = 0;
  for (auto _ : state) {
    n_tokens = 0;
    for (const std::string& p : pieces) n_tokens += v3().encode(p, {.add_bos = false}).size();
    benchmark::DoNotOptimize(n_tokens);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
  state.counters["text_bytes"] = double(text.size());
  state.counters["tokens"] = double(n_tokens);
  std::printf("chunks: %zu tokens\n", n_tokens);
}
BENCHMARK(BM_EncodeChunks)->Unit(benchmark::kMillisecond)->MinTime(3.0);

void BM_EncodeMixed(benchmark::State& state) {
  static const std::string text = bench_text();
  size_t n_tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = v3().encode(text, {.add_bos = false});
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
  state.counters["text_bytes"] = double(text.size());
  state.counters["tokens"] = double(n_tokens);
  std::printf("whole text: %zu tokens\n", n_tokens);
}
BENCHMARK(BM_EncodeMixed)->Unit(benchmark::kMillisecond)->MinTime(3.0);

// Decode (ids -> bytes) of the same text.
void BM_DecodeMixed(benchmark::State& state) {
  static const std::string text = bench_text();
  static const std::vector<int32_t> ids = v3().encode(text, {.add_bos = false});
  for (auto _ : state) {
    std::string s = v3().decode(ids);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_DecodeMixed)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
