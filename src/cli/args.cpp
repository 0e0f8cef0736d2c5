#include "cli/args.h"

#include <cerrno>
#include <cstdlib>

#include "util/error.h"

namespace dsinfer::cli {

ArgParser::ArgParser(const Args& args, const std::set<std::string>& value_opts, const std::set<std::string>& flags,
                     const std::map<std::string, std::string>& aliases) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.size() < 2 || a[0] != '-' || a == "--") {
      if (a == "--") {
        positionals_.insert(positionals_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
        break;
      }
      positionals_.push_back(a);
      continue;
    }
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    if (auto al = aliases.find(a); al != aliases.end()) a = al->second;
    if (flags.count(a)) {
      if (inline_value) fail("option ", a, " takes no value");
      flags_.insert(a);
    } else if (value_opts.count(a)) {
      if (inline_value) {
        values_[a] = *inline_value;
      } else {
        if (i + 1 >= args.size()) fail("option ", a, " needs a value");
        values_[a] = args[++i];
      }
    } else {
      fail("unknown option '", args[i], "'");
    }
  }
}

std::optional<std::string> ArgParser::get(const std::string& opt) const {
  auto it = values_.find(opt);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string ArgParser::require(const std::string& opt) const {
  auto v = get(opt);
  if (!v) fail("option ", opt, " is required");
  return *v;
}

int64_t ArgParser::get_int(const std::string& opt, int64_t def) const {
  auto v = get(opt);
  if (!v) return def;
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end || errno) fail("option ", opt, ": '", *v, "' is not an integer");
  return x;
}

double ArgParser::get_double(const std::string& opt, double def) const {
  auto v = get(opt);
  if (!v) return def;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end || errno) fail("option ", opt, ": '", *v, "' is not a number");
  return x;
}

const std::set<std::string>& sampling_options() {
  static const std::set<std::string> opts = {"--temp",           "--top-k",          "--top-p",
                                             "--min-p",          "--repeat-penalty", "--presence-penalty",
                                             "--frequency-penalty", "--seed"};
  return opts;
}

DType kv_dtype_from_args(const ArgParser& p) {
  const std::string name = p.get("--kv-dtype").value_or("f32");
  const auto t = dtype_from_name(name);
  if (!t || !LatentKvCache::supports(*t)) fail("--kv-dtype: expected f32 or f16, not '", name, "'");
  return *t;
}

std::string draft_from_args(const ArgParser& p) {
  const std::string draft = p.get("--draft").value_or("none");
  if (draft != "none" && draft != "mtp" && draft != "lookup") fail("--draft: mtp, lookup or none, not '", draft, "'");
  return draft;
}

const std::set<std::string>& gpu_options() {
  static const std::set<std::string> opts = {"--gpu-device", "--gpu-dtype", "--gpu-expert-tokens"};
  return opts;
}

GpuOptions gpu_from_args(const ArgParser& p) {
  GpuOptions g;
  g.enabled = p.has("--gpu");
  if (!g.enabled) {
    for (const std::string& o : gpu_options())
      if (p.has(o)) fail(o, " needs --gpu");
    return g;
  }
  const int64_t dev = p.get_int("--gpu-device", 0);
  if (dev < 0 || dev > 255) fail("--gpu-device must be in [0, 255], got ", dev);
  g.device = static_cast<int>(dev);
  g.expert_tokens = p.get_int("--gpu-expert-tokens", g.expert_tokens);
  if (g.expert_tokens < 0) fail("--gpu-expert-tokens must be >= 0 (0: routed experts always on the CPU)");
  g.dtype = p.get("--gpu-dtype").value_or("auto");
  if (g.dtype != "auto") gpu::parse_storage(g.dtype);  // an Error naming the accepted values
  return g;
}

double draft_min_accept_from_args(const ArgParser& p) {
  const double r = p.get_double("--draft-min-accept", 0.5);
  if (!(r >= 0.0 && r <= 1.0)) fail("--draft-min-accept must be in [0, 1]");
  return r;
}

int64_t draft_max_tokens_from_args(const ArgParser& p) {
  const int64_t n = p.get_int("--draft-max", 1);
  if (n < 1 || n > 16) fail("--draft-max must be in [1, 16], got ", n);
  return n;
}

std::string mtp_from_args(const ArgParser& p, const std::string& draft) {
  const std::string dir = p.get("--mtp-from").value_or("");
  if (!dir.empty() && draft != "mtp") fail("--mtp-from supplies the MTP module for --draft mtp");
  return dir;
}

SamplingParams sampling_from_args(const ArgParser& p, SamplingParams d) {
  SamplingParams s;
  s.temperature = static_cast<float>(p.get_double("--temp", d.temperature));
  s.top_k = p.get_int("--top-k", d.top_k);
  s.top_p = static_cast<float>(p.get_double("--top-p", d.top_p));
  s.min_p = static_cast<float>(p.get_double("--min-p", d.min_p));
  s.repetition_penalty = static_cast<float>(p.get_double("--repeat-penalty", d.repetition_penalty));
  s.presence_penalty = static_cast<float>(p.get_double("--presence-penalty", d.presence_penalty));
  s.frequency_penalty = static_cast<float>(p.get_double("--frequency-penalty", d.frequency_penalty));
  s.seed = static_cast<uint64_t>(p.get_int("--seed", static_cast<int64_t>(d.seed)));
  s.validate();
  return s;
}

std::vector<int32_t> parse_id_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || errno || v < 0 || v > INT32_MAX) fail("token id list: '", item, "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

uint64_t split_bytes_from_args(const ArgParser& p) {
  const int64_t mb = p.get_int("--split-max-mb", 0);
  if (mb < 0 || mb > (int64_t{1} << 40)) fail("--split-max-mb must be a positive number of MB");
  return static_cast<uint64_t>(mb) << 20;
}

}  // namespace dsinfer::cli
