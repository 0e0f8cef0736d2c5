// dsinfer info -m MODEL [--json]: config, tensor table, memory and latent KV-cache needs. Works on a
// directory holding only config.json, to plan memory before downloading a model.

#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/v4_commands.h"
#include "model/kv_cache.h"
#include "model/loader.h"
#include "model/repack.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer::cli {
namespace {

// Parameters (and bytes at a given dtype) of the weights a config implies.
struct Totals {
  int64_t params = 0;
  int64_t active_params = 0;  // per token: shared + K routed experts, attention, dense, head
};

Totals count_params(const ModelConfig& c) {
  Totals t;
  for (const WeightSpec& s : weight_specs(c, WeightLayout::kGguf)) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    t.params += n;
    const bool routed = s.canonical.find("moe.experts") != std::string::npos;
    t.active_params += routed ? n / c.n_routed_experts * c.num_experts_per_tok : n;
  }
  // The embedding is a row lookup, not streamed per token.
  t.active_params -= c.vocab_size * c.hidden_size;
  return t;
}

// Parameters of the MTP modules (spec 10), their copies of the embedding and head included (HF layout).
int64_t count_mtp_params(const ModelConfig& c) {
  int64_t n_all = 0;
  for (const WeightSpec& s : weight_specs(c, WeightLayout::kHf, true)) {
    if (s.layer < c.num_hidden_layers) continue;
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    n_all += n;
  }
  return n_all;
}

std::string gib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

int cmd_info(const Args& args) {
  ArgParser p(args, {"--model", "--ctx"}, {"--json", "--help"}, {{"-m", "--model"}});
  if (p.has("--help")) {
    std::puts("usage: dsinfer info -m MODEL [--json] [--ctx N]\n"
              "MODEL: GGUF file, HF model directory, or a directory with only config.json.");
    return 0;
  }
  const std::string path = p.require("--model");
  if (is_v4_model_dir(path)) return info_v4(p, path);
  const int64_t ctx = p.get_int("--ctx", 4096);
  const bool config_only = !is_gguf_path(path) && !file_exists(path + "/model.safetensors") &&
                           !file_exists(path + "/model.safetensors.index.json");
  std::unique_ptr<LoadedModel> model;
  ModelConfig c;
  if (config_only) {
    c = load_config(path);
  } else {
    model = load_model(path);
    c = model->config;
  }
  const Totals t = count_params(c);
  const int64_t latent = c.cache_row_dim(), mha = c.mha_cache_values_per_token();  // DSA: + indexer key
  const int64_t kv_bytes_per_token = LatentKvCache::bytes_per_token(c.num_hidden_layers, latent);

  nlohmann::json j;
  j["path"] = path;
  j["config"] = c.to_json();
  j["softmax_scale"] = c.softmax_scale();
  j["parameters"] = t.params;
  j["active_parameters_per_token"] = t.active_params;
  const int64_t mtp_params = count_mtp_params(c);
  if (c.num_nextn_predict_layers > 0) {
    bool in_file = false;
    for (const WeightSpec& s : model ? weight_specs(c, model->layout, true) : std::vector<WeightSpec>{})
      if (s.canonical.ends_with(".mtp.eh_proj")) in_file = model->find_tensor(s.file_name) != nullptr;
    j["mtp"] = {{"modules", c.num_nextn_predict_layers}, {"parameters", mtp_params}, {"in_file", in_file}};
  }
  j["kv_cache"] = {{"values_per_token_per_layer", latent},
                   {"mha_values_per_token_per_layer", mha},
                   {"ratio_to_mha", static_cast<double>(latent) / static_cast<double>(mha)},
                   {"bytes_per_token", kv_bytes_per_token},
                   {"bytes_per_token_f16", LatentKvCache::bytes_per_token(c.num_hidden_layers, latent, DType::F16)},
                   {"dtype", "f32"},
                   {"ctx", ctx},
                   {"bytes_at_ctx", kv_bytes_per_token * ctx}};
  if (model) {
    nlohmann::json tensors = nlohmann::json::array();
    std::map<std::string, int64_t> bytes_by_dtype;
    for (const WeightSpec& s : weight_specs(c, model->layout, true)) {
      const TensorView* tv = model->find_tensor(s.file_name);
      if (!tv) continue;
      tensors.push_back({{"name", s.file_name}, {"dtype", dtype_name(tv->dtype)}, {"shape", tv->shape}, {"bytes", tv->nbytes}});
      bytes_by_dtype[dtype_name(tv->dtype)] += static_cast<int64_t>(tv->nbytes);
    }
    j["tensors"] = tensors;
    j["bytes_by_dtype"] = bytes_by_dtype;
    j["weights_bytes"] = model->weight_bytes;
    const RepackPlan plan = plan_repack(model->weights);
    j["repack"] = {{"tensors", plan.tensors},
                   {"bytes", plan.bytes},
                   {"growth_bytes", plan.growth_bytes},
                   {"limit_bytes", default_repack_limit()}};
    j["r8_in_file"] = {{"weights", model->r8_tensors_in_file}, {"bytes", model->r8_bytes_in_file}};
    // Repacking (the default) adds its growth to the weights' resident bytes.
    const bool repacks = plan.bytes <= default_repack_limit();
    j["memory_bytes_at_ctx"] = static_cast<int64_t>(model->weight_bytes + (repacks ? plan.growth_bytes : 0)) +
                               kv_bytes_per_token * ctx;
    j["layout"] = model->layout == WeightLayout::kHf ? "hf" : model->layout == WeightLayout::kGguf ? "gguf" : "gguf-legacy-kv_b";
  } else {
    j["weights_bytes_bf16_estimate"] = t.params * 2;
  }
  if (p.has("--json")) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model: " << path << "\n" << c.summary();
  std::cout << "parameters: " << t.params << " (" << t.active_params << " active per token, embedding excluded)\n";
  if (c.num_nextn_predict_layers > 0)
    std::cout << "multi-token prediction: " << c.num_nextn_predict_layers << " module(s), " << mtp_params
              << " parameters (not counted above), "
              << (j["mtp"]["in_file"].get<bool>() ? "in the file: `dsinfer run --draft mtp` drafts with it\n"
                                                   : "not in the file\n");
  std::cout << "latent KV cache: " << latent << " values per token per layer (standard MHA would cache " << mha
            << ": " << static_cast<double>(mha) / latent << "x more); " << kv_bytes_per_token << " bytes per token, "
            << gib(static_cast<double>(kv_bytes_per_token) * ctx) << " at ctx " << ctx << " (half with --kv-dtype f16)\n";
  if (model) {
    std::cout << "tensors:\n";
    for (const auto& tj : j["tensors"]) {
      std::printf("  %-52s %-8s %-22s %12lld\n", tj["name"].get<std::string>().c_str(), tj["dtype"].get<std::string>().c_str(),
                  tj["shape"].dump().c_str(), static_cast<long long>(tj["bytes"].get<int64_t>()));
    }
    std::cout << "weights: " << gib(static_cast<double>(model->weight_bytes)) << "; resident with the KV cache at ctx "
              << ctx << " (and repacking): " << gib(j["memory_bytes_at_ctx"].get<double>()) << "\n";
    const auto& rp = j["repack"];
    if (model->r8_tensors_in_file == 0 || rp["tensors"].get<int64_t>() > 0) {  // (a repacked file: nothing to move)
      std::cout << "repacked at load by run/chat/serve/bench: " << rp["tensors"].get<int64_t>() << " tensors, "
                << gib(static_cast<double>(rp["bytes"].get<uint64_t>())) << " moved from the file mapping into anonymous memory"
                << " (" << gib(static_cast<double>(rp["growth_bytes"].get<uint64_t>())) << " more than in the file)"
                << (rp["bytes"].get<uint64_t>() > rp["limit_bytes"].get<uint64_t>() ? " (above 3/4 of RAM: skipped)" : "")
                << "\n";
    }
    if (model->r8_tensors_in_file > 0)
      std::cout << "stored in the file in the kernels' 8-row interleaved layout (dsinfer repack): " << model->r8_tensors_in_file
                << " weights, " << gib(static_cast<double>(model->r8_bytes_in_file)) << ", used as they are mapped\n";
  }
  return 0;
}

}  // namespace dsinfer::cli
