// Continuous batching on the tiny random-weight model: batched streams equal each stream alone (the
// single-sequence generate() is the reference), cancellation and finishing free the KV pages, a full queue
// refuses cleanly, and prefix reuse changes nothing but the work done.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <numeric>
#include <thread>

#include "../model/test_models.h"
#include "model/sequence.h"
#include "runtime/generator.h"
#include "runtime/scheduler.h"

namespace dsinfer {
namespace {

using namespace std::chrono_literals;
using namespace dsinfer::testing;

// The reference runs (alone) and the scheduler's engine share one Transformer and ThreadPool, which
// serve one caller at a time: references are computed before submitting.
struct Tiny {
  Tiny(DType dt, bool repack)
      : model(load_model(synth("tiny-v3", cat("tiny-v3-", dtype_name(dt), ".gguf"), dt), options(repack))),
        tf(model->config, model->weights, pool) {}
  static LoadOptions options(bool repack) {
    LoadOptions o;
    o.repack = repack;
    return o;
  }
  std::unique_ptr<LoadedModel> model;
  ThreadPool pool{2};
  Transformer tf;
};

// The model the tests run on (F32, file layout, unless a test switches it).
DType g_dtype = DType::F32;
bool g_repack = false;

Tiny& tiny() {
  static std::map<std::pair<DType, bool>, std::unique_ptr<Tiny>> models;
  auto& t = models[{g_dtype, g_repack}];
  if (!t) t = std::make_unique<Tiny>(g_dtype, g_repack);
  return *t;
}

std::vector<int32_t> prompt_of(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((i * 31 + salt * 17 + 3) % 256);
  return ids;
}

std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int64_t max_tokens, SamplingParams sp = {}) {
  Tiny& t = tiny();
  LatentKvCache cache = make_single_sequence_cache(t.model->config, static_cast<int64_t>(prompt.size()) + max_tokens);
  GenerateOptions o;
  o.max_new_tokens = max_tokens;
  o.sampling = sp;
  std::vector<int32_t> out;
  generate(t.tf, cache, prompt, o, [&](int32_t id) {
    out.push_back(id);
    return true;
  });
  return out;
}

struct Collected {
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::kNone;
};

Collected collect(RequestStream& s) {
  Collected c;
  RequestStream::Event ev;
  for (;;) {
    if (!s.next(ev, 60s)) {
      ADD_FAILURE() << "no event within 60 s";
      return c;
    }
    if (ev.finished) break;
    c.tokens.push_back(ev.token);
  }
  c.reason = ev.reason;
  return c;
}

GenerationRequest request(std::vector<int32_t> prompt, int64_t max_tokens, SamplingParams sp = {}) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling = sp;
  return r;
}

// The finish event reaches the stream just before the engine updates its metrics.
void wait_until_idle(Scheduler& s) {
  for (int i = 0; i < 1000 && (s.metrics().running > 0 || s.metrics().queue_depth > 0); ++i) std::this_thread::sleep_for(5ms);
}

void expect_all_pages_free(Scheduler& s) {
  s.clear_prefix_cache();
  const SchedulerMetrics m = s.metrics();
  EXPECT_EQ(m.running, 0);
  EXPECT_EQ(m.queue_depth, 0);
  EXPECT_EQ(m.kv_sequences, 0);
  EXPECT_EQ(m.kv_pages_free, m.kv_pages_total);
}

void eight_concurrent_greedy_streams_equal_each_alone() {
  SchedulerOptions o;
  o.max_sequences = 8;
  o.max_context = 128;
  o.page_tokens = 8;
  o.prefill_chunk = 13;  // prompts are read over several steps, mixed with other streams' decoding
  Scheduler s(tiny().tf, o);
  std::vector<std::vector<int32_t>> prompts, want;
  for (int i = 0; i < 8; ++i) {
    prompts.push_back(prompt_of(5 + i * 7, i));
    want.push_back(alone(prompts.back(), 12 + i));
  }
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 8; ++i) {
    SubmitResult r = s.submit(request(prompts[i], 12 + i));
    ASSERT_EQ(r.status, SubmitStatus::kOk) << r.message;
    streams.push_back(r.stream);
  }
  for (int i = 0; i < 8; ++i) {
    const Collected c = collect(*streams[i]);
    EXPECT_EQ(c.tokens, want[i]) << "stream " << i;
    EXPECT_EQ(c.reason, FinishReason::kLength);
    const RequestStats st = streams[i]->stats();
    EXPECT_EQ(st.prompt_tokens, static_cast<int64_t>(prompts[i].size()));
    EXPECT_EQ(st.completion_tokens, 12 + i);
  }
  EXPECT_GT(s.metrics().generated_tokens, 0);
  expect_all_pages_free(s);
}

TEST(Scheduler, EightConcurrentGreedyStreamsEqualEachAlone) { eight_concurrent_greedy_streams_equal_each_alone(); }

// Quantized weights take other kernel paths for a batch than for one token; the results must still not
// depend on what else is in the batch.
TEST(Scheduler, EightConcurrentGreedyStreamsEqualEachAloneQ4_0) {
  g_dtype = DType::Q4_0;
  eight_concurrent_greedy_streams_equal_each_alone();
  g_dtype = DType::F32;
}

// The same with the weights repacked at load (R8 kernels), as dsinfer serve runs them.
TEST(Scheduler, EightConcurrentGreedyStreamsEqualEachAloneQ4_0Repacked) {
  g_dtype = DType::Q4_0;
  g_repack = true;
  ASSERT_GT(tiny().model->repack.tensors, 0);
  eight_concurrent_greedy_streams_equal_each_alone();
  g_dtype = DType::F32;
  g_repack = false;
}

TEST(Scheduler, SeededSamplingIsReproducibleInABatch) {
  SamplingParams sp;
  sp.temperature = 0.9f;
  sp.top_p = 0.95f;
  sp.seed = 1234;
  const auto p = prompt_of(11, 5);
  const auto want = alone(p, 16, sp);
  SchedulerOptions o;
  o.max_sequences = 4;
  o.max_context = 64;
  Scheduler s(tiny().tf, o);
  auto a = s.submit(request(p, 16, sp));
  auto b = s.submit(request(prompt_of(20, 9), 16));  // a greedy neighbour in the same batches
  auto c = s.submit(request(p, 16, sp));
  EXPECT_EQ(collect(*a.stream).tokens, want);
  collect(*b.stream);
  EXPECT_EQ(collect(*c.stream).tokens, want);
  sp.seed = 99;
  auto d = s.submit(request(p, 16, sp));
  EXPECT_NE(collect(*d.stream).tokens, want) << "another seed should give another sample";
}

// Log-probabilities ride with their tokens: in a batch with other streams they are those of the model's
// own logits for the sequence alone (all positions of prompt + answer in one forward pass), and they do
// not change the tokens.
TEST(Scheduler, LogprobsAreTheModelsOwnForEachToken) {
  const auto p = prompt_of(10, 4);
  const auto want = alone(p, 8);
  Tiny& t = tiny();
  std::vector<float> logits;  // [p + 8 positions][vocab]
  {
    LatentKvCache cache = make_single_sequence_cache(t.model->config, static_cast<int64_t>(p.size()) + 8);
    std::vector<int32_t> ids = p;
    ids.insert(ids.end(), want.begin(), want.end());
    logits = all_logits(t.tf, cache, ids);
  }
  const int64_t vocab = t.model->config.vocab_size;
  SchedulerOptions o;
  o.max_sequences = 4;
  o.max_context = 64;
  Scheduler s(t.tf, o);
  auto r = request(p, 8);
  r.top_logprobs = 3;
  auto with = s.submit(r);
  auto other = s.submit(request(prompt_of(15, 8), 8));  // a neighbour in the same batches, without
  ASSERT_EQ(with.status, SubmitStatus::kOk);
  RequestStream::Event ev;
  std::vector<int32_t> got;
  while (with.stream->next(ev, 60s) && !ev.finished) {
    got.push_back(ev.token);
    ASSERT_TRUE(ev.logprobs.has_value());
    const size_t k = got.size() - 1;
    const float* row = logits.data() + (p.size() - 1 + k) * vocab;
    const TokenLogprobs ref = token_logprobs(row, vocab, ev.token, 3);
    EXPECT_NEAR(ev.logprobs->logprob, ref.logprob, 1e-4) << "token " << k;
    ASSERT_EQ(ev.logprobs->top.size(), 3u);
    EXPECT_EQ(ev.logprobs->top[0].first, ev.token) << "greedy picks the most likely token";
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(ev.logprobs->top[i].first, ref.top[i].first);
      EXPECT_NEAR(ev.logprobs->top[i].second, ref.top[i].second, 1e-4);
    }
  }
  EXPECT_EQ(got, want);
  RequestStream::Event ev2;
  ASSERT_TRUE(other.stream->next(ev2, 60s));
  EXPECT_FALSE(ev2.logprobs.has_value()) << "only on request";
  collect(*other.stream);

  auto too_many = request(p, 4);
  too_many.top_logprobs = kMaxTopLogprobs + 1;
  EXPECT_EQ(s.submit(too_many).status, SubmitStatus::kInvalid);
  auto bad_bias = request(p, 4);
  bad_bias.sampling.logit_bias = {{static_cast<int32_t>(vocab), 1.0f}};
  EXPECT_EQ(s.submit(bad_bias).status, SubmitStatus::kInvalid);
}

// Prompt logprobs score every prompt token after the first under the logits of the one before — also when
// the prompt is in the prefix cache (it is computed again) and with max_tokens 0 (nothing generated).
TEST(Scheduler, PromptLogprobsScoreEveryPromptTokenAheadOfTheAnswer) {
  const auto p = prompt_of(21, 6);
  const auto want = alone(p, 3);
  Tiny& t = tiny();
  std::vector<float> logits;
  {
    LatentKvCache cache = make_single_sequence_cache(t.model->config, static_cast<int64_t>(p.size()) + 3);
    logits = all_logits(t.tf, cache, p);
  }
  const int64_t vocab = t.model->config.vocab_size;
  SchedulerOptions o;
  o.max_sequences = 2;
  o.max_context = 64;
  o.page_tokens = 4;
  o.prefill_chunk = 8;  // the prompt's rows come over three steps
  Scheduler s(t.tf, o);
  for (int64_t max_tokens : {3, 3, 0}) {  // the second and third find the prompt in the prefix cache
    auto r = request(p, max_tokens);
    r.top_logprobs = 1;
    r.prompt_logprobs = true;
    auto res = s.submit(r);
    ASSERT_EQ(res.status, SubmitStatus::kOk) << res.message;
    RequestStream::Event ev;
    std::vector<int64_t> positions;
    std::vector<int32_t> generated;
    while (res.stream->next(ev, 60s) && !ev.finished) {
      ASSERT_TRUE(ev.logprobs.has_value());
      if (ev.prompt_pos < 0) {
        generated.push_back(ev.token);
        continue;
      }
      EXPECT_TRUE(generated.empty()) << "the prompt's logprobs come first";
      positions.push_back(ev.prompt_pos);
      ASSERT_LT(ev.prompt_pos, static_cast<int64_t>(p.size()));
      EXPECT_EQ(ev.token, p[ev.prompt_pos]);
      const TokenLogprobs ref = token_logprobs(logits.data() + (ev.prompt_pos - 1) * vocab, vocab, ev.token, 1);
      EXPECT_NEAR(ev.logprobs->logprob, ref.logprob, 1e-4) << ev.prompt_pos;
      EXPECT_EQ(ev.logprobs->top.at(0).first, ref.top.at(0).first);
    }
    std::vector<int64_t> all(p.size() - 1);
    std::iota(all.begin(), all.end(), 1);
    EXPECT_EQ(positions, all);
    EXPECT_EQ(generated, std::vector<int32_t>(want.begin(), want.begin() + max_tokens));
    EXPECT_EQ(ev.reason, FinishReason::kLength);
    EXPECT_EQ(res.stream->stats().cached_tokens, 0);
    wait_until_idle(s);
  }
  auto no_top = request(p, 0);
  no_top.prompt_logprobs = true;  // without top_logprobs >= 0
  EXPECT_EQ(s.submit(no_top).status, SubmitStatus::kInvalid);
  auto read_only = s.submit(request(p, 0));  // reads the prompt, generates nothing
  ASSERT_EQ(read_only.status, SubmitStatus::kOk);
  const Collected none = collect(*read_only.stream);
  EXPECT_TRUE(none.tokens.empty());
  EXPECT_EQ(none.reason, FinishReason::kLength);
  EXPECT_EQ(s.submit(request(p, -1)).status, SubmitStatus::kInvalid);
  wait_until_idle(s);
  expect_all_pages_free(s);
}

TEST(Scheduler, StopTokenEndsTheStreamAndIsEmitted) {
  const auto p = prompt_of(9, 2);
  const auto free_run = alone(p, 10);
  SchedulerOptions o;
  o.max_context = 64;
  Scheduler s(tiny().tf, o);
  auto r = request(p, 10);
  r.stop_tokens = {free_run[3]};
  auto res = s.submit(r);
  const Collected c = collect(*res.stream);
  const auto first = std::find(free_run.begin(), free_run.end(), free_run[3]);
  EXPECT_EQ(c.tokens, std::vector<int32_t>(free_run.begin(), first + 1));
  EXPECT_EQ(c.reason, FinishReason::kStop);
}

// While no sequence decodes, a prompt is read in steps of prefill_chunk_idle, not prefill_chunk: fewer
// steps, the same tokens.
TEST(Scheduler, IdlePrefillChunkReadsAPromptInFewerSteps) {
  const auto p = prompt_of(40, 5);
  const auto want = alone(p, 3);
  for (int64_t idle : {0, 64}) {
    SchedulerOptions o;
    o.max_context = 64;
    o.page_tokens = 4;
    o.prefill_chunk = 8;
    o.prefill_chunk_idle = idle;
    o.prefix_cache = false;
    Scheduler s(tiny().tf, o);
    auto res = s.submit(request(p, 3));
    ASSERT_EQ(res.status, SubmitStatus::kOk) << res.message;
    EXPECT_EQ(collect(*res.stream).tokens, want) << "idle chunk " << idle;
    wait_until_idle(s);
    // 40 prompt tokens in steps of 8 (the last one samples the first token) or in one, then 2 decode steps
    EXPECT_EQ(s.metrics().steps, idle == 0 ? 5 + 2 : 1 + 2) << "idle chunk " << idle;
  }
}

TEST(Scheduler, CancellationFreesPagesAtOnce) {
  SchedulerOptions o;
  o.max_sequences = 2;
  o.max_context = 512;
  o.prefix_cache = false;
  Scheduler s(tiny().tf, o);
  auto r = s.submit(request(prompt_of(30, 1), 480));
  ASSERT_EQ(r.status, SubmitStatus::kOk);
  RequestStream::Event ev;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(r.stream->next(ev, 60s) && !ev.finished);
  EXPECT_LT(s.metrics().kv_pages_free, s.metrics().kv_pages_total);
  r.stream->cancel();
  Collected c = collect(*r.stream);
  EXPECT_EQ(c.reason, FinishReason::kCancelled);
  EXPECT_LT(r.stream->stats().completion_tokens, 480);
  // Cancel a request that is still queued, too.
  auto busy1 = s.submit(request(prompt_of(10, 2), 400));
  auto busy2 = s.submit(request(prompt_of(10, 3), 400));
  auto queued = s.submit(request(prompt_of(10, 4), 400));
  queued.stream->cancel();
  EXPECT_EQ(collect(*queued.stream).reason, FinishReason::kCancelled);
  busy1.stream->cancel();
  busy2.stream->cancel();
  collect(*busy1.stream);
  collect(*busy2.stream);
  for (int i = 0; i < 100 && s.metrics().running > 0; ++i) std::this_thread::sleep_for(10ms);
  const SchedulerMetrics m = s.metrics();
  EXPECT_EQ(m.running, 0);
  EXPECT_EQ(m.kv_sequences, 0);
  EXPECT_EQ(m.kv_pages_free, m.kv_pages_total);
  EXPECT_GE(m.finished[static_cast<int>(FinishReason::kCancelled)], 4);
}

TEST(Scheduler, FullQueueAndOversizedRequestsAreRefusedCleanly) {
  SchedulerOptions o;
  o.max_sequences = 1;
  o.max_context = 64;
  o.max_queue = 2;
  Scheduler s(tiny().tf, o);
  EXPECT_EQ(s.submit(request(prompt_of(40, 1), 30)).status, SubmitStatus::kTooLong);
  EXPECT_EQ(s.submit(request({}, 3)).status, SubmitStatus::kInvalid);
  EXPECT_EQ(s.submit(request({1, 2, 300}, 3)).status, SubmitStatus::kInvalid);
  EXPECT_EQ(s.submit(request({1, 2}, -1)).status, SubmitStatus::kInvalid);
  SamplingParams bad;
  bad.top_p = 0;
  EXPECT_EQ(s.submit(request({1, 2}, 3, bad)).status, SubmitStatus::kInvalid);

  const auto p = prompt_of(8, 7);
  const auto want = alone(p, 40);
  std::vector<std::shared_ptr<RequestStream>> accepted;
  int refused = 0;
  // 16 submissions in a burst: one runs, two wait, the rest are refused — unless the engine finishes
  // requests while the burst is being submitted (its pool threads spin on both cores and can hold the
  // submitting thread off the CPU), so only "at least 3 refused" is certain.
  for (int i = 0; i < 16; ++i) {
    SubmitResult r = s.submit(request(p, 40));
    if (r.status == SubmitStatus::kOk) {
      accepted.push_back(r.stream);
    } else {
      EXPECT_EQ(r.status, SubmitStatus::kQueueFull) << r.message;
      EXPECT_NE(r.message.find("queue is full"), std::string::npos);
      ++refused;
    }
  }
  EXPECT_GE(refused, 3);
  for (auto& st : accepted) EXPECT_EQ(collect(*st).tokens, want);
  expect_all_pages_free(s);
  s.shutdown();
  EXPECT_EQ(s.submit(request(p, 4)).status, SubmitStatus::kShuttingDown);
}

TEST(Scheduler, PrefixReuseGivesTheSameTokensAndCountsHits) {
  const auto system = prompt_of(37, 3);  // 4 whole pages of 8 and a bit
  auto with_tail = [&](int salt) {
    auto p = system;
    for (int i = 0; i < 6; ++i) p.push_back((salt * 13 + i * 7) % 256);
    return p;
  };
  SchedulerOptions o;
  o.max_sequences = 2;
  o.max_context = 96;
  o.page_tokens = 8;
  o.prefill_chunk = 16;
  Scheduler s(tiny().tf, o);
  for (int salt = 0; salt < 3; ++salt) {
    const auto p = with_tail(salt);
    const auto want = alone(p, 10);  // before submitting: the engine thread must have the model alone
    auto r = s.submit(request(p, 10));
    EXPECT_EQ(collect(*r.stream).tokens, want) << "salt " << salt;
    if (salt > 0) {
      EXPECT_EQ(r.stream->stats().cached_tokens, 32) << "salt " << salt;
    }
  }
  // The same prompt again also reuses what the first answer's tokens wrote.
  const auto p = with_tail(1);
  const auto want = alone(p, 10);
  auto r = s.submit(request(p, 10));
  EXPECT_EQ(collect(*r.stream).tokens, want);
  EXPECT_EQ(r.stream->stats().cached_tokens, 40);  // 43 prompt tokens: the last is always recomputed
  SchedulerMetrics m = s.metrics();
  EXPECT_EQ(m.prefix_hits, 3);
  EXPECT_EQ(m.prefix_misses, 1);
  EXPECT_EQ(m.prefix_cached_tokens, 32 + 32 + 40);
  EXPECT_GT(m.prefix_entries, 0);
  expect_all_pages_free(s);
}

TEST(Scheduler, PrefixEntriesAreEvictedWhenPagesAreNeeded) {
  SchedulerOptions o;
  o.max_sequences = 1;
  o.max_context = 64;
  o.page_tokens = 8;
  Scheduler s(tiny().tf, o);  // 8 pages: every finished request leaves entries that must make room
  for (int i = 0; i < 6; ++i) {
    const auto p = prompt_of(40, 10 + i);
    const auto want = alone(p, 20);
    auto r = s.submit(request(p, 20));
    ASSERT_EQ(r.status, SubmitStatus::kOk);
    EXPECT_EQ(collect(*r.stream).tokens, want) << i;
  }
  wait_until_idle(s);
  const SchedulerMetrics m = s.metrics();
  EXPECT_LE(m.kv_pages_total - m.kv_pages_free, m.prefix_pages);
  EXPECT_GT(m.prefix_entries, 0);
  expect_all_pages_free(s);
}

// --prefix-cache-file: a scheduler that starts from the file another one wrote at shutdown reuses the
// prefixes it had, and answers exactly as without them.
// Two sequences of 96 tokens in 8-token pages, and a fresh prefix-cache file at `path`.
SchedulerOptions prefix_file_options(const std::string& path) {
  std::filesystem::remove(path);
  SchedulerOptions o;
  o.max_sequences = 2;
  o.max_context = 96;
  o.page_tokens = 8;
  o.prefix_cache_file = path;
  o.prefix_cache_fingerprint = 42;
  return o;
}

TEST(Scheduler, PrefixCacheFileCarriesTheCacheAcrossARestart) {
  SchedulerOptions o = prefix_file_options(testing::temp_dir() + "/scheduler-prefix-cache.bin");
  const auto system = prompt_of(37, 5);
  auto with_tail = [&](int salt) {
    auto p = system;
    for (int i = 0; i < 5; ++i) p.push_back((salt * 11 + i * 5) % 256);
    return p;
  };
  std::vector<std::vector<int32_t>> answers;
  {
    Scheduler s(tiny().tf, o);
    EXPECT_EQ(s.prefix_file_loaded().skipped, "no file yet");
    for (int salt = 0; salt < 2; ++salt) answers.push_back(collect(*s.submit(request(with_tail(salt), 10)).stream).tokens);
    s.shutdown(true);
    const PrefixFileReport w = s.prefix_file_saved();
    EXPECT_EQ(w.skipped, "");
    EXPECT_GT(w.entries, 0);
  }
  {
    Scheduler s(tiny().tf, o);
    const PrefixFileReport& r = s.prefix_file_loaded();
    EXPECT_EQ(r.skipped, "");
    EXPECT_GT(r.entries, 0);
    EXPECT_GT(s.metrics().prefix_entries, 0);
    for (int salt = 0; salt < 2; ++salt) {
      auto res = s.submit(request(with_tail(salt), 10));
      EXPECT_EQ(collect(*res.stream).tokens, answers[salt]) << salt;
      EXPECT_EQ(res.stream->stats().cached_tokens, 40) << salt;  // 42 tokens: 5 whole pages, the last recomputed
    }
    expect_all_pages_free(s);
  }
  o.prefix_cache_fingerprint = 43;  // another model or build: the file is not used
  Scheduler other(tiny().tf, o);
  EXPECT_NE(other.prefix_file_loaded().skipped.find("another model"), std::string::npos)
      << other.prefix_file_loaded().skipped;
  EXPECT_EQ(other.metrics().prefix_entries, 0);
}

// While idle the engine also writes the file (a crash then loses little); another scheduler reads it.
TEST(Scheduler, PrefixCacheFileIsWrittenWhileIdle) {
  const std::string path = testing::temp_dir() + "/scheduler-prefix-idle.bin", copy = path + ".copy";
  SchedulerOptions o = prefix_file_options(path);
  o.prefix_cache_save_seconds = 0.01;
  Scheduler s(tiny().tf, o);
  EXPECT_EQ(s.prefix_file_saved().entries, 0);
  const auto p = prompt_of(40, 9);
  const auto answer = collect(*s.submit(request(p, 6)).stream).tokens;
  for (int i = 0; i < 500 && s.prefix_file_saved().entries == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GT(s.prefix_file_saved().entries, 0) << s.prefix_file_saved().skipped;
  std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
  SchedulerOptions o2 = o;
  o2.prefix_cache_file = copy;
  Scheduler after_crash(tiny().tf, o2);  // as if the first had died without shutting down
  EXPECT_EQ(after_crash.prefix_file_loaded().skipped, "");
  EXPECT_EQ(after_crash.prefix_file_loaded().entries, s.prefix_file_saved().entries);
  after_crash.shutdown(true);
  auto again = s.submit(request(p, 6));
  EXPECT_EQ(collect(*again.stream).tokens, answer);
  EXPECT_EQ(again.stream->stats().cached_tokens, 32);  // 40 tokens: the last is recomputed, so 4 whole pages
}

TEST(PrefixCache, BlockHashesAreAChain) {
  const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7}, b = {1, 2, 3, 9, 5, 6, 7};
  const auto ha = PrefixCache::block_hashes(a, 7, 2), hb = PrefixCache::block_hashes(b, 7, 2);
  ASSERT_EQ(ha.size(), 3u);
  EXPECT_EQ(ha[0], hb[0]);
  EXPECT_NE(ha[1], hb[1]);
  EXPECT_NE(ha[2], hb[2]);  // block 2 has equal tokens but a different history
}

}  // namespace
}  // namespace dsinfer
