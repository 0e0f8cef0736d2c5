#include "model/llama_mix.h"

#include <cctype>
#include <string>

#include "util/error.h"

namespace dsinfer {
namespace {

struct MixName {
  const char* name;
  LlamaMix mix;
  DType dtype;
  uint32_t file_type;  // LLAMA_FTYPE_MOSTLY_*
};

constexpr MixName kMixes[] = {
    {"q2_K_M", LlamaMix::kQ2_K, DType::Q2_K, 10},   {"q3_K_S", LlamaMix::kQ3_K_S, DType::Q3_K, 11},
    {"q3_K_M", LlamaMix::kQ3_K_M, DType::Q3_K, 12}, {"q3_K_L", LlamaMix::kQ3_K_L, DType::Q3_K, 13},
    {"q4_K_M", LlamaMix::kQ4_K_M, DType::Q4_K, 15}, {"q5_K_M", LlamaMix::kQ5_K_M, DType::Q5_K, 17},
    {"iq4_nl_M", LlamaMix::kIQ4_NL, DType::IQ4_NL, 25}, {"iq4_xs_M", LlamaMix::kIQ4_XS, DType::IQ4_XS, 30},
};

bool same_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

std::optional<GgufTypeChoice> parse_gguf_type(std::string_view name) {
  for (const MixName& m : kMixes)
    if (same_ignoring_case(name, m.name)) return GgufTypeChoice{m.dtype, m.mix};
  if (const auto t = dtype_from_name(name)) return GgufTypeChoice{*t, LlamaMix::kNone};
  return std::nullopt;
}

const char* mix_name(LlamaMix m) {
  for (const MixName& x : kMixes)
    if (x.mix == m) return x.name;
  fail("mix_name: no mix");
}

DType mix_base(LlamaMix m) {
  for (const MixName& x : kMixes)
    if (x.mix == m) return x.dtype;
  fail("mix_base: no mix");
}

uint32_t llama_file_type(const GgufTypeChoice& c) {
  for (const MixName& m : kMixes)
    if (c.mix != LlamaMix::kNone && m.mix == c.mix) return m.file_type;
  switch (c.dtype) {  // pure files, named as llama-quantize --pure names them
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 11;
    case DType::Q4_K: return 14;
    case DType::Q5_K: return 16;
    case DType::Q6_K: return 18;
    case DType::IQ4_NL: return 25;
    case DType::IQ4_XS: return 30;
    case DType::BF16: return 32;
    case DType::IQ2_XXS: return 19;
    case DType::IQ2_XS: return 20;
    case DType::IQ3_XXS: return 23;
    case DType::IQ1_S: return 24;
    case DType::IQ3_S: return 26;
    case DType::IQ2_S: return 28;
    case DType::IQ1_M: return 31;
    default: fail("GGUF export: no llama.cpp file type for ", dtype_name(c.dtype));
  }
}

}  // namespace dsinfer
