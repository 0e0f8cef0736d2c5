#pragma once
// A small option parser for the subcommands: "-m X", "--model X", "--model=X", flags, positionals.
// Unknown options and missing or malformed values are Errors naming the option.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/gpu_placement.h"
#include "model/kv_cache.h"
#include "runtime/sampler.h"

namespace dsinfer::cli {

class ArgParser {
 public:
  // value_opts: options that take a value; flags: options that do not. Aliases map short to long names.
  ArgParser(const Args& args, const std::set<std::string>& value_opts, const std::set<std::string>& flags,
            const std::map<std::string, std::string>& aliases = {});

  bool has(const std::string& opt) const { return values_.count(opt) || flags_.count(opt); }
  std::optional<std::string> get(const std::string& opt) const;
  std::string require(const std::string& opt) const;
  int64_t get_int(const std::string& opt, int64_t def) const;
  double get_double(const std::string& opt, double def) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positionals_;
};

// The sampling options every generating command takes (--temp --top-k --top-p --min-p --repeat-penalty
// --presence-penalty --frequency-penalty --seed), over the command's defaults; validated.
const std::set<std::string>& sampling_options();
SamplingParams sampling_from_args(const ArgParser& p, SamplingParams defaults);

// --kv-dtype f32|f16 (default f32): how the latent KV cache stores its values.
DType kv_dtype_from_args(const ArgParser& p);
inline constexpr const char* kKvDTypeHelp =
    "--kv-dtype f16 stores the latent KV cache in float16: half the memory per token and half the cache read\n"
    "per decoded token at long contexts, at ~1e-3 relative rounding of each cached value (default f32: exact).";

// Speculative decoding, as run, chat and serve take it: --draft mtp|lookup|none (default none);
// --draft-min-accept R in [0, 1] (default 0.5, runtime/drafter.h DraftGate); --mtp-from HF_DIR (only with
// --draft mtp; "" when absent).
std::string draft_from_args(const ArgParser& p);
double draft_min_accept_from_args(const ArgParser& p);
std::string mtp_from_args(const ArgParser& p, const std::string& draft);
// --draft-max N in [1, 16]: the longest draft a step verifies (default 1; MTP drafts one token anyway). On a
// CPU each drafted token of a MoE model costs ~0.5 of a step (bench --spec), so longer drafts pay only
// when nearly all of them come true (copying text).
int64_t draft_max_tokens_from_args(const ArgParser& p);

// --split-max-mb MB (convert, repack): bytes per output part, 0 = one file; Error when negative.
uint64_t split_bytes_from_args(const ArgParser& p);

// Hybrid CPU+GPU (model/gpu_placement.h): the flag --gpu, with the value options --gpu-device N (default 0),
// --gpu-dtype auto|f32|bf16 (default auto) and --gpu-expert-tokens N (GpuOptions::expert_tokens), which are
// Errors without --gpu.
const std::set<std::string>& gpu_options();  // the value options
GpuOptions gpu_from_args(const ArgParser& p);
inline constexpr const char* kGpuHelp =
    "--gpu: hybrid CPU+GPU — the weights every token reads (attention, dense and shared-expert MLPs, output head)\n"
    "go to the GPU (--gpu-device N, default 0), the routed experts stay in RAM for the CPU; --gpu-dtype f32 gives the\n"
    "CPU reference path's products, bf16 half the GPU memory, auto (default) f32 when it fits. A batch of at least\n"
    "--gpu-expert-tokens N tokens (default 128; 0: never) runs the routed experts on the GPU too, streaming their\n"
    "weights over PCIe (float and GGML block types; not block-FP8).";

// "1,2,3" -> {1,2,3}; Error on anything else.
std::vector<int32_t> parse_id_list(const std::string& s);

}  // namespace dsinfer::cli
