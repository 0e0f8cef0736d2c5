// dsinfer synth --preset NAME --out PATH: random-weight models for tests, benchmarks and the default model.

#include <cstdio>

#include "cli/args.h"
#include "model/presets.h"
#include "model/synth.h"
#include "tensor/interleave.h"
#include "util/error.h"
#include "util/timer.h"

namespace dsinfer::cli {

int cmd_synth(const Args& args) {
  ArgParser p(args, {"--preset", "--out", "--dtype", "--seed", "--layers", "--tokenizer", "--threads", "--shard-mb",
                         "--mtp"},
              {"--help"}, {{"-o", "--out"}, {"-t", "--threads"}});
  if (p.has("--help")) {
    std::puts(
        "usage: dsinfer synth --preset NAME --out PATH [--dtype T] [--seed S] [--layers N] [--mtp N]\n"
        "                     [--tokenizer DIR|tokenizer.json|vocab.gguf] [--shard-mb MB] [-t N]\n"
        "Writes a model with RANDOM weights. PATH ending in .gguf: GGUF (dtype f32 f16 bf16 q8_0 q4_0 q5_0 q5_1\n"
        "q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs, or llama-quantize's mixes q2_K_M (its \"Q2_K\") q3_K_S q3_K_M\n"
        "q3_K_L q4_K_M q5_K_M iq4_nl_M iq4_xs_M, see `convert --help`; rows that do not fit a type's block get\n"
        "llama.cpp's fallback: q4_K -> q5_0, q5_K -> q5_1, q2_K / q3_K -> q4_0, iq4_xs -> iq4_nl, others -> q8_0,\n"
        "else f16); otherwise a Hugging Face directory (f32 f16 bf16 f8_e4m3 = block-FP8).\n"
        "The grid i-quants iq1_s iq1_m iq2_xxs iq2_xs iq2_s iq3_xxs iq3_s (unsloth's dynamic DeepSeek files) go to\n"
        "the routed experts only, as random codes at the drawn weights' scale (dsinfer has no quantizer for\n"
        "them); other matrices q4_K, output q6_K, experts' rows off the 256 grid iq4_nl.\n"
        "presets: tiny-v3 tiny-v3-k tiny-v2-lite tiny-v2 v2-lite v3 (--layers N shortens the real shapes;\n"
        "tiny-v3-k has 256-wide rows, so K-quants apply).\n"
        "--mtp N adds N multi-token-prediction modules (V3/R1 ship 1) for `run --mtp`; in GGUF they are\n"
        "llama.cpp's `blk.N.nextn.*` tensors, counted in block_count with deepseek2.nextn_predict_layers.");
    return 0;
  }
  ModelConfig c = preset_config(p.require("--preset"), p.get_int("--layers", 0));
  c.num_nextn_predict_layers = p.get_int("--mtp", c.num_nextn_predict_layers);
  if (c.num_nextn_predict_layers < 0 || c.num_nextn_predict_layers > 4) fail("--mtp: 0 to 4 modules, not ", c.num_nextn_predict_layers);
  SynthOptions opt;
  const std::string dt = p.get("--dtype").value_or("f32");
  const auto choice = parse_gguf_type(dt == "fp8" ? "f8_e4m3" : dt);
  if (!choice || is_interleaved(choice->dtype)) fail("--dtype: unknown type '", dt, "'");
  opt.dtype = choice->dtype;
  opt.mix = choice->mix;
  opt.seed = static_cast<uint64_t>(p.get_int("--seed", 1));
  opt.tokenizer = p.get("--tokenizer").value_or("");
  opt.threads = static_cast<int>(p.get_int("--threads", 0));
  opt.max_shard_bytes = static_cast<uint64_t>(p.get_int("--shard-mb", 0)) << 20;
  Timer timer;
  const auto files = synth_model(c, opt, p.require("--out"));
  for (const auto& f : files) std::fprintf(stderr, "wrote %s\n", f.c_str());
  std::fprintf(stderr, "done in %.1f s (random weights: the model's text is meaningless by construction)\n", timer.seconds());
  return 0;
}

}  // namespace dsinfer::cli
