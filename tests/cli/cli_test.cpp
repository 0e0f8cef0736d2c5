// The dsinfer binary end to end: commands work, and bad input gives one clear error and a non-zero exit,
// never a crash.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/cuda/gpu.h"
#include "run_binary.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

using Result = testing::RunResult;

Result run(const std::string& args) { return testing::run_dsinfer(args); }

// A per-process directory, removed when the test program exits.
std::string tmp() {
  struct Dir {
    std::string path;
    Dir() {
      auto p = std::filesystem::temp_directory_path() / cat("dsinfer_cli_test_", ::getpid());
      std::filesystem::create_directories(p);
      path = p.string();
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir d;
  return d.path;
}

std::string tiny_gguf() {
  static const std::string path = [] {
    const std::string p = tmp() + "/tiny.gguf";
    EXPECT_EQ(run("synth --preset tiny-v3 --out " + p).exit_code, 0);
    return p;
  }();
  return path;
}

void expect_error(const std::string& args, const std::string& needle) {
  const Result r = run(args);
  EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << r.out;
  EXPECT_NE(r.out.find("dsinfer: error:"), std::string::npos) << r.out;
}

TEST(Cli, InfoOnTheRealDeepSeekV3ConfigReports576LatentValues) {
  const Result r = run(std::string("info --json -m ") + DSINFER_TEST_DATA + "/data/deepseek-v3");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_cache"]["values_per_token_per_layer"], 576);
  EXPECT_EQ(j["kv_cache"]["mha_values_per_token_per_layer"], 128 * (192 + 128));
  EXPECT_NEAR(j["kv_cache"]["ratio_to_mha"].get<double>(), 576.0 / 40960.0, 1e-9);
  EXPECT_NEAR(j["parameters"].get<double>(), 671e9, 2e9);           // 671B without the MTP module
  EXPECT_NEAR(j["active_parameters_per_token"].get<double>(), 37e9, 1e9);
  EXPECT_NEAR(j["softmax_scale"].get<double>(), 0.135233779, 1e-8);  // spec 4.3
}

TEST(Cli, RunLogitsAndInfoWorkOnASynthesizedModel) {
  const std::string m = tiny_gguf();
  Result r = run("run -m " + m + " --ids 1,2,3 -n 5");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos);
  r = run("logits -m " + m + " --ids 5,6,7 --out " + tmp() + "/l.bin");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(std::filesystem::file_size(tmp() + "/l.bin"), 3u * 256u * 4u);
  r = run("info -m " + m + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_cache"]["values_per_token_per_layer"], 16 + 8);
  EXPECT_GT(j["tensors"].size(), 20u);
}

TEST(Cli, GreedyRunIsDeterministicAndSeededSamplingReproduces) {
  const std::string m = tiny_gguf();
  EXPECT_EQ(run("run -m " + m + " --ids 4,5 -n 12").out.substr(0, 60), run("run -m " + m + " --ids 4,5 -n 12").out.substr(0, 60));
  const std::string s = "run -m " + m + " --ids 4,5 -n 12 --temp 0.9 --top-p 0.95 --seed 11";
  const std::string a = run(s).out, b = run(s).out;
  EXPECT_EQ(a.substr(0, a.find("prompt:")), b.substr(0, b.find("prompt:")));
  // OpenAI's penalties: accepted in range (a penalty changes nothing before a token repeats), refused outside
  const std::string g = "run -m " + m + " --ids 4,5 -n 12";
  EXPECT_EQ(run(g + " --presence-penalty 0 --frequency-penalty 0").exit_code, 0);
  EXPECT_EQ(run(g + " --presence-penalty -2 --frequency-penalty 2").exit_code, 0);
  expect_error(g + " --frequency-penalty 3", "frequency_penalty must be in [-2, 2]");
  expect_error(g + " --presence-penalty x", "--presence-penalty");
}

TEST(Cli, QuantizedModelsAreRepackedAtLoadUnlessNoRepack) {
  const std::string m = tmp() + "/tiny-q4_0.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --dtype q4_0 --out " + m).exit_code, 0);
  Result r = run("run -m " + m + " --ids 1,2,3 -n 8");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("repacked "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MB now in anonymous memory"), std::string::npos) << r.out;
  r = run("run -m " + m + " --ids 1,2,3 -n 8 --no-repack");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("repacked "), std::string::npos) << r.out;
  EXPECT_EQ(run("run -m " + tiny_gguf() + " --ids 1,2 -n 2").out.find("repacked "), std::string::npos);  // f32
  const auto info = nlohmann::json::parse(run("info --json -m " + m).out);
  EXPECT_GT(info["repack"]["tensors"].get<int64_t>(), 0);
  EXPECT_GT(info["repack"]["bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(nlohmann::json::parse(run("info --json -m " + tiny_gguf()).out)["repack"]["tensors"], 0);
  expect_error("synth --preset tiny-v3 --dtype q4_0_r8 --out " + tmp() + "/r8.gguf", "q4_0_r8");
}

// dsinfer repack: the stored layout runs as load-time repacking does, with no repacking pass at load.
TEST(Cli, RepackWritesAFileThatLoadsWithoutRepacking) {
  const std::string m = tmp() + "/tiny-q8_0-for-repack.gguf", out = tmp() + "/tiny-q8_0-r8.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --dtype q8_0 --out " + m).exit_code, 0);
  Result r = run("repack -m " + m + " -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("tensors repacked"), std::string::npos) << r.out;
  const Result plain = run("run -m " + m + " --ids 1,2,3 -n 12 --ignore-eos");
  r = run("run -m " + out + " --ids 1,2,3 -n 12 --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("repacked "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stored in the 8-row interleaved layout (dsinfer repack)"), std::string::npos) << r.out;
  auto tokens = [](const std::string& out) { return out.substr(out.find('['), out.rfind(']') - out.find('[') + 1); };
  EXPECT_EQ(tokens(r.out), tokens(plain.out));
  const auto info = nlohmann::json::parse(run("info --json -m " + out).out);
  EXPECT_EQ(info["repack"]["tensors"], 0);
  EXPECT_GT(info["r8_in_file"]["weights"].get<int64_t>(), 0);
  const Result b = run("bench --json -m " + out + " -p 8 -n 4 -t 1 --bw-mb 8");
  ASSERT_EQ(b.exit_code, 0) << b.out;
  const auto bj = nlohmann::json::parse(b.out.substr(b.out.find('{')));
  EXPECT_EQ(bj["repacked_bytes"], 0);
  EXPECT_EQ(bj["r8_in_file_bytes"], info["r8_in_file"]["bytes"]);
  expect_error("repack -m " + out + " -o " + tmp() + "/again.gguf", "nothing to repack");
  expect_error("repack -m " + tmp() + "/absent.gguf -o " + tmp() + "/x.gguf", "absent.gguf");
  expect_error("repack -m " + m, "--out");
}

// dsinfer convert: the transformers-made golden checkpoint as a quantized GGUF that runs, with its config.
TEST(Cli, ConvertWritesAGgufOfAHuggingFaceCheckpoint) {
  const std::string golden = std::string(DSINFER_TEST_DATA) + "/golden/tiny-v3", out = tmp() + "/golden-q8_0.gguf";
  Result r = run("convert -m " + golden + " -o " + out + " --dtype q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
  const auto info = nlohmann::json::parse(run("info --json -m " + out).out);
  const auto hf = nlohmann::json::parse(run("info --json -m " + golden).out);
  EXPECT_EQ(info["config"]["num_hidden_layers"], hf["config"]["num_hidden_layers"]);
  EXPECT_EQ(info["config"]["topk_method"], hf["config"]["topk_method"]);
  EXPECT_EQ(info["bytes_by_dtype"].count("q8_0"), 1u) << info["bytes_by_dtype"].dump();
  r = run("run -m " + out + " --ids 1,2,3 -n 4");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  expect_error("convert -m " + golden + " -o " + tmp() + "/x.gguf --dtype q4_0_r8", "--dtype");
  expect_error("convert -m " + out + " -o " + tmp() + "/x.gguf --dtype q4_0", "is q8_0 already");
  r = run("convert -m " + out + " -o " + tmp() + "/requantized.gguf --dtype q4_0 --allow-requantize");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  expect_error("convert -m " + tmp() + "/absent -o " + tmp() + "/x.gguf", "or a GGUF file");
  expect_error("convert -m " + golden + " -o " + tmp() + "/x.gguf --mtp", "num_nextn_predict_layers = 0");
}

TEST(Cli, BenchJsonReportsSpeedRooflineAndRepacking) {
  const std::string m = tmp() + "/tiny-bench-q4_0.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --dtype q4_0 --out " + m).exit_code, 0);
  // -d 70 -b 2: the second stream shares the first one's full 64-token cache page and prefills the rest.
  for (const char* extra : {"", " --no-repack --mla-form naive -b 3", " -d 70 --kv-dtype f16 -b 2"}) {
    const Result r = run("bench -m " + m + " -p 8 -n 4 --bw-mb 8 --json" + std::string(extra));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
    for (const char* k : {"prefill_tokens_per_s", "decode_tokens_per_s", "bytes_per_token", "bandwidth_gb_s",
                          "roofline_fraction"})
      EXPECT_GT(j[k].get<double>(), 0.0) << k;
    const std::string e = extra;
    EXPECT_EQ(j["repacked_bytes"].get<uint64_t>() > 0, e.find("--no-repack") == std::string::npos) << extra;
    EXPECT_EQ(j["mla_form"], e.find("naive") == std::string::npos ? "auto" : "naive");
    if (e.find("-b ") == std::string::npos) {
      EXPECT_FALSE(j.contains("batch_decode_tokens_per_s"));
    } else {  // -b S: S sequences decoding together
      EXPECT_EQ(j["batch_streams"], e.find("-b 3") == std::string::npos ? 2 : 3);
      EXPECT_GT(j["batch_decode_tokens_per_s"].get<double>(), 0.0);
    }
    // A decoded token reads its cache rows: (depth + 1.5 on average over -n 4) x layers x latent values.
    const auto cfg = nlohmann::json::parse(run("info --json -m " + m).out)["config"];
    const double row_bytes = cfg["num_hidden_layers"].get<double>() *
                             (cfg["kv_lora_rank"].get<double>() + cfg["qk_rope_head_dim"].get<double>()) *
                             (e.find("f16") == std::string::npos ? 4 : 2);
    const int depth = e.find("-d 70") == std::string::npos ? 0 : 70;
    EXPECT_EQ(j["n_depth"], depth);
    EXPECT_DOUBLE_EQ(j["kv_bytes_per_token"].get<double>(), (depth + 1.5) * row_bytes) << extra;
  }
  {  // DeepSeek Sparse Attention (tiny-v32: index_topk 8, an indexer key of 64 values): a decoded token
     // reads every cached indexer key but the latent part of only 8 rows.
    const std::string v32 = tmp() + "/tiny-bench-v32.gguf";
    ASSERT_EQ(run("synth --preset tiny-v32 --out " + v32).exit_code, 0);
    const Result r = run("bench -m " + v32 + " -p 8 -n 4 -d 70 --bw-mb 8 --json");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
    EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(j["kv_bytes_per_token"].get<double>(), 3 * 4 * (8 * 24 + 71.5 * 64));
  }
  expect_error("bench -m " + m + " -p 8 -n 4 --mla-form sideways", "--mla-form");
  expect_error("bench -m " + m + " -p 8 -n 4 -b 0", "--batch");
  expect_error("bench -m " + m + " -p 8 -n 4 -d -1", "-d");
  expect_error("bench -m " + m + " -p 8 -n 4 -d 100000000000", "more than this machine's");
  const Result f16 = run("run -m " + m + " --ids 1,2,3 -n 6 --kv-dtype f16");
  EXPECT_EQ(f16.exit_code, 0) << f16.out;
  expect_error("run -m " + m + " --ids 1,2,3 -n 6 --kv-dtype f8", "--kv-dtype");
}

// Hybrid CPU+GPU (--gpu): bad options are refused whatever the machine; without a GPU each model command
// says so; with one, greedy decoding is the CPU's and bench reports what the GPU holds.
TEST(Cli, GpuOptionsWithAndWithoutAGpu) {
  const std::string m = tiny_gguf();
  const std::string r = "run -m " + m + " --ids 1,2,3 -n 12";
  expect_error(r + " --gpu-dtype bf16", "--gpu-dtype needs --gpu");
  expect_error(r + " --gpu-device 0", "--gpu-device needs --gpu");
  expect_error(r + " --gpu --gpu-dtype fp8", "expected f32 or bf16");
  expect_error(r + " --gpu --gpu-device -1", "--gpu-device must be in [0, 255]");
  std::string why;
  if (gpu::list_devices(&why).empty()) {
    for (const std::string& cmd : {r + " --gpu", "logits -m " + m + " --ids 1,2 --out " + tmp() + "/g.bin --gpu",
                                   "bench -m " + m + " -p 8 -n 4 --bw-mb 8 --gpu", "serve -m " + m + " --port 0 --gpu"})
      expect_error(cmd, "CUDA");
    return;
  }
  const Result cpu = run(r), hybrid = run(r + " --gpu");
  ASSERT_EQ(hybrid.exit_code, 0) << hybrid.out;
  EXPECT_NE(hybrid.out.find("placed as f32"), std::string::npos) << hybrid.out;
  const auto tokens = [](const std::string& out) {  // "[4][63]...": the ids of a model without a tokenizer
    const size_t at = out.rfind("[", out.find("prompt:"));
    const size_t begin = out.rfind('\n', at) == std::string::npos ? 0 : out.rfind('\n', at) + 1;
    return out.substr(begin, out.find("prompt:") - begin);
  };
  EXPECT_GE(tokens(cpu.out).size(), 12u * 3) << cpu.out;
  EXPECT_EQ(tokens(hybrid.out), tokens(cpu.out));
  const Result b = run("bench -m " + m + " -p 8 -n 4 --bw-mb 8 --json --gpu --gpu-dtype bf16");
  ASSERT_EQ(b.exit_code, 0) << b.out;
  const auto j = nlohmann::json::parse(b.out.substr(b.out.find('{')));
  EXPECT_EQ(j["gpu_weight_dtype"], "bf16");
  EXPECT_GT(j["gpu_weight_bytes"].get<double>(), 0.0);
  EXPECT_GT(j["gpu_waits_per_token"].get<double>(), 0.0);
}

// Rows that do not fill a 256-value super-block get llama.cpp's fallback types (llama-quant.cpp), as
// real DeepSeek-V2-Lite K-quant files do for its 1408-wide expert rows — and those files run.
TEST(Cli, DsinferIsaCapsTheKernelSetAndWarnsOnUnknownValues) {
  const std::string m = tiny_gguf(), args = "bench -m " + m + " -p 4 -n 2 --bw-mb 8";
  Result r = testing::run_dsinfer(args, "DSINFER_ISA=scalar");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("scalar kernels"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("DSINFER_ISA"), std::string::npos) << r.out;
  r = testing::run_dsinfer(args, "DSINFER_ISA=avx-2");  // a typo: said, then ignored
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("DSINFER_ISA=avx-2 is not one of scalar, avx2, avxvnni, avx512"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("DSINFER_ISA"), r.out.rfind("DSINFER_ISA")) << "warned more than once:\n" << r.out;
}

TEST(Cli, SynthKQuantsFallBackAsLlamaCppDoes) {
  const std::pair<const char*, const char*> cases[] = {{"q4_K", "q5_0"}, {"q5_K", "q5_1"}, {"q6_K", "q8_0"}};
  for (const auto& [want, fallback] : cases) {
    const std::string m = tmp() + "/tiny-fallback-" + want + ".gguf";
    ASSERT_EQ(run("synth --preset tiny-v3 --dtype " + std::string(want) + " --out " + m).exit_code, 0);
    const auto bytes = nlohmann::json::parse(run("info --json -m " + m).out)["bytes_by_dtype"];
    EXPECT_TRUE(bytes.contains(fallback)) << want << ": " << bytes.dump();  // tiny rows: none is a 256-multiple
    EXPECT_FALSE(bytes.contains(want)) << bytes.dump();
    // Their R8 forms keep the file's bytes per value: repacking them costs no memory.
    const auto info = nlohmann::json::parse(run("info --json -m " + m).out);
    EXPECT_GT(info["repack"]["bytes"].get<uint64_t>(), 0u) << info["repack"].dump();
    EXPECT_EQ(info["repack"]["growth_bytes"].get<uint64_t>(), 0u) << info["repack"].dump();
    for (const char* extra : {"", " --no-repack"}) {
      const Result r = run("run -m " + m + " --ids 1,2,3 -n 6" + std::string(extra));
      EXPECT_EQ(r.exit_code, 0) << want << extra << ": " << r.out;
    }
  }
}

TEST(Cli, SynthWritesLlamaCppsKMMixes) {
  const std::string m = tmp() + "/tiny-q5_K_M.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --dtype q5_K_M --out " + m).exit_code, 0);
  // tiny rows fit no super-block: Q6_K's fallback (Q8_0) for the output, Q5_K's (Q5_1) elsewhere
  const auto bytes = nlohmann::json::parse(run("info --json -m " + m).out)["bytes_by_dtype"];
  EXPECT_TRUE(bytes.contains("q8_0")) << bytes.dump();
  EXPECT_TRUE(bytes.contains("q5_1")) << bytes.dump();
  expect_error("synth --preset tiny-v3 --dtype q4_0_M --out " + tmp() + "/x.gguf", "q4_0_M");
  expect_error("synth --preset tiny-v3 --dtype q4_K_M --out " + tmp() + "/x-hf", "GGUF");
}

TEST(Cli, MissingAndCorruptFilesAreClearErrors) {
  expect_error("info -m /nonexistent/model.gguf", "/nonexistent/model.gguf");
  expect_error("run -m /nonexistent/dir --ids 1", "/nonexistent/dir");
  const std::string bad = tmp() + "/bad.gguf";
  write_file(bad, "NOTAGGUF-FILE-AT-ALL-0123456789", 31);
  expect_error("info -m " + bad, "bad.gguf");
  // Truncated: the first half of a valid file.
  const std::string full = read_text_file(tiny_gguf());
  const std::string half = tmp() + "/half.gguf";
  write_file(half, full.data(), full.size() / 2);
  expect_error("run -m " + half + " --ids 1", "half.gguf");
}

TEST(Cli, WrongShapesAndBadConfigFieldsNameTheCulprit) {
  const std::string dir = tmp() + "/hf";
  ASSERT_EQ(run("synth --preset tiny-v3 --out " + dir).exit_code, 0);
  const std::string cfg_path = dir + "/config.json";
  const auto original = nlohmann::json::parse(read_text_file(cfg_path));
  auto write_cfg = [&](const nlohmann::json& j) {
    const std::string t = j.dump();
    write_file(cfg_path, t.data(), t.size());
  };
  auto j = original;
  j["kv_lora_rank"] = 32;  // tensors were written for 16
  write_cfg(j);
  expect_error("run -m " + dir + " --ids 1", "kv_a_proj_with_mqa");
  j = original;
  j["scoring_func"] = "relu";
  write_cfg(j);
  expect_error("run -m " + dir + " --ids 1", "scoring_func");
  j = original;
  j["num_experts_per_tok"] = 99;
  write_cfg(j);
  expect_error("run -m " + dir + " --ids 1", "num_experts_per_tok");
  write_file(cfg_path, "{\"model_type\": ", 15);
  expect_error("run -m " + dir + " --ids 1", "config.json");
  write_cfg(original);
  std::filesystem::remove(dir + "/model.safetensors");
  expect_error("run -m " + dir + " --ids 1", "safetensors");
}

TEST(Cli, BadTokensContextAndOptionsAreRefused) {
  const std::string m = tiny_gguf();
  expect_error("run -m " + m + " --ids 1,999999", "999999");
  expect_error("run -m " + m + " --ids 1,x", "token id");
  expect_error("run -m " + m + " --ids 1,2,3,4,5 -n 10 --ctx 8", "context");
  expect_error("run -m " + m + " --ids 1 --bogus", "--bogus");
  expect_error("run -m " + m + " --ids 1 --top-p 2", "top_p");
  expect_error("run -m " + m + " -p hello", "tokenizer");
  expect_error("synth --preset nope --out " + tmp() + "/x.gguf", "nope");
}

// Speculative decoding from the command line: synth --mtp writes the module, info reports it, run --draft
// mtp / lookup print the same greedy text as plain decoding plus the acceptance, bench --spec prices it.
TEST(Cli, RunDraftsWithTheMtpModuleOrPromptLookup) {
  const std::string m = tmp() + "/tiny-mtp.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --mtp 1 --dtype q8_0 --out " + m).exit_code, 0);
  const auto info = nlohmann::json::parse(run("info --json -m " + m).out);
  EXPECT_EQ(info["mtp"]["modules"], 1);
  EXPECT_TRUE(info["mtp"]["in_file"].get<bool>()) << info["mtp"].dump();
  EXPECT_EQ(info["config"]["num_nextn_predict_layers"], 1);
  auto text = [](const std::string& out) {  // the generated ids: after the repacking note, before the figures
    const size_t from = out.find("\n[") + 1;
    return out.substr(from, out.find("prompt:") - from);
  };
  const Result plain = run("run -m " + m + " --ids 4,5,6 -n 40 --ignore-eos");
  ASSERT_EQ(plain.exit_code, 0) << plain.out;
  for (const char* d : {"mtp", "lookup"}) {
    const Result r = run("run -m " + m + " --ids 4,5,6 -n 40 --ignore-eos --draft " + d);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_EQ(text(r.out), text(plain.out)) << d;
    EXPECT_NE(r.out.find(cat("draft (", d, "): ")), std::string::npos) << r.out;
  }
  EXPECT_EQ(run("run -m " + m + " --ids 4,5 -n 8 --draft mtp --temp 0.8 --seed 3").exit_code, 0);
  const std::string bench = run("bench -m " + m + " -p 0 -n 4 --bw-mb 8 --spec --json").out;
  const auto b = nlohmann::json::parse(bench.substr(bench.find('{')));
  EXPECT_GT(b["spec_verify_cost"].get<double>(), 0.0) << b.dump();
  EXPECT_GT(b["spec_mtp_draft_cost"].get<double>(), 0.0) << b.dump();
  EXPECT_GT(b["spec_verify_cost_4_drafts"].get<double>(), 0.0) << b.dump();
  expect_error("run -m " + tiny_gguf() + " --ids 4,5 -n 4 --draft mtp", "num_nextn_predict_layers = 0");
  expect_error("run -m " + m + " --ids 4,5 -n 4 --draft eagle", "--draft: mtp, lookup or none");
  expect_error("run -m " + m + " --ids 4,5 -n 4 --draft lookup --draft-max 0", "--draft-max must be in [1, 16]");
  expect_error("run -m " + m + " --ids 4,5 -n 4 --draft lookup --draft-min-accept 2", "--draft-min-accept must be in [0, 1]");
  // A GGUF without the module takes it from the Hugging Face copy (same seed: the same model).
  const std::string hf = tmp() + "/tiny-mtp-hf";
  ASSERT_EQ(run("synth --preset tiny-v3 --mtp 1 --dtype bf16 --out " + hf).exit_code, 0);
  const std::string bare = tmp() + "/tiny-bare.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --dtype bf16 --out " + bare).exit_code, 0);
  const Result from = run("run -m " + bare + " --ids 4,5,6 -n 20 --ignore-eos --draft mtp --mtp-from " + hf);
  EXPECT_EQ(from.exit_code, 0) << from.out;
  EXPECT_EQ(text(from.out), text(run("run -m " + bare + " --ids 4,5,6 -n 20 --ignore-eos").out));
  expect_error("run -m " + bare + " --ids 4,5 -n 4 --mtp-from " + hf, "--mtp-from supplies the MTP module for --draft mtp");
  expect_error("synth --preset tiny-v3 --mtp 9 --out " + tmp() + "/x.gguf", "--mtp");

  // chat: two greedy turns (the second reuses the first's cache rows) print the same with and without drafting.
  const std::string mt = tmp() + "/tiny-mtp-tok.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --mtp 1 --tokenizer " + std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3 --out " + mt)
                .exit_code, 0);
  const std::string turns = tmp() + "/two-turns.txt";
  write_file(turns, "Hi\nAnd again\n", 13);
  auto chat = [&](const std::string& extra) {
    const Result r = run("chat -m " + mt + " -n 12 --temp 0 " + extra + " < " + turns);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r.out.substr(r.out.find("\n", r.out.find("repacked")) + 1);
  };
  const std::string plain_chat = chat("");
  EXPECT_GT(plain_chat.size(), 10u) << plain_chat;
  EXPECT_EQ(chat("--draft mtp --draft-min-accept 0"), plain_chat);
  EXPECT_EQ(chat("--draft lookup"), plain_chat);
}

TEST(Cli, ChatAndRunWithTheBundledDeepSeekV3Tokenizer) {
  const std::string m = tmp() + "/tiny-tok.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --dtype bf16 --tokenizer " + std::string(DSINFER_ASSETS) +
                "/tokenizers/deepseek-v3 --out " + m).exit_code, 0);
  Result r = run("run -m " + m + " -p 'Hello, world' -n 6");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("Hello, world", 0), 0u) << r.out;  // the prompt is echoed, then the answer
  r = run("chat -m " + m + " -n 6 --seed 2 < /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.out;  // Ctrl-D (end of input) quits cleanly
  const std::string two_turns = "printf 'Hi\\nAnd again\\n' | " + std::string(DSINFER_BIN) + " chat -m " + m + " -n 6";
  EXPECT_EQ(std::system((two_turns + " > /dev/null 2>&1").c_str()), 0);
}

TEST(Cli, RunHoldsTheAnswerToAJsonSchema) {
  const std::string m = tmp() + "/tiny-tok-json.gguf";
  ASSERT_EQ(run("synth --preset tiny-v3 --tokenizer " + std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3 --out " + m).exit_code, 0);
  const std::string schema = tmp() + "/schema.json";
  std::ofstream(schema) << R"({"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 1, "maximum": 9}},
                              "required": ["ok", "n"], "additionalProperties": false})";
  for (int seed = 1; seed <= 3; ++seed) {
    const Result r = run("run -m " + m + " -p 'Answer:' -n 200 --temp 1 --seed " + std::to_string(seed) + " --json-schema " + schema);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const size_t end = r.out.find("\nprompt:");  // (the speed figures on stderr follow the answer)
    ASSERT_NE(end, std::string::npos) << r.out;
    const std::string answer = r.out.substr(std::string("Answer:").size(), end - std::string("Answer:").size());
    const auto j = nlohmann::json::parse(answer, nullptr, false);
    ASSERT_TRUE(j.is_object()) << answer;
    EXPECT_TRUE(j.at("ok").is_boolean());
    EXPECT_GE(j.at("n").get<int>(), 1);
    EXPECT_LE(j.at("n").get<int>(), 9);
  }
  std::ofstream(tmp() + "/bad-schema.json") << R"({"type": "object", "properties": {"n": {"type": "array", "uniqueItems": true}}})";
  expect_error("run -m " + m + " -p x --json-schema " + tmp() + "/bad-schema.json", "bad-schema.json: schema.properties.n: 'uniqueItems' is supported only for items that are strings");
}

}  // namespace
}  // namespace dsinfer

namespace dsinfer {
namespace {

// DeepSeek-V4 (model/v4_transformer.h) through the commands that run it, and a clear refusal elsewhere.
TEST(Cli, DeepSeekV4RunsWithRunLogitsAndInfo) {
  const std::string dir = std::string(DSINFER_TEST_DATA) + "/golden/tiny-v4";
  const auto inputs = nlohmann::json::parse(std::ifstream(dir + "/inputs.json"));
  const std::vector<int32_t> ids = inputs["sequences"][1].get<std::vector<int32_t>>();
  std::string id_list;
  for (int32_t id : ids) id_list += (id_list.empty() ? "" : ",") + std::to_string(id);
  // logits: every position, as transformers computed them.
  Result r = run("logits -m " + dir + " --ids " + id_list + " --out " + tmp() + "/v4.bin");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string got = read_text_file(tmp() + "/v4.bin"), want = read_text_file(dir + "/logits_1.bin");
  ASSERT_EQ(got.size(), want.size());
  const auto* g = reinterpret_cast<const float*>(got.data());
  const auto* w = reinterpret_cast<const float*>(want.data());
  const size_t n = want.size() / sizeof(float), V = 256;
  float max_diff = 0;
  for (size_t i = 0; i < n; ++i) max_diff = std::max(max_diff, std::fabs(g[i] - w[i]));
  EXPECT_LT(max_diff, 1e-4f);
  // run: greedy's first token is the argmax of the prompt's last logits.
  size_t best = 0;
  for (size_t v = 1; v < V; ++v)
    if (w[n - V + v] > w[n - V + best]) best = v;
  r = run("run -m " + dir + " --ids " + id_list + " -n 1 --ignore-eos");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "[" + std::to_string(best) + "]");
  const std::string sampled = "run -m " + dir + " --ids " + id_list + " -n 20 --ignore-eos --temp 0.8 --seed 3";
  const std::string a = run(sampled).out, b = run(sampled).out;
  EXPECT_NE(a.find("generation: 20 tokens"), std::string::npos) << a;
  EXPECT_EQ(a.substr(0, a.find("prompt:")), b.substr(0, b.find("prompt:")));
  // info: the compressed cache (HCA 32 / 8 + 2 CSA x (32 + 16) / 4 values per token) and the config.
  r = run("info --json -m " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "deepseek_v4");
  EXPECT_DOUBLE_EQ(j["cache_values_per_token"].get<double>(), 28.0);
  r = run("info -m " + dir);
  EXPECT_NE(r.out.find("compressed_sparse_attention"), std::string::npos) << r.out;
  // What does not run V4 yet says so.
  for (const std::string& cmd : std::vector<std::string>{"serve -m ", "chat -m ", "bench -m ", "convert --out " + tmp() + "/v4.gguf -m "})
    expect_error(cmd + dir, "a DeepSeek-V4 model");
  expect_error("run -m " + dir + " --ids 1,2 --draft lookup", "not supported for DeepSeek-V4");
  expect_error("run -m " + dir + " --ids 1,999", "outside the vocabulary");
}

}  // namespace
}  // namespace dsinfer
