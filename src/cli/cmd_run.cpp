// dsinfer run -m MODEL (-p TEXT | --ids 1,2,3) -n N: stream generated tokens, then speed figures.

#include <cstdio>
#include <iostream>

#include "cli/args.h"
#include "cli/model_session.h"
#include "cli/v4_commands.h"
#include "runtime/generator.h"
#include "runtime/json_schema.h"
#include "util/mapped_file.h"
#include "util/error.h"

namespace dsinfer::cli {

int cmd_run(const Args& args) {
  std::set<std::string> opts = {"--model", "--prompt", "--ids", "--n-predict", "--threads", "--ctx", "--kv-dtype", "--json-schema",
                                "--draft", "--draft-min-accept", "--mtp-from",
                                "--draft-max"};
  opts.insert(sampling_options().begin(), sampling_options().end());
  opts.insert(gpu_options().begin(), gpu_options().end());
  ArgParser p(args, opts,
              {"--help", "--no-bos", "--ignore-eos", "--no-repack", "--json", "--gpu"},
              {{"-m", "--model"}, {"-p", "--prompt"}, {"-n", "--n-predict"}, {"-t", "--threads"}, {"-s", "--seed"}});
  if (p.has("--help")) {
    std::puts(
        "usage: dsinfer run -m MODEL (-p TEXT | --ids 1,2,3) [-n N] [-t THREADS] [--ctx N]\n"
        "       [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--presence-penalty P]\n"
        "       [--frequency-penalty F] [--seed S]\n"
        "       [--no-bos] [--ignore-eos] [--no-repack] [--kv-dtype f32|f16] [--json | --json-schema FILE]\n"
        "       [--draft mtp|lookup [--draft-max N] [--draft-min-accept R] [--mtp-from HF_DIR]]\n"
        "       [--gpu [--gpu-device N] [--gpu-dtype auto|f32|bf16] [--gpu-expert-tokens N]]\n"
        "Greedy by default (--temp 0). Streams the text to stdout; speed figures go to stderr.\n"
        "--draft: speculative decoding — each step also checks a proposed next token, two tokens for one pass over\n"
        "the weights when it is right; greedy output is unchanged, sampled output keeps its distribution. mtp: the\n"
        "model's multi-token-prediction module (DeepSeek-V3/R1 ship one; loaded only with this option); lookup: the\n"
        "tokens that followed the last earlier occurrence of the latest tokens (any model; code edits, quotes),\n"
        "up to --draft-max N of them (default 1: each drafted token costs a MoE model ~half a step on a CPU, so\n"
        "longer drafts pay only when nearly all come true; MTP drafts one).\n"
        "Drafts are verified only while at least R of the recent ones came true (default 0.5, about where a\n"
        "MoE model's 2-token step pays on a CPU; 0: always); below that drafting pauses, still watching its hits.\n"
        "--mtp-from HF_DIR: the MTP module from the Hugging Face copy of the model (config.json and the safetensors\n"
        "shards that hold model.layers.61.*), for GGUF files made without it (llama.cpp's converter leaves it out).\n"
        "--json: the answer is one JSON object; --json-schema FILE: one that follows the JSON Schema in FILE (as the\n"
        "server's response_format json_object / json_schema); it ends when the object closes.\n"
        "Q4_0/Q8_0/Q5_0/Q5_1/Q2_K..Q6_K/IQ4_NL/IQ4_XS/IQ1_S/IQ1_M weights are repacked at load into the kernels' 8-row interleaved layout\n"
        "(same size but IQ1_S/IQ1_M +40 %, moved from the file mapping into anonymous memory); --no-repack keeps them in the file layout; `dsinfer repack` stores the\n"
        "repacked layout in a file once, which then loads without that pass.");
    std::puts(kGpuHelp);
    return 0;
  }
  if (is_v4_model_dir(p.require("--model"))) return run_v4(p, p.require("--model"));
  const std::string draft = draft_from_args(p);
  ModelSession s = open_model_session(p.require("--model"), static_cast<int>(p.get_int("--threads", 0)), true,
                                      !p.has("--no-repack"), draft == "mtp", mtp_from_args(p, draft),
                                      gpu_from_args(p));
  std::vector<int32_t> prompt;
  if (auto ids = p.get("--ids")) {
    prompt = parse_id_list(*ids);
  } else {
    const std::string text = p.require("--prompt");
    prompt = s.encode(text, !p.has("--no-bos"));
  }
  GenerateOptions opt;
  opt.max_new_tokens = p.get_int("--n-predict", 32);
  if (opt.max_new_tokens < 0) fail("-n must be >= 0");
  opt.sampling = sampling_from_args(p, SamplingParams{});  // greedy unless --temp
  if (!p.has("--ignore-eos") && s.model->config.eos_token_id) opt.stop_tokens.push_back(static_cast<int32_t>(*s.model->config.eos_token_id));
  const int64_t ctx = p.get_int("--ctx", static_cast<int64_t>(prompt.size()) + opt.max_new_tokens);
  if (ctx <= 0) fail("--ctx must be positive");
  opt.ctx = ctx;
  LatentKvCache cache = make_single_sequence_cache(s.model->config, ctx, kv_dtype_from_args(p), draft == "mtp");
  std::unique_ptr<Drafter> drafter;
  if (draft == "mtp") drafter = std::make_unique<MtpDrafter>(*s.transformer, cache);
  if (draft == "lookup") drafter = std::make_unique<LookupDrafter>();
  opt.drafter = drafter.get();
  opt.draft_min_acceptance = draft_min_accept_from_args(p);
  opt.draft_max_tokens = draft_max_tokens_from_args(p);
  std::unique_ptr<OutputConstraint> constraint;
  if (p.has("--json") || p.get("--json-schema")) {
    if (!s.has_tokenizer()) fail("--json and --json-schema need the model's tokenizer");
    std::shared_ptr<const JsonSchema> schema = JsonSchema::any_object();
    if (auto path = p.get("--json-schema")) {
      const auto text = read_text_file(*path);
      const auto j = nlohmann::ordered_json::parse(text, nullptr, false);
      if (j.is_discarded()) fail(*path, ": not valid JSON");
      schema = with_context(*path, [&] { return JsonSchema::compile(j); });
    }
    constraint = std::make_unique<JsonSchemaConstraint>(ConstraintVocab::from(*s.tokenizer), schema);
    opt.constraint = constraint.get();
  }

  if (s.has_tokenizer()) std::cout << s.decode(prompt) << std::flush;
  if (opt.max_new_tokens == 0) {
    std::cout << "\n";
    return 0;
  }
  auto stream = s.make_stream();
  const GenerateStats st = generate(*s.transformer, cache, prompt, opt, [&](int32_t id) {
    std::cout << stream(id) << std::flush;
    return true;
  });
  std::cout << stream(-1) << std::endl;  // flushed before the stats on stderr
  std::fprintf(stderr, "prompt: %lld tokens in %.3f s (%.2f tokens/s); generation: %lld tokens in %.3f s (%.2f tokens/s)\n",
               static_cast<long long>(st.prompt_tokens), st.prefill_seconds,
               st.prompt_tokens / std::max(st.prefill_seconds, 1e-9), static_cast<long long>(st.generated_tokens),
               st.decode_seconds, st.generated_tokens > 1 ? (st.generated_tokens - 1) / std::max(st.decode_seconds, 1e-9) : 0.0);
  if (drafter)
    std::fprintf(stderr, "draft (%s): %lld of %lld accepted (%.1f%%)\n", draft.c_str(), static_cast<long long>(st.accepted),
                 static_cast<long long>(st.drafted), st.drafted ? 100.0 * st.accepted / st.drafted : 0.0);
  return 0;
}

}  // namespace dsinfer::cli
