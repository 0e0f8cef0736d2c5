// Speculative decoding (runtime/generator.cpp with runtime/drafter.h): with greedy sampling the tokens are
// exactly those of plain decoding, whatever the drafter proposes — the MTP module of the transformers-made
// golden model, the same module in a quantized and repacked GGUF, prompt lookup — and the accept path
// really runs (drafts are accepted, two tokens a step).

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "../model/test_models.h"
#include "model/sequence.h"
#include "runtime/drafter.h"
#include "runtime/generator.h"
#include "runtime/scheduler.h"

namespace dsinfer {
namespace {

using namespace dsinfer::testing;
using namespace std::chrono_literals;

struct Outcome {
  std::vector<int32_t> tokens;
  GenerateStats stats;
};

enum class Draft { kNone, kMtp, kLookup };

Outcome run(const LoadedModel& m, const std::vector<int32_t>& prompt, int64_t max_new, Draft draft,
        SamplingParams sp = {}, std::vector<int32_t> stop = {}, double min_acceptance = 0.0,
        int64_t draft_max_tokens = 1) {
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
  o.draft_min_acceptance = min_acceptance;
  o.draft_max_tokens = draft_max_tokens;
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

// One request alone in the server's engine (prompt read in 7-token chunks): its tokens, and the engine's
// draft counters.
struct EngineRun {
  std::vector<int32_t> tokens;
  SchedulerMetrics metrics;
};
EngineRun engine_alone(const LoadedModel& m, const std::vector<int32_t>& prompt, int64_t max_tokens,
                       SchedulerOptions o) {
  ThreadPool pool(2);
  Transformer tf(m.config, m.weights, pool);
  o.max_context = static_cast<int64_t>(prompt.size()) + max_tokens;
  o.prefill_chunk = 7;
  Scheduler sched(tf, o);
  GenerationRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  SubmitResult res = sched.submit(std::move(r));
  EXPECT_EQ(res.status, SubmitStatus::kOk) << res.message;
  EngineRun out;
  RequestStream::Event ev;
  while (res.stream && res.stream->next(ev, 60s) && !ev.finished) out.tokens.push_back(ev.token);
  out.metrics = sched.metrics();
  return out;
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

// Prompt lookup drafts several tokens (the continuation of the matched text): on the looping model whole
// runs of them are accepted — more tokens a step — and the output is still plain decoding's. One stream in
// the engine verifies and accepts exactly what generate() does.
TEST(Speculative, LongerDraftsAcceptRunsOfTokens) {
  auto m = load_model(synth("tiny-v3", "spec-tiny-v3.gguf", DType::F32));
  const std::vector<int32_t> prompt = test_ids(6, 256);
  const Outcome plain = run(*m, prompt, 250, Draft::kNone);
  const Outcome one = run(*m, prompt, 250, Draft::kLookup);
  for (int64_t k : {2, 4, 8}) {
    const Outcome longer = run(*m, prompt, 250, Draft::kLookup, {}, {}, 0.0, k);
    EXPECT_EQ(longer.tokens, plain.tokens) << k;
    std::printf("  lookup, drafts of up to %lld: %lld of %lld accepted (1 token: %lld)\n", static_cast<long long>(k),
                static_cast<long long>(longer.stats.accepted), static_cast<long long>(longer.stats.drafted),
                static_cast<long long>(one.stats.accepted));
    EXPECT_GT(longer.stats.accepted, one.stats.accepted) << k;
    for (int64_t n : {1, 2, 3, 9}) EXPECT_EQ(run(*m, prompt, n, Draft::kLookup, {}, {}, 0.0, k).tokens.size(), size_t(n));

    SchedulerOptions o;
    o.draft = DraftMode::kLookup;
    o.draft_max_tokens = k;
    const EngineRun e = engine_alone(*m, prompt, 250, o);
    EXPECT_EQ(e.tokens, plain.tokens) << k;
    EXPECT_EQ(e.metrics.drafted, longer.stats.drafted) << k;
    EXPECT_EQ(e.metrics.draft_accepted, longer.stats.accepted) << k;
  }
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

TEST(Speculative, DraftGatePausesOnMissesAndResumesOnHits) {
  DraftGate always;
  for (int i = 0; i < 50; ++i) always.record(false);
  EXPECT_TRUE(always.open());  // min 0: never closes
  DraftGate g(0.5);
  EXPECT_TRUE(g.open());
  int misses = 0;
  while (g.open()) {
    g.record(false);
    ++misses;
  }
  EXPECT_EQ(misses, 7);  // 0.9^7 < 0.5 <= 0.9^6
  int hits = 0;
  while (!g.open()) {
    g.record(true);
    ++hits;
  }
  EXPECT_LE(hits, 2);
  EXPECT_GE(g.rate(), 0.5);
}

// Lookup drafting on a looping model with the gate at 0.5: the loop's hits keep it open; the output
// stays that of plain decoding.
TEST(Speculative, GatedDraftingKeepsTheOutput) {
  auto m = load_model(synth("tiny-v3", "spec-tiny-v3.gguf", DType::F32));
  const Outcome plain = run(*m, test_ids(6, 256), 250, Draft::kNone);
  const Outcome gated = run(*m, test_ids(6, 256), 250, Draft::kLookup, {}, {}, 0.5);
  EXPECT_EQ(gated.tokens, plain.tokens);
  EXPECT_GE(gated.stats.accepted, 20);
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

// The server's engine with drafting: concurrent greedy streams, prompts read in chunks between other
// streams' steps, prefix reuse — each stream's tokens are those it gets alone without drafting.
void scheduler_streams_equal_plain(const LoadedModel& m, DraftMode mode, int64_t draft_max, const char* what,
                                   int64_t draft_max_tokens = 1) {
  std::vector<std::vector<int32_t>> prompts, want;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> p = test_ids(4 + 9 * (i % 3), 256);
    p.push_back(i * 13 % 256);
    prompts.push_back(p);
    want.push_back(run(m, p, 30 + 7 * i, Draft::kNone).tokens);
  }
  prompts.push_back(prompts[2]);  // the same prompt again: its pages come from the prefix cache
  want.push_back(want[2]);
  ThreadPool pool(2);
  Transformer tf(m.config, m.weights, pool);
  SchedulerOptions o;
  o.max_sequences = 4;
  o.max_context = 128;
  o.page_tokens = 8;
  o.prefill_chunk = 13;
  o.draft = mode;
  o.draft_max_sequences = draft_max;
  o.draft_max_tokens = draft_max_tokens;
  Scheduler sched(tf, o);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationRequest r;
    r.prompt = prompts[i];
    r.max_tokens = static_cast<int64_t>(want[i].size());
    SubmitResult res = sched.submit(std::move(r));
    ASSERT_EQ(res.status, SubmitStatus::kOk) << res.message;
    streams.push_back(res.stream);
    if (i == 5)  // the repeat comes once the original has finished and been cached
      while (!streams[2]->finished()) std::this_thread::sleep_for(2ms);
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    std::vector<int32_t> got;
    RequestStream::Event ev;
    while (streams[i]->next(ev, 60s) && !ev.finished) got.push_back(ev.token);
    EXPECT_EQ(got, want[i]) << what << ", stream " << i;
    EXPECT_EQ(ev.reason, FinishReason::kLength) << what;
  }
  EXPECT_GT(streams.back()->stats().cached_tokens, 0) << what;
  const SchedulerMetrics mt = sched.metrics();
  std::printf("  %s: %lld of %lld drafts accepted over %lld steps\n", what, static_cast<long long>(mt.draft_accepted),
              static_cast<long long>(mt.drafted), static_cast<long long>(mt.steps));
  EXPECT_GT(mt.drafted, 0) << what;
  sched.clear_prefix_cache();
  EXPECT_EQ(sched.metrics().kv_pages_free, sched.metrics().kv_pages_total);
}

TEST(Speculative, SchedulerWithMtpDraftsMatchesPlainStreams) {
  auto golden = load_with_mtp(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3-mtp");
  scheduler_streams_equal_plain(*golden, DraftMode::kMtp, 8, "mtp, every step drafts");
  scheduler_streams_equal_plain(*golden, DraftMode::kMtp, 1, "mtp, drafts only when one sequence decodes");
}

// One stream alone in the engine drafts what generate() drafts: the same verified drafts, the same ones
// accepted (the module's rows and hidden states are mapped alike in both, and the gate decides alike).
TEST(Speculative, SchedulerDraftsAsGenerateDoes) {
  auto golden = load_with_mtp(std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3-mtp");
  int64_t total_accepted = 0;
  for (int salt = 0; salt < 8; ++salt) {
    std::vector<int32_t> prompt = test_ids(5 + salt % 4 * 11, 256);
    prompt.push_back(salt * 29 % 256);
    const double min_acceptance = salt < 4 ? 0.0 : 0.5;
    const Outcome ref = run(*golden, prompt, 100, Draft::kMtp, {}, {}, min_acceptance);
    if (min_acceptance > 0) {
      EXPECT_LT(ref.stats.drafted, 30);  // the random module's misses close the gate
    }
    SchedulerOptions o;
    o.draft = DraftMode::kMtp;
    o.draft_min_acceptance = min_acceptance;
    const EngineRun e = engine_alone(*golden, prompt, 100, o);
    EXPECT_EQ(e.tokens, ref.tokens);
    EXPECT_EQ(e.metrics.drafted, ref.stats.drafted) << "prompt " << salt;
    EXPECT_EQ(e.metrics.draft_accepted, ref.stats.accepted) << "prompt " << salt;
    total_accepted += ref.stats.accepted;
  }
  std::printf("  %lld drafts accepted in all\n", static_cast<long long>(total_accepted));
}

TEST(Speculative, SchedulerWithLookupDraftsMatchesPlainStreams) {
  auto m = load_model(synth("tiny-v3", "spec-tiny-v3.gguf", DType::F32));
  scheduler_streams_equal_plain(*m, DraftMode::kLookup, 8, "lookup");
  scheduler_streams_equal_plain(*m, DraftMode::kLookup, 8, "lookup, drafts of up to 5 tokens", 5);
  ThreadPool pool(1);
  Transformer tf(m->config, m->weights, pool);
  SchedulerOptions o;
  o.draft = DraftMode::kMtp;
  EXPECT_THROW(Scheduler(tf, o), Error);  // no MTP module loaded
}

}  // namespace
}  // namespace dsinfer
