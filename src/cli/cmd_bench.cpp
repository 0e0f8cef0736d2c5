// dsinfer bench -m MODEL [-p 512] [-n 128] [-d 0] [-t N] [-r REPS] [--json]: prefill and decode speed,
// the weight bytes a decoded token reads, the machine's read bandwidth, and decode as a fraction of the
// bandwidth roofline (bandwidth / bytes per token). Like llama-bench, pp is one prompt of p tokens
// processed as one batch, and tg generates n tokens one at a time, both after a context of d tokens
// (prefilled untimed; -d 0: an empty context). With a context, a decoded token also reads its cache rows,
// which the roofline counts.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/model_session.h"
#include "kernels/cpu/bandwidth.h"
#include "kernels/cpu/gemm.h"
#include "model/loader.h"
#include "model/sequence.h"
#include "util/error.h"

namespace dsinfer::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Bytes the CPU reads from memory (a weight placed on the GPU, --gpu, is read there from its own copy).
uint64_t bytes_of(const TensorView& t) {
  return t.data && !t.gpu ? static_cast<uint64_t>(t.row_bytes()) * t.rows() : 0;
}
uint64_t bytes_of(const MlpWeights& m) { return bytes_of(m.gate) + bytes_of(m.up) + bytes_of(m.down); }

// Weight bytes the CPU reads to decode one token: attention, dense FFN or router + shared + K routed experts,
// and the lm_head (the embedding row is negligible), by the tensors' actual dtypes.
uint64_t decode_bytes_per_token(const LoadedModel& m) {
  const ModelConfig& c = m.config;
  uint64_t total = bytes_of(m.weights.lm_head);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& lw = m.weights.layers[l];
    const MlaWeights& a = lw.attn;
    total += bytes_of(a.q_proj) + bytes_of(a.q_a_proj) + bytes_of(a.q_b_proj) + bytes_of(a.kv_a_proj) +
             bytes_of(a.kv_b_proj) + bytes_of(a.k_b) + bytes_of(a.v_b) + bytes_of(a.o_proj);
    if (c.is_moe_layer(l)) {
      total += bytes_of(lw.moe.router) + bytes_of(lw.moe.shared);
      if (!lw.moe.experts.empty()) total += static_cast<uint64_t>(c.num_experts_per_tok) * bytes_of(lw.moe.experts[0]);
    } else {
      total += bytes_of(lw.dense);
    }
  }
  return total;
}

std::vector<int32_t> bench_ids(int64_t n, int64_t vocab, uint32_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  uint64_t s = seed;
  for (auto& id : ids) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(vocab));
  }
  return ids;
}

constexpr int64_t kDepthChunk = 512;  // prefill chunk of the untimed context

// A clear error, before any allocation, when the largest cache the runs need exceeds the machine's RAM.
void require_cache_fits(int64_t cache_row_bytes, int64_t tokens, int64_t streams) {
  const double need =
      static_cast<double>(cache_row_bytes) * static_cast<double>(tokens) * static_cast<double>(streams);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && need > static_cast<double>(pages) * static_cast<double>(page))
    fail("bench: ", streams, " KV cache(s) of ", tokens, " tokens need ", need / 1e9, " GB, more than this machine's ",
         static_cast<double>(pages) * static_cast<double>(page) / 1e9, " GB of RAM (lower -d, -p, -n or -b)");
}

// A cache holding one fresh sequence (id returned in *seq) with room for ctx tokens.
LatentKvCache cache_for(const ModelConfig& c, int64_t ctx, DType dtype, int* seq) {
  LatentKvCache cache = make_single_sequence_cache(c, std::max<int64_t>(ctx, 1), dtype);
  *seq = cache.create_sequence();
  if (!cache.reserve(*seq, ctx)) fail("bench: KV cache for ", ctx, " tokens could not be reserved");
  return cache;
}

// Seconds to decode n_gen tokens in each of `streams` sequences after the same `depth` tokens of context
// (prefilled before the clock starts: once, the other sequences share its full cache pages as the
// server's prefix reuse does), all sequences' tokens of a step in one forward call (as the server's
// continuous batching runs them); greedy.
double decode_seconds(Transformer& tf, const ModelConfig& c, DType kv, int64_t depth, int64_t n_gen, int64_t streams) {
  const int64_t ctx = depth + n_gen;
  LatentKvCache cache = make_sequences_cache(c, streams, std::max<int64_t>(ctx, 1), kv);
  std::vector<int> seqs;
  std::vector<int32_t> toks = bench_ids(streams, c.vocab_size, 99);
  const std::vector<int32_t> context = bench_ids(depth, c.vocab_size, 7);
  for (int64_t s = 0; s < streams; ++s) {
    seqs.push_back(s == 0 ? cache.create_sequence() : cache.fork_prefix(seqs[0], depth));
    if (!cache.reserve(seqs.back(), ctx)) fail("bench: KV cache for ", ctx, " tokens could not be reserved");
    const int64_t have = cache.shared_tokens(seqs.back());
    if (depth > have)
      prefill_sequence(tf, cache, seqs.back(), std::vector<int32_t>(context.begin() + have, context.end()), have,
                       kDepthChunk, false);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n_gen; ++i) {
    Batch b;
    for (int64_t s = 0; s < streams; ++s) b.add(toks[s], depth + i, seqs[s], true);
    const std::vector<float> logits = tf.forward(b, cache);
    for (int64_t s = 0; s < streams; ++s) {
      const auto row = logits.begin() + s * c.vocab_size;
      toks[s] = static_cast<int32_t>(std::max_element(row, row + c.vocab_size) - row);
    }
  }
  return seconds_since(t0);
}

// Speculative decoding's step costs (runtime/generator.cpp), n_gen steps after depth tokens of context:
// seconds of the main model's verify passes of 1 + k tokens ([token, k drafted tokens] of one sequence),
// and of the MTP module's 1-token draft passes (0 without a module). Positions advance by 1 + k as when
// whole drafts are accepted.
struct VerifyTimes {
  double verify_s = 0, draft_s = 0;
};
VerifyTimes verify_seconds(Transformer& tf, const ModelConfig& c, DType kv, int64_t depth, int64_t n_gen, int64_t k) {
  const bool mtp = tf.mtp_modules() > 0;
  const int64_t ctx = depth + (k + 1) * n_gen;
  LatentKvCache cache = make_single_sequence_cache(c, std::max<int64_t>(ctx, 1), kv, mtp);
  const int seq = cache.create_sequence();
  if (!cache.reserve(seq, ctx)) fail("bench: KV cache for ", ctx, " tokens could not be reserved");
  if (depth > 0) prefill_sequence(tf, cache, seq, bench_ids(depth, c.vocab_size, 7), 0, kDepthChunk, false);
  std::vector<int32_t> toks = bench_ids(k + 1, c.vocab_size, 99);
  std::vector<float> hidden;
  VerifyTimes t;
  for (int64_t i = 0; i < n_gen; ++i) {
    const int64_t pos = depth + (k + 1) * i;
    Batch b;
    for (int64_t r = 0; r <= k; ++r) b.add(toks[r], pos + r, seq, true);
    auto t0 = std::chrono::steady_clock::now();
    const std::vector<float> logits = tf.forward(b, cache, nullptr, &hidden);
    t.verify_s += seconds_since(t0);
    for (int64_t r = 0; r <= k; ++r) {
      const auto row = logits.begin() + r * c.vocab_size;
      toks[r] = static_cast<int32_t>(std::max_element(row, row + c.vocab_size) - row);
    }
    if (!mtp) continue;
    Batch d;
    d.add(toks[0], pos + 1, seq, true);
    t0 = std::chrono::steady_clock::now();
    tf.mtp_forward(d, hidden.data() + c.hidden_size, cache);
    t.draft_s += seconds_since(t0);
  }
  return t;
}

}  // namespace

int cmd_bench(const Args& args) {
  ArgParser p(args, {"--model", "--n-prompt", "--n-gen", "--n-depth", "--threads", "--reps", "--bw-mb", "--mla-form", "--kv-dtype",
               "--batch", "--mtp-from", "--gpu-device", "--gpu-dtype", "--gpu-expert-tokens"},
              {"--help", "--json", "--no-repack", "--spec", "--gpu"},
              {{"-m", "--model"}, {"-p", "--n-prompt"}, {"-n", "--n-gen"}, {"-d", "--n-depth"}, {"-t", "--threads"},
               {"-r", "--reps"}, {"-b", "--batch"}});
  if (p.has("--help")) {
    std::puts(
        "usage: dsinfer bench -m MODEL [-p 512] [-n 128] [-d 0] [-b STREAMS] [-t THREADS] [-r REPS] [--bw-mb 1024]\n"
        "       [--json] [--no-repack] [--mla-form auto|absorbed|naive] [--kv-dtype f32|f16]\n"
        "       [--gpu [--gpu-device N] [--gpu-dtype auto|f32|bf16] [--gpu-expert-tokens N]]\n"
        "Prefill of a p-token prompt (one batch) and decode of n tokens, after a context of d tokens (prefilled\n"
        "untimed; like llama-bench -d), in tokens/s (mean of REPS runs after a warm-up); bytes read per decoded\n"
        "token (weights, and the cache rows of the context); measured read bandwidth (best of 2x10 passes over\n"
        "a --bw-mb MiB buffer, before and after the runs); decode as a fraction of bandwidth / bytes-per-token.\n"
        "-b STREAMS > 1 also decodes n tokens in each of STREAMS sequences together, one forward call per step\n"
        "(the server's continuous batching without HTTP), and reports their total tokens/s.\n"
        "--spec also times speculative decoding's steps (run --draft): a verify pass of 2 tokens of one sequence and,\n"
        "for a model with an MTP module (or one from --mtp-from HF_DIR), the module's draft pass, each against a\n"
        "1-token step; it reports the\n"
        "acceptance rate at which drafting breaks even and the decode speed it gives at 85% acceptance (DeepSeek-V3's\n"
        "reported rate for its MTP module). Random weights cannot show a real acceptance rate; these costs are real.");
    std::puts(kGpuHelp);
    return 0;
  }
  const int64_t n_prompt = p.get_int("--n-prompt", 512), n_gen = p.get_int("--n-gen", 128);
  const int64_t reps = std::max<int64_t>(1, p.get_int("--reps", 1));
  const int64_t streams = p.get_int("--batch", 1);
  const int64_t depth = p.get_int("--n-depth", 0);
  if (n_prompt < 0 || n_gen < 0 || depth < 0) fail("-p, -n and -d must be >= 0");
  if (streams < 1 || streams > 256) fail("--batch: expected 1..256 streams, not ", streams);
  const bool spec = p.has("--spec");
  const std::string mtp_from = spec ? p.get("--mtp-from").value_or("") : "";
  const bool load_mtp = spec && (load_config(p.require("--model")).num_nextn_predict_layers > 0 || !mtp_from.empty());
  ModelSession s = open_model_session(p.require("--model"), static_cast<int>(p.get_int("--threads", 0)), true,
                                      !p.has("--no-repack"), load_mtp, mtp_from, gpu_from_args(p));
  const ModelConfig& c = s.model->config;
  Transformer& tf = *s.transformer;
  const DType kv = kv_dtype_from_args(p);
  // Cache bytes of one token (all layers): the sizes checked up front and the cache read per decoded token.
  const int64_t cache_row_bytes = LatentKvCache::bytes_per_token(c.num_hidden_layers, c.cache_row_dim(), kv);
  require_cache_fits(cache_row_bytes, depth + std::max(n_prompt, n_gen), streams);
  const std::string form = p.get("--mla-form").value_or("auto");
  if (form == "absorbed") tf.set_attention_form(AttentionForm::kAbsorbed);
  else if (form == "naive") tf.set_attention_form(AttentionForm::kNaive);
  else if (form != "auto") fail("--mla-form: expected auto, absorbed or naive, not '", form, "'");

  const size_t bw_bytes = static_cast<size_t>(p.get_int("--bw-mb", 1024)) << 20;
  double bw = measure_read_bandwidth(*s.pool, bw_bytes, 10);
  const uint64_t bpt = decode_bytes_per_token(*s.model);

  // Warm-up: page in the weights and grow every scratch buffer once.
  {
    int seq = 0;
    LatentKvCache cache = cache_for(c, 16, kv, &seq);
    prefill_sequence(tf, cache, seq, bench_ids(8, c.vocab_size, 1), 0, 8, false);
  }
  double pp_s = 0, tg_s = 0, batch_s = 0;
  int64_t gpu_calls = 0;  // --gpu: the decode runs' calls that wait for the GPU, and the time they took
  double gpu_wait_s = 0, gpu_prefill_wait_s = 0;  // (and the prefill runs')
  VerifyTimes vt;
  constexpr int64_t kLongerDrafts[] = {2, 4};  // verify passes also priced for these draft lengths
  double longer_s[2] = {0, 0};
  for (int64_t r = 0; r < reps; ++r) {
    if (n_prompt > 0) {
      int seq = 0;
      LatentKvCache cache = cache_for(c, depth + n_prompt, kv, &seq);
      if (depth > 0) prefill_sequence(tf, cache, seq, bench_ids(depth, c.vocab_size, 7), 0, kDepthChunk, false);
      const auto ids = bench_ids(n_prompt, c.vocab_size, 2 + static_cast<uint32_t>(r));
      const gpu::Device::Stats p0 = s.model->gpu.device ? s.model->gpu.device->stats() : gpu::Device::Stats{};
      const auto t0 = std::chrono::steady_clock::now();
      prefill_sequence(tf, cache, seq, ids, depth, n_prompt, false);
      pp_s += seconds_since(t0);
      if (s.model->gpu.device) gpu_prefill_wait_s += s.model->gpu.device->stats().seconds - p0.seconds;
    }
    const gpu::Device::Stats g0 = s.model->gpu.device ? s.model->gpu.device->stats() : gpu::Device::Stats{};
    if (n_gen > 0) tg_s += decode_seconds(tf, c, kv, depth, n_gen, 1);
    if (s.model->gpu.device) {
      const gpu::Device::Stats g1 = s.model->gpu.device->stats();
      gpu_calls += g1.calls - g0.calls;
      gpu_wait_s += g1.seconds - g0.seconds;
    }
    if (n_gen > 0 && streams > 1) batch_s += decode_seconds(tf, c, kv, depth, n_gen, streams);
    if (n_gen > 0 && spec) {
      const VerifyTimes v = verify_seconds(tf, c, kv, depth, n_gen, 1);
      vt.verify_s += v.verify_s;
      vt.draft_s += v.draft_s;
      for (int i = 0; i < 2; ++i) longer_s[i] += verify_seconds(tf, c, kv, depth, n_gen, kLongerDrafts[i]).verify_s;
    }
  }
  // Probed again after the runs (best of both): other processes on the machine can only lower it.
  bw = std::max(bw, measure_read_bandwidth(*s.pool, bw_bytes, 10));
  const double pp_tps = n_prompt > 0 ? n_prompt * reps / pp_s : 0.0;
  const double tg_tps = n_gen > 0 ? n_gen * reps / tg_s : 0.0;
  const double batch_tps = batch_s > 0 ? n_gen * streams * reps / batch_s : 0.0;
  // The cache rows a decoded token reads: on average depth + (n - 1) / 2 of them, in every layer — with
  // DeepSeek Sparse Attention the indexer's key of each and the latent part of index_topk of them.
  const double keys = static_cast<double>(depth) + (n_gen > 0 ? (n_gen - 1) / 2.0 : 0.0);
  const double kv_bpt =
      !c.has_dsa() ? keys * static_cast<double>(cache_row_bytes)
                   : static_cast<double>(cache_row_bytes) / static_cast<double>(c.cache_row_dim()) *
                         (std::min(keys, static_cast<double>(c.index_topk)) * static_cast<double>(c.latent_dim()) +
                          keys * static_cast<double>(c.index_head_dim));
  const double roofline = bw * 1e9 / (static_cast<double>(bpt) + kv_bpt);
  const double fraction = roofline > 0 ? tg_tps / roofline : 0.0;
  // A step of speculative decoding costs (verify + draft) / one plain step and yields 1 + acceptance tokens.
  const double verify_cost = tg_s > 0 ? vt.verify_s / tg_s : 0.0, draft_cost = tg_s > 0 ? vt.draft_s / tg_s : 0.0;
  const double spec_step_cost = verify_cost + draft_cost;
  const double spec_tps_85 = spec_step_cost > 0 ? tg_tps * 1.85 / spec_step_cost : 0.0;
  const char* isa = kern::active_kernels().isa;
  if (p.has("--json")) {
    nlohmann::json j = {{"model", s.model->path},
                        {"threads", s.pool->size()},
                        {"isa", isa},
                        {"n_prompt", n_prompt},
                        {"n_gen", n_gen},
                        {"n_depth", depth},
                        {"reps", reps},
                        {"mla_form", form},
                        {"kv_dtype", dtype_name(kv)},
                        {"repacked_bytes", s.model->repack.bytes},
                        {"r8_in_file_bytes", s.model->r8_bytes_in_file},  // a `dsinfer repack` file
                        {"prefill_tokens_per_s", pp_tps},
                        {"decode_tokens_per_s", tg_tps},
                        {"bytes_per_token", bpt},
                        {"kv_bytes_per_token", kv_bpt},
                        {"bandwidth_gb_s", bw},
                        {"roofline_tokens_per_s", roofline},
                        {"roofline_fraction", fraction}};
    if (const GpuPlacement& g = s.model->gpu; g.device) {  // hybrid: bytes_per_token is the CPU's share
      j["gpu"] = g.device->info().name;
      j["gpu_weight_dtype"] = gpu::storage_name(g.storage);
      j["gpu_weight_bytes"] = g.device_bytes;
      j["gpu_weights_file_bytes"] = g.file_bytes;
      j["gpu_expert_stream_layers"] = g.streamed_layers;
      if (n_prompt > 0) j["gpu_wait_s_per_prefill"] = gpu_prefill_wait_s / static_cast<double>(reps);
      if (n_gen > 0) {  // per decoded token (one sequence)
        j["gpu_waits_per_token"] = static_cast<double>(gpu_calls) / static_cast<double>(n_gen * reps);
        j["gpu_wait_ms_per_token"] = 1e3 * gpu_wait_s / static_cast<double>(n_gen * reps);
        j["decode_ms_per_token"] = 1e3 * tg_s / static_cast<double>(n_gen * reps);
      }
    }
    if (streams > 1) {
      j["batch_streams"] = streams;
      j["batch_decode_tokens_per_s"] = batch_tps;
    }
    if (spec && n_gen > 0) {
      j["spec_verify_cost"] = verify_cost;  // a 2-token verify pass / a 1-token step
      j["spec_mtp_draft_cost"] = draft_cost;  // the MTP module's draft pass / a 1-token step (0: no module)
      j["spec_break_even_acceptance"] = spec_step_cost - 1.0;
      j["spec_decode_tokens_per_s_at_85pct"] = spec_tps_85;
      for (int i = 0; i < 2; ++i)  // a pass verifying k drafted tokens / a 1-token step
        j["spec_verify_cost_" + std::to_string(kLongerDrafts[i]) + "_drafts"] = longer_s[i] / tg_s;
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("model: %s (%d threads, %s kernels)\n", s.model->path.c_str(), s.pool->size(), isa);
    const std::string at = depth > 0 ? " @ d" + std::to_string(depth) : "";
    std::printf("pp%lld%s: %.2f tokens/s\n", static_cast<long long>(n_prompt), at.c_str(), pp_tps);
    std::printf("tg%lld%s: %.2f tokens/s\n", static_cast<long long>(n_gen), at.c_str(), tg_tps);
    if (streams > 1)
      std::printf("tg%lld x %lld streams: %.2f tokens/s in total\n", static_cast<long long>(n_gen),
                  static_cast<long long>(streams), batch_tps);
    if (const GpuPlacement& g = s.model->gpu; g.device)
      std::printf("GPU: %s holds %.2f GB of weights (%s); the figures below count what the CPU reads\n",
                  g.device->info().name.c_str(), g.device_bytes / 1e9, gpu::storage_name(g.storage));
    std::printf("weights read per decoded token: %.3f GB", bpt / 1e9);
    if (kv_bpt > 0) std::printf(" (+ %.3f GB of cache rows)", kv_bpt / 1e9);
    std::printf("\n");
    std::printf("measured read bandwidth: %.2f GB/s -> roofline %.2f tokens/s; decode at %.1f%% of it\n", bw, roofline,
                100.0 * fraction);
    if (spec && n_gen > 0) {
      std::printf("speculative step: verify pass %.2fx a 1-token step", verify_cost);
      if (load_mtp) std::printf(", MTP draft %.2fx", draft_cost);
      std::printf(" -> breaks even at %.0f%% acceptance; at 85%%: %.2f tokens/s (%.2fx)\n",
                  100.0 * (spec_step_cost - 1.0), spec_tps_85, tg_tps > 0 ? spec_tps_85 / tg_tps : 0.0);
      std::printf("longer drafts (lookup --draft-max): verifying %lld tokens %.2fx, %lld tokens %.2fx a 1-token step\n",
                  static_cast<long long>(kLongerDrafts[0]), longer_s[0] / tg_s,
                  static_cast<long long>(kLongerDrafts[1]), longer_s[1] / tg_s);
    }
  }
  return 0;
}

}  // namespace dsinfer::cli
