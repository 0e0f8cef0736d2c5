#pragma once
// Helpers for model tests: synthesized models in a per-process temp directory, and logit comparisons.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <string>
#include <vector>

#include "model/loader.h"
#include "model/presets.h"
#include "model/synth.h"
#include "model/transformer.h"
#include "model/sequence.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer::testing {

// A per-process directory, removed when the test program exits.
inline std::string temp_dir() {
  struct Dir {
    std::string path;
    Dir() {
      auto d = std::filesystem::temp_directory_path() / cat("dsinfer_model_test_", ::getpid());
      std::filesystem::create_directories(d);
      path = d.string();
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Synthesizes (once per process) preset `preset` as `name` (.gguf → GGUF, else HF directory).
inline std::string synth(const std::string& preset, const std::string& name, DType dtype, uint64_t seed = 7) {
  const std::string path = temp_dir() + "/" + name;
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.dtype = dtype;
    o.seed = seed;
    o.threads = 2;
    synth_model(preset_config(preset), o, path);
  }
  return path;
}

// Synthesizes with full options (seed 7 unless set).
inline std::string synth_with(const std::string& preset, const std::string& name, SynthOptions o) {
  const std::string path = temp_dir() + "/" + name;
  if (!std::filesystem::exists(path)) synth_model(preset_config(preset), o, path);
  return path;
}

inline std::vector<float> logits_of(const LoadedModel& m, const std::vector<int32_t>& ids,
                                    AttentionForm form = AttentionForm::kAbsorbed) {
  ThreadPool pool(2);
  Transformer tf(m.config, m.weights, pool);
  tf.set_attention_form(form);
  LatentKvCache cache = make_single_sequence_cache(m.config, static_cast<int64_t>(ids.size()));
  return all_logits(tf, cache, ids, 5);  // odd chunking on purpose: chunked prefill must not matter
}

// A golden fixture's float32 little-endian values.
inline std::vector<float> read_floats(const std::string& path) {
  const std::string bytes = read_text_file(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

inline float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// max |a - b| (infinite when the sizes differ).
inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

inline float rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  return max_abs_diff(a, b) / max_abs(b);
}

inline std::vector<int32_t> test_ids(int n, int vocab) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((i * 37 + 11) % vocab);
  return ids;
}

// Greedy continuation of a 5-token prompt with the current matmul path; *min_gap (if given) gets the
// smallest top-1/top-2 logit gap seen on the way.
// The message of the dsinfer::Error f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline std::vector<int32_t> greedy(const LoadedModel& m, int64_t n_new, float* min_gap = nullptr) {
  ThreadPool pool(2);
  Transformer tf(m.config, m.weights, pool);
  const std::vector<int32_t> prompt = test_ids(5, static_cast<int>(m.config.vocab_size));
  LatentKvCache cache = make_single_sequence_cache(m.config, 5 + n_new);
  const int seq = cache.create_sequence();
  if (!cache.reserve(seq, 5 + n_new)) fail("cache");
  std::vector<float> logits = prefill_sequence(tf, cache, seq, prompt, 0, 5, false);
  std::vector<int32_t> out;
  if (min_gap) *min_gap = INFINITY;
  for (int64_t i = 0; i < n_new; ++i) {
    if (min_gap) {
      std::vector<float> sorted = logits;
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      *min_gap = std::min(*min_gap, sorted[0] - sorted[1]);
    }
    const auto tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(tok);
    Batch b;
    b.add(tok, 5 + i, seq, true);
    logits = tf.forward(b, cache);
  }
  return out;
}

}  // namespace dsinfer::testing
