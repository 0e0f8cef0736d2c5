// dsinfer: run DeepSeek-V2/V3/R1-architecture models on the CPU.

#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>

#include "cli/commands.h"
#include "util/build_info.h"
#include "util/error.h"

namespace {

const char* kUsage =
    "usage: dsinfer <command> [options]\n"
    "\n"
    "commands:\n"
    "  run       -m MODEL -p TEXT -n N     generate text (or --ids 1,2,3 for a model without tokenizer)\n"
    "  chat      -m MODEL                  interactive chat in the terminal\n"
    "  serve     -m MODEL                  OpenAI-compatible HTTP server\n"
    "  info      -m MODEL [--json]         config, tensors, memory and KV-cache needs\n"
    "  logits    -m MODEL --ids 1,2 --out FILE   write float32 logits [n_ids][n_vocab]\n"
    "  synth     --preset NAME --out PATH  write a random-weight model (GGUF or HF directory)\n"
    "  tokenize  (-m MODEL | --tokenizer tokenizer.json) TEXT\n"
    "  bench     -m MODEL                  prefill/decode speed against the memory roofline\n"
    "  repack    -m MODEL.gguf -o OUT.gguf store the weights in the kernels' layout (faster loading)\n"
    "  convert   -m HF_DIR -o OUT.gguf     a Hugging Face checkpoint (BF16, FP8) or a GGUF as a quantized GGUF\n"
    "\n"
    "MODEL is a GGUF file (first split for split files) or a Hugging Face model directory.\n"
    "Run 'dsinfer <command> --help' for the options of a command; 'dsinfer --version' for the build.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace dsinfer::cli;
  const std::map<std::string, int (*)(const Args&)> commands = {
      {"run", cmd_run},         {"info", cmd_info},   {"logits", cmd_logits}, {"synth", cmd_synth},
      {"tokenize", cmd_tokenize}, {"chat", cmd_chat}, {"bench", cmd_bench},   {"serve", cmd_serve},
      {"repack", cmd_repack},   {"convert", cmd_convert},
  };
  if (argc >= 2 && !std::strcmp(argv[1], "--version")) {
    std::printf("dsinfer %s\n", dsinfer::build_id());
    return 0;
  }
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto it = commands.find(argv[1]);
  if (it == commands.end()) {
    std::fprintf(stderr, "dsinfer: unknown command '%s'\n\n%s", argv[1], kUsage);
    return 2;
  }
  try {
    return it->second(Args(argv + 2, argv + argc));
  } catch (const dsinfer::Error& e) {
    std::fprintf(stderr, "dsinfer: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dsinfer: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsinfer: internal error: %s\n", e.what());
    return 3;
  }
}
