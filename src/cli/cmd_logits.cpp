// dsinfer logits -m MODEL --ids 1,2,3 --out FILE: float32 little-endian logits [n_ids][n_vocab].

#include <cstdio>

#include "cli/args.h"
#include "cli/v4_commands.h"
#include "model/loader.h"
#include "model/transformer.h"
#include "runtime/generator.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer::cli {

int cmd_logits(const Args& args) {
  ArgParser p(args, {"--model", "--ids", "--out", "--threads", "--attention", "--gpu-device", "--gpu-dtype", "--gpu-expert-tokens"},
              {"--help", "--gpu"},
              {{"-m", "--model"}, {"-t", "--threads"}, {"-o", "--out"}});
  if (p.has("--help")) {
    std::puts("usage: dsinfer logits -m MODEL --ids 1,2,3 --out FILE [-t N] [--attention absorbed|naive|auto]\n"
              "       [--gpu [--gpu-device N] [--gpu-dtype auto|f32|bf16] [--gpu-expert-tokens N]]\n"
              "Writes the logits of every position as raw little-endian float32 [n_ids][n_vocab].");
    return 0;
  }
  if (is_v4_model_dir(p.require("--model"))) return logits_v4(p, p.require("--model"));
  const std::vector<int32_t> ids = parse_id_list(p.require("--ids"));
  const std::string out = p.require("--out");
  LoadOptions lo;
  lo.gpu = gpu_from_args(p);
  auto model = load_model(p.require("--model"), lo);
  ThreadPool pool(static_cast<int>(p.get_int("--threads", 0)));
  Transformer tf(model->config, model->weights, pool);
  const std::string form = p.get("--attention").value_or("absorbed");
  if (form == "naive") tf.set_attention_form(AttentionForm::kNaive);
  else if (form == "absorbed") tf.set_attention_form(AttentionForm::kAbsorbed);
  else if (form != "auto") fail("--attention must be 'absorbed', 'naive' or 'auto'");
  LatentKvCache cache = make_single_sequence_cache(model->config, static_cast<int64_t>(ids.size()));
  const std::vector<float> logits = all_logits(tf, cache, ids);
  write_file(out, logits.data(), logits.size() * sizeof(float));
  std::fprintf(stderr, "wrote %zu x %lld logits to %s\n", ids.size(), static_cast<long long>(model->config.vocab_size),
               out.c_str());
  return 0;
}

}  // namespace dsinfer::cli
