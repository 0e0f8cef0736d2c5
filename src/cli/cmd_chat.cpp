// dsinfer chat -m MODEL: an interactive chat in the terminal. Streams the answer, shows reasoning
// (<think>…</think>) dimmed, keeps the conversation (reusing the KV cache of the unchanged prefix each
// turn). Ctrl-C stops the answer being written (at the prompt it quits); Ctrl-D quits.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/args.h"
#include "cli/model_session.h"
#include "model/sequence.h"
#include "runtime/drafter.h"
#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/output_parser.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"

namespace dsinfer::cli {
namespace {

std::atomic<bool> g_generating{false};
std::atomic<bool> g_stop{false};

void on_sigint(int) {
  if (g_generating) {
    g_stop = true;
  } else {
    static const char msg[] = "\n";
    (void)!::write(1, msg, 1);
    std::_Exit(130);
  }
}

// Number of leading tokens two sequences share.
size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

int cmd_chat(const Args& args) {
  std::set<std::string> opts = {"--model", "--threads", "--ctx", "--n-predict", "--system", "--kv-dtype", "--draft",
                                "--draft-min-accept", "--mtp-from", "--draft-max"};
  opts.insert(sampling_options().begin(), sampling_options().end());
  opts.insert(gpu_options().begin(), gpu_options().end());
  ArgParser p(args, opts,
              {"--help", "--no-repack", "--think", "--gpu"}, {{"-m", "--model"}, {"-t", "--threads"}, {"-n", "--n-predict"}, {"-s", "--seed"}});
  if (p.has("--help")) {
    std::puts(
        "usage: dsinfer chat -m MODEL [--system TEXT] [-n MAX_ANSWER_TOKENS] [--ctx N] [--temp T] [--top-p P]\n"
        "       [--top-k K] [--min-p P] [--repeat-penalty R] [--presence-penalty P] [--frequency-penalty F]\n"
        "       [--seed S] [-t N] [--no-repack] [--kv-dtype f32|f16] [--think]\n"
        "       [--draft mtp|lookup [--draft-max N] [--draft-min-accept R] [--mtp-from HF_DIR]]\n"
        "       [--gpu [--gpu-device N] [--gpu-dtype auto|f32|bf16] [--gpu-expert-tokens N]]\n"
        "--think: a DeepSeek-V3.1 / V3.2 (hybrid) model reasons before it answers (R1 models always do).\n"
        "--draft: speculative decoding, as in dsinfer run.\n"
        "Type a message and press Enter. Ctrl-C stops an answer (at the prompt it quits), Ctrl-D quits,\n"
        "/clear starts a new conversation.");
    std::puts(kGpuHelp);
    return 0;
  }
  const std::string draft = draft_from_args(p);
  ModelSession s = open_model_session(p.require("--model"), static_cast<int>(p.get_int("--threads", 0)), true,
                                      !p.has("--no-repack"), draft == "mtp", mtp_from_args(p, draft),
                                      gpu_from_args(p));
  if (!s.tokenizer) fail("chat needs a model with a tokenizer");
  const ModelConfig& c = s.model->config;
  bool recognized = false;
  const ChatFormat format = chat_format_of(s, &recognized);
  if (!recognized)
    log_warn("the model's chat template is not one dsinfer knows; using the ", chat_format_name(format), " format");
  ChatRenderOptions render_options;
  render_options.thinking = p.has("--think");
  if (render_options.thinking && format != ChatFormat::kDeepSeekV31 && format != ChatFormat::kDeepSeekV32)
    log_warn("--think: only the hybrid formats (DeepSeek-V3.1, V3.2) switch thinking (this model's format is ",
             chat_format_name(format), ")");
  SamplingParams chat_defaults;  // DeepSeek's recommended chat sampling
  chat_defaults.temperature = 0.6f;
  chat_defaults.top_p = 0.95f;
  const SamplingParams sp = sampling_from_args(p, chat_defaults);
  const int64_t max_answer = p.get_int("--n-predict", 1024);
  const int64_t ctx = std::min<int64_t>(p.get_int("--ctx", 4096), c.max_position_embeddings > 0 ? c.max_position_embeddings : INT64_MAX);
  if (max_answer <= 0 || ctx <= 0) fail("-n and --ctx must be positive");

  LatentKvCache cache = make_single_sequence_cache(c, ctx, kv_dtype_from_args(p), draft == "mtp");
  const int seq = cache.create_sequence();
  if (!cache.reserve(seq, ctx)) fail("KV cache: cannot reserve ", ctx, " tokens");
  std::unique_ptr<Drafter> drafter;
  if (draft == "mtp") drafter = std::make_unique<MtpDrafter>(*s.transformer, cache);
  if (draft == "lookup") drafter = std::make_unique<LookupDrafter>();
  const double draft_min_acceptance = draft_min_accept_from_args(p);
  const int64_t draft_max_tokens = draft_max_tokens_from_args(p);
  std::vector<int32_t> cached;  // tokens whose latent rows are in the cache, in order
  std::vector<ChatMessage> history;
  if (auto sys = p.get("--system")) history.push_back({"system", *sys, "", std::nullopt, "", ""});
  uint64_t turn = 0;
  const bool tty = ::isatty(1);
  const char* dim = tty ? "\x1b[2m" : "";
  const char* reset = tty ? "\x1b[0m" : "";
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);

  std::string line;
  for (;;) {
    if (tty) std::cout << "\n> " << std::flush;
    if (!std::getline(std::cin, line)) break;  // Ctrl-D / end of input
    if (line.empty()) continue;
    if (line == "/clear") {
      history.erase(std::remove_if(history.begin(), history.end(), [](const ChatMessage& m) { return m.role != "system"; }),
                    history.end());
      continue;
    }
    if (line == "/exit" || line == "/quit") break;
    history.push_back({"user", line, "", std::nullopt, "", ""});
    const std::string prompt_text = render_chat(format, history, render_options);
    EncodeOptions eo;
    eo.add_bos = false;  // the template writes the BOS token itself
    std::vector<int32_t> prompt = s.tokenizer->encode(prompt_text, eo);
    if (static_cast<int64_t>(prompt.size()) + 1 >= ctx) {
      std::cout << "(the conversation no longer fits the context of " << ctx << " tokens; /clear to start over)\n";
      history.pop_back();
      continue;
    }
    // Reuse the cached rows of the unchanged prefix; recompute from the first difference (at least the
    // last prompt token, whose logits start the answer).
    const size_t keep = std::min(common_prefix(cached, prompt), prompt.size() - 1);
    GenerateOptions go;
    go.max_new_tokens = std::min<int64_t>(max_answer, ctx - static_cast<int64_t>(prompt.size()));
    go.sampling = sp;
    go.sampling.seed = sp.seed + turn++;  // each answer its own draws
    if (c.eos_token_id) go.stop_tokens.push_back(static_cast<int32_t>(*c.eos_token_id));
    go.ctx = ctx;
    go.drafter = drafter.get();
    go.draft_min_acceptance = draft_min_acceptance;
    go.draft_max_tokens = draft_max_tokens;

    ChatOutputOptions oo;
    oo.starts_in_reasoning = answer_starts_in_reasoning(prompt_text);
    ChatOutputParser parser(oo);
    StreamDecoder decoder(*s.tokenizer, true);
    bool in_reasoning = false;
    auto show = [&](const ChatDelta& d) {
      if (!d.reasoning.empty()) {
        if (!in_reasoning) std::cout << dim;
        in_reasoning = true;
        std::cout << d.reasoning;
      }
      if (!d.content.empty()) {
        if (in_reasoning) std::cout << reset << "\n";
        in_reasoning = false;
        std::cout << d.content;
      }
      for (const auto& tc : d.tool_calls) {  // the header, then the arguments piece by piece
        if (in_reasoning) std::cout << reset;
        in_reasoning = false;
        if (!tc.name.empty()) std::cout << "\n[tool call " << tc.name << "] ";
        std::cout << tc.arguments;
      }
      std::cout << std::flush;
    };
    g_stop = false;
    g_generating = true;
    std::vector<int32_t> answer_ids;
    continue_sequence(*s.transformer, cache, seq, static_cast<int64_t>(keep), prompt, go, [&](int32_t next) {
      answer_ids.push_back(next);
      if (!c.eos_token_id || next != *c.eos_token_id) show(parser.feed(decoder.push(next)));
      return !g_stop;
    });
    // The rows now cached: the prompt's and every answer token's but the last.
    cached = prompt;
    if (!answer_ids.empty()) cached.insert(cached.end(), answer_ids.begin(), answer_ids.end() - 1);
    g_generating = false;
    show(parser.feed(decoder.flush()));
    show(parser.finish());
    if (in_reasoning) std::cout << reset;
    if (g_stop) std::cout << " [stopped]";
    std::cout << "\n" << std::flush;
    ChatMessage answer{"assistant", parser.content(), parser.reasoning(), std::nullopt, "", ""};
    if (!parser.tool_calls().empty()) {
      answer.tool_calls.emplace();
      for (const auto& tc : parser.tool_calls()) answer.tool_calls->push_back({"", "function", tc.name, tc.arguments});
    }
    history.push_back(std::move(answer));
  }
  return 0;
}

}  // namespace dsinfer::cli
