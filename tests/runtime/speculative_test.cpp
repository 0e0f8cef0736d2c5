// Speculative decoding (runtime/generator.cpp with runtime/drafter.h): with greedy sampling the tokens are
// exactly those of plain decoding, whatever the drafter proposes — the MTP module of the transformers-made
// golden model, the same module in a quantized and repacked GGUF, prompt lookup — and the accept path
// really runs (drafts are accepted, two tokens a step).

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "../model/test_models.h"
#include "model/sequence.h"
#include "runtime/drafter.h"
#include "runtime/generator.h"

namespace dsinfer {
namespace {

using namespace dsinfer::testing;

struct Outcome {
  std::vector<int32_t> tokens;
  GenerateStats stats;
};

enum class Draft { kNone, kMtp, kLookup };

Outcome run(const LoadedModel& m, const std::vector<int32_t>& prompt, int64_t max_new, Draft draft,
        SamplingParams sp = {}, std::vector<int32_t> stop = {}) {
  ThreadPool pool(2);
  Transformer tf(m.config, m.weights, pool);
  const bool mtp = draft == Draft::kMtp;
  LatentKvCache cache =
      make_single_sequence_cache(m.config, static_cast<int64_t>(prompt.size()) + max_new, DType::F32, mtp);
  std::optional<MtpDrafter> mtp_drafter;
  if (mtp) mtp_drafter.emplace(tf, cache);
  LookupDrafter lookup;
  GenerateOptions o;
  o.max_new_tokens = max_new;
  o.sampling = sp;
  o.stop_tokens = stop;
  o.prefill_chunk = 7;  // several chunks: the module's prompt rows come chunk by chunk
  o.drafter = mtp ? static_cast<Drafter*>(&*mtp_drafter) : draft == Draft::kLookup ? &lookup : nullptr;
  Outcome r;
  r.stats = generate(tf, cache, prompt, o, [&](int32_t id) {
    r.tokens.push_back(id);
    return true;
  });
  EXPECT_EQ(cache.live_sequences(), 0);
  return r;
}

std::unique_ptr<LoadedModel> load_with_mtp(const std::string& path, bool repack = false) {
  LoadOptions o;
  o.mtp = true;
  o.repack = repack;
  return load_model(path, o);
}

void expect_same_as_plain(const LoadedModel& m, const std::vector<int32_t>& prompt, int64_t max_new, Draft d,
                          const char* what) {
  const Outcome plain = run(m, prompt, max_new, Draft::kNone);
  const Outcome spec = run(m, prompt, max_new, d);
  EXPECT_EQ(spec.tokens, plain.tokens) << what;
  EXPECT_EQ(static_cast<int64_t>(spec.tokens.size()), max_new) << what;
  EXPECT_EQ(spec.stats.generated_tokens, max_new);
  EXPECT_GT(spec.stats.drafted, 0) << what;
  EXPECT_LE(spec.stats.accepted, spec.stats.drafted);
  std::printf("  %s: %lld of %lld drafts accepted\n", what, static_cast<long long>(spec.stats.accepted),
              static_cast<long long>(spec.stats.drafted));
}

TEST(Speculative, MtpDraftsNeverChangeGreedyOutput) {
  auto golden = load_with_mtp(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3-mtp");
  expect_same_as_plain(*golden, test_ids(7, 256), 240, Draft::kMtp, "golden tiny-v3 + MTP, f32");

  ModelConfig c = preset_config("tiny-v3");
  c.num_nextn_predict_layers = 1;
  SynthOptions so;
  so.dtype = DType::Q8_0;
  so.seed = 5;
  so.threads = 2;
  const std::string path = temp_dir() + "/spec-mtp-q8.gguf";
  synth_model(c, so, path);
  auto q8 = load_with_mtp(path, true);
  expect_same_as_plain(*q8, test_ids(9, 256), 200, Draft::kMtp, "synthesized tiny-v3 + MTP, q8_0 repacked");
}

TEST(Speculative, AcceptedDraftsYieldTwoTokensAStep) {
  // A random model's greedy text falls into loops, which prompt lookup predicts: most of its drafts are
  // accepted (30 of 43 when written), so the two-token path produces a good part of the output here.
  auto m = load_model(synth("tiny-v3", "spec-tiny-v3.gguf", DType::F32));
  const Outcome plain = run(*m, test_ids(6, 256), 250, Draft::kNone);
  const Outcome spec = run(*m, test_ids(6, 256), 250, Draft::kLookup);
  EXPECT_EQ(spec.tokens, plain.tokens);
  std::printf("  lookup: %lld of %lld drafts accepted\n", static_cast<long long>(spec.stats.accepted),
              static_cast<long long>(spec.stats.drafted));
  EXPECT_GE(spec.stats.accepted, 20);
  // Stops still end the answer at the first stop token, and max_new_tokens is exact.
  const int32_t stop = plain.tokens[40];
  const auto first = std::find(plain.tokens.begin(), plain.tokens.end(), stop) - plain.tokens.begin();
  const Outcome stopped = run(*m, test_ids(6, 256), 250, Draft::kLookup, {}, {stop});
  EXPECT_EQ(stopped.tokens, std::vector<int32_t>(plain.tokens.begin(), plain.tokens.begin() + first + 1));
  for (int64_t n : {1, 2, 3, 17}) EXPECT_EQ(run(*m, test_ids(6, 256), n, Draft::kLookup).tokens.size(), size_t(n));
}

TEST(Speculative, SampledGenerationRunsAndRespectsTheSeed) {
  auto golden = load_with_mtp(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3-mtp");
  SamplingParams sp;
  sp.temperature = 0.7f;
  sp.top_p = 0.9f;
  sp.seed = 3;
  const Outcome a = run(*golden, test_ids(7, 256), 100, Draft::kMtp, sp);
  const Outcome b = run(*golden, test_ids(7, 256), 100, Draft::kMtp, sp);
  EXPECT_EQ(a.tokens, b.tokens);  // the same seed, the same draws
  EXPECT_EQ(a.tokens.size(), 100u);
  EXPECT_GT(a.stats.drafted, 0);
}

TEST(Speculative, MtpDrafterNeedsTheModuleAndItsCacheLayer) {
  auto plain = load_model(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3-mtp");
  ThreadPool pool(1);
  Transformer tf(plain->config, plain->weights, pool);
  LatentKvCache cache = make_single_sequence_cache(plain->config, 16, DType::F32, true);
  EXPECT_THROW(MtpDrafter(tf, cache), Error);  // loaded without LoadOptions::mtp
  auto with = load_with_mtp(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3-mtp");
  Transformer tf2(with->config, with->weights, pool);
  LatentKvCache small = make_single_sequence_cache(with->config, 16);
  EXPECT_THROW(MtpDrafter(tf2, small), Error);  // cache without the module's layer
}

}  // namespace
}  // namespace dsinfer
