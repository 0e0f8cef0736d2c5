// dsinfer repack -m MODEL.gguf -o OUT.gguf: the model with its quantized matmul weights stored in the
// kernels' R8 layouts (model/repack_file.h), so loading it needs no repacking pass.

#include <unistd.h>

#include <cstdio>

#include "cli/args.h"
#include "model/repack_file.h"
#include "util/error.h"

namespace dsinfer::cli {

int cmd_repack(const Args& args) {
  ArgParser p(args, {"--model", "--out", "--threads", "--split-max-mb"}, {"--help"},
              {{"-m", "--model"}, {"-o", "--out"}, {"-t", "--threads"}});
  if (p.has("--help")) {
    std::puts(
        "usage: dsinfer repack -m MODEL.gguf -o OUT.gguf [--split-max-mb MB] [-t N]\n"
        "Writes MODEL with its Q4_0 / Q5_0 / Q5_1 / Q8_0 / Q2_K / Q3_K / Q4_K / Q5_K / Q6_K / IQ4_NL / IQ4_XS / IQ1_S /\n"
        "IQ1_M matmul weights stored in the 8-row interleaved layouts run / chat / serve / bench otherwise build at\n"
        "every start (same values; Q3_K / Q4_K / Q5_K / IQ4_XS +1.5-4 % for their unpacked scales, IQ1_S / IQ1_M +40 % for their 2-bit values). Loading OUT then maps them as they are: no repacking\n"
        "pass, the weights stay file-backed (shared page cache), and models too large to repack in memory get\n"
        "the fast layout too. Everything else (metadata, tokenizer, norms, the embedding) is copied.\n"
        "OUT is for dsinfer only: llama.cpp refuses its tensor types. --split-max-mb writes\n"
        "OUT-00001-of-0000N.gguf parts as gguf-split does; MODEL may be the first part of a split set.");
    return 0;
  }
  const std::string in = p.require("--model"), out = p.require("--out");
  RepackFileOptions o;
  o.threads = static_cast<int>(p.get_int("--threads", 0));
  o.max_part_bytes = split_bytes_from_args(p);
  o.progress = ::isatty(STDERR_FILENO);
  const RepackFileReport r = write_repacked_gguf(in, out, o);
  for (const auto& f : r.files) std::fprintf(stderr, "wrote %s\n", f.c_str());
  std::fprintf(stderr, "%lld tensors repacked (%.1f MB), %lld copied", static_cast<long long>(r.tensors_repacked),
               r.bytes_repacked / 1e6, static_cast<long long>(r.tensors_copied));
  if (r.tensors_left_out > 0)
    std::fprintf(stderr, ", %lld of types dsinfer cannot read left out", static_cast<long long>(r.tensors_left_out));
  std::fprintf(stderr, " in %.1f s\n", r.seconds);
  return 0;
}

}  // namespace dsinfer::cli
