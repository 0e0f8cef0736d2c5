// dsinfer serve -m MODEL: the OpenAI-compatible HTTP server (continuous batching over one model).

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <filesystem>
#include <map>
#include <thread>

#include "cli/args.h"
#include "cli/model_session.h"
#include "runtime/scheduler.h"
#include "server/http_server.h"
#include "tensor/interleave.h"
#include "tokenizer/tokenizer.h"
#include "util/build_info.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/log.h"

namespace dsinfer::cli {

int cmd_serve(const Args& args) {
  ArgParser p(args,
              {"--model", "--host", "--port", "--api-key", "--parallel", "--ctx", "--threads", "--queue",
               "--prefill-chunk", "--prefill-chunk-idle", "--chat-format", "--name", "--max-body-mb", "--http-threads", "--page-tokens",
               "--scripted-answer", "--kv-dtype", "--cors", "--responses-store-mb", "--draft", "--draft-max-streams",
               "--draft-min-accept", "--mtp-from", "--draft-max", "--prefix-cache-file", "--prefix-cache-save-s",
               "--gpu-device", "--gpu-dtype", "--gpu-expert-tokens"},
              {"--help", "--no-prefix-cache", "--no-repack", "--gpu"},
              {{"-m", "--model"}, {"-t", "--threads"}, {"-np", "--parallel"}, {"-c", "--ctx"}});
  if (p.has("--help")) {
    std::puts(
        "usage: dsinfer serve -m MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N]\n"
        "       [--ctx N] [-t THREADS] [--queue N] [--prefill-chunk N] [--prefill-chunk-idle N]\n"
        "       [--chat-format deepseek-v3|deepseek-r1|deepseek-v3.1|deepseek-v3.2]\n"
        "       [--name MODEL_ID] [--max-body-mb N] [--http-threads N] [--page-tokens N] [--no-prefix-cache]\n"
        "       [--prefix-cache-file PATH [--prefix-cache-save-s S]]\n"
        "       [--no-repack] [--kv-dtype f32|f16] [--cors ORIGIN[,ORIGIN...] | --cors '*'] [--responses-store-mb N]\n"
        "       [--draft mtp|lookup] [--draft-max N] [--draft-max-streams N] [--draft-min-accept R] [--mtp-from HF_DIR]\n"
        "       [--gpu [--gpu-device N] [--gpu-dtype auto|f32|bf16] [--gpu-expert-tokens N]]\n"
        "OpenAI-compatible API: POST /v1/chat/completions, POST /v1/completions, POST /v1/responses\n"
        "(stored in memory for previous_response_id: GET / DELETE /v1/responses/ID, GET .../ID/input_items),\n"
        "GET /v1/models, GET /health, GET /metrics (Prometheus), POST /tokenize, POST /detokenize; and\n"
        "Anthropic's POST /v1/messages and /v1/messages/count_tokens (the key also as x-api-key).\n"        "--responses-store-mb N: memory for stored responses (the newest 1024 kept; default 64; 0 = none\n"
        "are kept, so previous_response_id cannot continue them).\n"
        "--parallel N sequences are decoded together, each with up to --ctx tokens (prompt + answer); the KV\n"
        "cache holds N x ctx tokens. Requests beyond that wait in a queue of --queue; a full queue answers 429.\n"
        "The API key may also come from the environment variable DSINFER_API_KEY.\n"
        "--prefill-chunk N: prompt tokens per engine step (default 128) while other sequences decode, so their\n"
        "streams keep flowing while a long prompt is read; --prefill-chunk-idle N: the same while none decodes\n"
        "(default 4 x --prefill-chunk: a burst of new requests is read in fewer, larger steps).\n"
        "--cors lets web pages from these origins (e.g. http://localhost:3000; '*' = any) call the API from a\n"
        "browser: preflight requests are answered and responses carry Access-Control-Allow-Origin. Off by\n"
        "default, since any page the browser opens could otherwise use a server without an API key.\n"
        "--draft: speculative decoding (as dsinfer run --draft): while at most --draft-max-streams sequences\n"
        "(default 4) decode together, each also puts its drafted next tokens (up to --draft-max, default 1) into\n"
        "the step and gets more than one token when the model agrees. mtp: the model's multi-token-prediction\n"
        "module (DeepSeek-V3/R1; --mtp-from HF_DIR for a GGUF made without it); lookup: prompt lookup. A sequence\n"
        "verifies drafts only while at least R (default 0.5; 0: always) of its recent ones came true.\n"
        "--prefix-cache-file PATH: the prefix cache (the KV of recent prompts' whole pages, reused by prompts\n"
        "that start the same way) is written to PATH when the server stops (SIGTERM / Ctrl-C) and read back\n"
        "when it starts, so long system prompts and conversations survive a restart without being recomputed.\n"
        "A file of another model, build, --kv-dtype or --page-tokens, or a damaged one, is reported and ignored.\n"
        "While the server is idle a changed cache is also written, at most every S seconds (default 300; 0 =\n"
        "only at shutdown), so a crash loses little.\n"
        "--scripted-answer TEXT (for tests): every answer is TEXT, whatever the model samples.\n");
    std::puts(kKvDTypeHelp);
    std::puts(kGpuHelp);
    return 0;
  }
  // Signals are taken by one thread with sigwait; every other thread (created below) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string model_path = p.require("--model");
  server::ServerOptions so;
  so.host = p.get("--host").value_or("127.0.0.1");
  so.port = static_cast<int>(p.get_int("--port", 8080));
  if (so.port < 0 || so.port > 65535) fail("--port must be in [0, 65535]");
  so.api_key = p.get("--api-key").value_or("");
  if (so.api_key.empty())
    if (const char* env = std::getenv("DSINFER_API_KEY")) so.api_key = env;
  if (auto cors = p.get("--cors")) {
    for (size_t b = 0; b <= cors->size();) {
      size_t e = cors->find(',', b);
      if (e == std::string::npos) e = cors->size();
      std::string origin = cors->substr(b, e - b);
      while (!origin.empty() && origin.back() == '/') origin.pop_back();  // "http://host:3000/" = "http://host:3000"
      if (origin.empty()) fail("--cors: an empty origin in '", *cors, "'");
      if (origin != "*" && origin.find("://") == std::string::npos)
        fail("--cors: '", origin, "' is not an origin like http://localhost:3000 (or '*')");
      so.cors_origins.push_back(origin);
      b = e + 1;
    }
  }
  so.scripted_answer = p.get("--scripted-answer").value_or("");
  if (!so.scripted_answer.empty()) log_warn("--scripted-answer: every answer is the scripted text, not the model's (a testing aid)");
  so.model_name = p.get("--name").value_or(std::filesystem::path(model_path).stem().string());
  so.limits.max_body_bytes = static_cast<size_t>(p.get_int("--max-body-mb", 8)) << 20;
  const int64_t store_mb = p.get_int("--responses-store-mb", 64);
  if (store_mb < 0 || store_mb > (1 << 20)) fail("--responses-store-mb must be in [0, 1048576]");
  so.responses_store_bytes = static_cast<size_t>(store_mb) << 20;
  const int64_t http_threads = p.get_int("--http-threads", 0);
  if (p.has("--http-threads") && (http_threads < 2 || http_threads > 4096)) fail("--http-threads must be in [2, 4096]");
  if (auto f = p.get("--chat-format")) {
    so.chat_format = chat_format_from_name(*f);
    if (!so.chat_format) fail("--chat-format must be deepseek-v3, deepseek-r1, deepseek-v3.1 or deepseek-v3.2, got '", *f, "'");
  }
  SchedulerOptions sched;
  sched.max_sequences = p.get_int("--parallel", 4);
  sched.max_context = p.get_int("--ctx", 4096);
  sched.kv_dtype = kv_dtype_from_args(p);
  sched.max_queue = p.get_int("--queue", 64);
  sched.prefill_chunk = p.get_int("--prefill-chunk", 128);
  sched.prefill_chunk_idle = p.get_int("--prefill-chunk-idle", 4 * sched.prefill_chunk);
  sched.page_tokens = p.get_int("--page-tokens", 16);
  sched.prefix_cache = !p.has("--no-prefix-cache");
  const std::string draft = draft_from_args(p);
  sched.draft = draft == "mtp" ? DraftMode::kMtp : draft == "lookup" ? DraftMode::kLookup : DraftMode::kNone;
  sched.draft_max_sequences = p.get_int("--draft-max-streams", 4);
  if (sched.draft_max_sequences < 0) fail("--draft-max-streams must be >= 0");
  sched.draft_min_acceptance = draft_min_accept_from_args(p);
  sched.draft_max_tokens = draft_max_tokens_from_args(p);
  if (sched.max_sequences < 1 || sched.max_context < 2 || sched.max_queue < 0 || sched.prefill_chunk < 1 ||
      sched.prefill_chunk_idle < 1 || sched.page_tokens < 1)
    fail("--parallel, --ctx, --prefill-chunk, --prefill-chunk-idle and --page-tokens must be positive, --queue >= 0");
  so.limits.max_tokens = sched.max_context;
  // Every admitted or queued request holds a connection thread while it waits; leave room for the rest.
  so.http_threads = static_cast<int>(http_threads > 0 ? http_threads : std::max<int64_t>(64, sched.max_sequences + sched.max_queue + 16));

  ModelSession s = open_model_session(model_path, static_cast<int>(p.get_int("--threads", 0)), true, !p.has("--no-repack"),
                                      sched.draft == DraftMode::kMtp, mtp_from_args(p, draft), gpu_from_args(p));
  if (!s.has_tokenizer()) fail(model_path, ": the model has no tokenizer; the server needs one");
  if (!so.chat_format && s.model->config.has_dsa()) {  // DeepSeek-V3.2 ships an encoder, not a template
    bool recognized = false;
    const ChatFormat f = chat_format_of(s, &recognized);
    if (f == ChatFormat::kDeepSeekV32) so.chat_format = f;
  }
  if (s.model->config.eos_token_id) so.stop_token_ids.push_back(static_cast<int32_t>(*s.model->config.eos_token_id));
  if (s.tokenizer->eos_id() >= 0 && (so.stop_token_ids.empty() || so.stop_token_ids[0] != s.tokenizer->eos_id()))
    so.stop_token_ids.push_back(s.tokenizer->eos_id());

  if (auto f = p.get("--prefix-cache-file")) {
    if (!sched.prefix_cache) fail("--prefix-cache-file needs the prefix cache (drop --no-prefix-cache)");
    sched.prefix_cache_file = *f;
    sched.prefix_cache_save_seconds = p.get_double("--prefix-cache-save-s", 300);
    if (sched.prefix_cache_save_seconds < 0) fail("--prefix-cache-save-s must be >= 0");
    sched.prefix_cache_fingerprint = mix64(weights_fingerprint(s.model->config, s.model->weights) ^ fnv1a64(build_id()));
  }

  {  // how Ollama's /api/tags and /api/show describe the model
    std::map<std::string, uint64_t> bytes_by_type;
    for (const WeightRef& r : weight_views(s.model->weights)) {
      so.model_info.parameters += r.view->numel();
      bytes_by_type[dtype_name(plain_of(r.view->dtype))] += r.view->nbytes;
    }
    std::string most;
    for (const auto& [type, bytes] : bytes_by_type)
      if (most.empty() || bytes > bytes_by_type[most]) most = type;
    for (char& ch : most) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    so.model_info.quantization = most;
    so.model_info.size_bytes = static_cast<int64_t>(s.model->weight_bytes);
    so.model_info.model_info = s.model->config.to_json();
  }

  Scheduler scheduler(*s.transformer, sched);
  if (!sched.prefix_cache_file.empty()) {
    const PrefixFileReport& r = scheduler.prefix_file_loaded();
    if (r.entries > 0)
      std::fprintf(stderr, "dsinfer serve: prefix cache: %lld entries (%lld tokens) read from %s%s%s\n",
                   static_cast<long long>(r.entries), static_cast<long long>(r.tokens), sched.prefix_cache_file.c_str(),
                   r.skipped.empty() ? "" : "; ", r.skipped.c_str());
    else
      std::fprintf(stderr, "dsinfer serve: prefix cache: nothing read from %s (%s)\n", sched.prefix_cache_file.c_str(),
                   r.skipped.c_str());
  }
  server::HttpServer http(so, scheduler, *s.tokenizer);
  const int port = http.bind();
  const double kv_mb = static_cast<double>(scheduler.metrics().kv_pages_total) * sched.page_tokens *
                       LatentKvCache::bytes_per_token(s.model->config.num_hidden_layers +
                                                          (sched.draft == DraftMode::kMtp ? s.model->config.num_nextn_predict_layers : 0),
                                                      s.model->config.cache_row_dim(), sched.kv_dtype) /
                       (1 << 20);
  const std::string drafting =
      sched.draft == DraftMode::kNone
          ? ""
          : cat(", drafting with ", draft == "mtp" ? "the MTP module" : "prompt lookup", " (up to ",
                sched.draft_max_tokens, " tokens, while <= ", sched.draft_max_sequences, " sequences decode)");
  std::fprintf(stderr, "dsinfer serve: %s (%s chat format) on http://%s:%d — %lld parallel sequences x %lld tokens, KV cache %lld MiB%s%s\n",
               so.model_name.c_str(), chat_format_name(http.chat_format()), so.host.c_str(), port,
               static_cast<long long>(sched.max_sequences), static_cast<long long>(sched.max_context),
               static_cast<long long>(kv_mb), drafting.c_str(), so.api_key.empty() ? "" : ", API key required");

  std::atomic<bool> serving_done{false}, watcher_done{false};
  std::thread watcher([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (!serving_done) std::fprintf(stderr, "dsinfer serve: signal %d, shutting down (in-flight generations are cancelled)\n", sig);
    http.set_shutting_down();
    scheduler.shutdown(true);  // ends every stream with a finish chunk and [DONE] ...
    http.drain(10.0);          // ... which the clients get before the server stops
    http.stop();
    watcher_done = true;
  });
  http.run();
  serving_done = true;
  if (!watcher_done) pthread_kill(watcher.native_handle(), SIGTERM);  // wakes the watcher if run() ended on its own
  watcher.join();
  scheduler.shutdown(true);
  if (!sched.prefix_cache_file.empty()) {
    const PrefixFileReport r = scheduler.prefix_file_saved();
    if (r.skipped.empty())
      std::fprintf(stderr, "dsinfer serve: prefix cache: %lld entries (%lld tokens, %.1f MB) written to %s\n",
                   static_cast<long long>(r.entries), static_cast<long long>(r.tokens), r.bytes / 1e6,
                   sched.prefix_cache_file.c_str());
    else
      std::fprintf(stderr, "dsinfer serve: prefix cache not written: %s\n", r.skipped.c_str());
  }
  return 0;
}

}  // namespace dsinfer::cli
