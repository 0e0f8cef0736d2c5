// dsinfer convert -m HF_DIR -o OUT.gguf --dtype T: a Hugging Face checkpoint (BF16 or block-FP8) as
// llama.cpp's GGUF, quantized (model/convert.h).

#include <unistd.h>

#include <cstdio>

#include "cli/args.h"
#include "model/convert.h"
#include "tensor/interleave.h"
#include "util/error.h"
#include "util/timer.h"

namespace dsinfer::cli {

int cmd_convert(const Args& args) {
  ArgParser p(args, {"--model", "--out", "--dtype", "--threads", "--split-max-mb"}, {"--help", "--mtp", "--allow-requantize"},
              {{"-m", "--model"}, {"-o", "--out"}, {"-t", "--threads"}});
  if (p.has("--help")) {
    std::puts(
        "usage: dsinfer convert -m HF_DIR|MODEL.gguf -o OUT.gguf [--dtype T] [--mtp] [--split-max-mb MB] [-t N]\n"
        "                       [--allow-requantize]\n"
        "Writes a Hugging Face DeepSeek-V2/V3/R1 checkpoint (config.json + safetensors: BF16, F16, F32 or\n"
        "block-FP8 as DeepSeek-V3/R1 ship) as the GGUF llama.cpp reads: deepseek2 metadata, the tokenizer and\n"
        "chat template from tokenizer.json / tokenizer_config.json, split attn_k_b / attn_v_b, stacked experts.\n"
        "--dtype (default q8_0): f32 f16 bf16 q8_0 q4_0 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs (every\n"
        "matrix in the type, as llama-quantize --pure), or llama-quantize's mixes q2_K_M (its \"Q2_K\") q3_K_S\n"
        "q3_K_M q3_K_L q4_K_M q5_K_M iq4_nl_M iq4_xs_M (its \"IQ4_NL\", \"IQ4_XS\"). Quantized with llama.cpp's reference quantizers (the bytes llama-quantize writes without an\n"
        "importance matrix); rows that do not fit a type's block get llama.cpp's fallback type.\n"
        "--mtp keeps the multi-token-prediction module (blk.N.nextn.*) for `--draft mtp`; llama.cpp's converter\n"
        "leaves it out, and so does this one without --mtp. --split-max-mb writes OUT-0000i-of-0000N.gguf parts.\n"
        "A GGUF source (e.g. a BF16 GGUF) is requantized as llama-quantize does: same layout and tokenizer,\n"
        "tensors already in the written type copied; quantized tensors of another type need --allow-requantize.");
    return 0;
  }
  ConvertOptions o;
  const std::string dt = p.get("--dtype").value_or("q8_0");
  const auto choice = parse_gguf_type(dt);
  if (!choice || is_interleaved(choice->dtype) || choice->dtype == DType::F8_E4M3)
    fail("--dtype: '", dt, "' is not a GGUF type dsinfer writes");
  o.dtype = choice->dtype;
  o.mix = choice->mix;
  o.mtp = p.has("--mtp");
  o.allow_requantize = p.has("--allow-requantize");
  o.threads = static_cast<int>(p.get_int("--threads", 0));
  o.max_part_bytes = split_bytes_from_args(p);
  o.progress = ::isatty(STDERR_FILENO);
  Timer timer;
  const auto files = convert_to_gguf(p.require("--model"), p.require("--out"), o);
  for (const auto& f : files) std::fprintf(stderr, "wrote %s\n", f.c_str());
  std::fprintf(stderr, "done in %.1f s\n", timer.seconds());
  return 0;
}

}  // namespace dsinfer::cli
