#include "tensor/dtype.h"

#include "util/error.h"

namespace dsinfer {
namespace {

struct DTypeInfo {
  DType type;
  const char* name;
  int64_t block_elems;
  size_t block_bytes;
  int64_t ggml_id;  // -1: none
};

constexpr int64_t kR8 = kDsinferGgmlTypeBase;

// Block sizes from ggml-common.h: Q8_0 = f16 d + 32 int8; Q4_0 = f16 d + 16 bytes of nibbles;
// Q4_K = 2 f16 + 12 scale bytes + 128 nibble bytes; Q5_K adds 32 high-bit bytes; Q6_K = 128 ql + 64 qh +
// 16 int8 scales + f16 d.
constexpr DTypeInfo kInfo[] = {
    {DType::F32, "f32", 1, 4, 0},        {DType::F16, "f16", 1, 2, 1},
    {DType::BF16, "bf16", 1, 2, 30},     {DType::F8_E4M3, "f8_e4m3", 1, 1, -1},
    {DType::Q8_0, "q8_0", 32, 34, 8},    {DType::Q4_0, "q4_0", 32, 18, 2},
    {DType::Q4_K, "q4_K", 256, 144, 12}, {DType::Q5_K, "q5_K", 256, 176, 13},
    {DType::Q6_K, "q6_K", 256, 210, 14},
    // Per row: the R8 layouts keep each row's bytes, interleaved 8 rows at a time. Their ids are dsinfer's
    // own (kDsinferGgmlTypeBase + n), far from ggml's and ik_llama.cpp's, so other readers refuse the file.
    {DType::Q4_0_R8, "q4_0_r8", 32, 18, kR8 + 1}, {DType::Q8_0_R8, "q8_0_r8", 32, 34, kR8 + 2},
    // Q4_K_R8 / Q5_K_R8 unpack the 6-bit scales and mins to bytes: +4 bytes per row and super-block.
    {DType::Q4_K_R8, "q4_K_r8", 256, 148, kR8 + 3}, {DType::Q5_K_R8, "q5_K_r8", 256, 180, kR8 + 4},
    {DType::Q6_K_R8, "q6_K_r8", 256, 210, kR8 + 5},
    // Q5_0 = f16 d + 4 bytes of 5th bits + 16 nibble bytes; Q5_1 adds an f16 offset m.
    {DType::Q5_0, "q5_0", 32, 22, 6},    {DType::Q5_1, "q5_1", 32, 24, 7},
    {DType::Q5_0_R8, "q5_0_r8", 32, 22, kR8 + 6},  // Q5_0's bytes, interleaved
    {DType::Q5_1_R8, "q5_1_r8", 32, 24, kR8 + 7},  // Q5_1's bytes, interleaved
    // Q2_K = 16 scale/min bytes + 64 bytes of 2-bit values + f16 d, dmin; Q3_K = 32 high-bit bytes + 64 bytes of
    // low 2 bits + 12 bytes of 6-bit scales + f16 d.
    {DType::Q2_K, "q2_K", 256, 84, 10},  {DType::Q3_K, "q3_K", 256, 110, 11},
    // Q2_K_R8 moves Q2_K's bytes; Q3_K_R8 unpacks the 6-bit scales to bytes: +4 bytes per row and super-block.
    {DType::Q2_K_R8, "q2_K_r8", 256, 84, kR8 + 8}, {DType::Q3_K_R8, "q3_K_r8", 256, 114, kR8 + 9},
    // IQ4_NL = f16 d + 16 bytes of index nibbles; IQ4_XS = f16 d + u16 high scale bits + 4 bytes of low scale
    // bits + 128 bytes of index nibbles.
    {DType::IQ4_NL, "iq4_nl", 32, 18, 20}, {DType::IQ4_XS, "iq4_xs", 256, 136, 23},
    // IQ4_NL_R8 moves IQ4_NL's bytes; IQ4_XS_R8 unpacks the 6-bit scales to bytes: +2 bytes per row and super-block.
    {DType::IQ4_NL_R8, "iq4_nl_r8", 32, 18, kR8 + 10}, {DType::IQ4_XS_R8, "iq4_xs_r8", 256, 138, kR8 + 11},
    // The grid i-quants, sizes as in tensor/quant_iq_grid.h (ggml's bits per weight: 2.06, 2.31, 2.56, 3.06,
    // 3.44, 1.56, 1.75).
    {DType::IQ2_XXS, "iq2_xxs", 256, 66, 16}, {DType::IQ2_XS, "iq2_xs", 256, 74, 17},
    {DType::IQ2_S, "iq2_s", 256, 82, 22},     {DType::IQ3_XXS, "iq3_xxs", 256, 98, 18},
    {DType::IQ3_S, "iq3_s", 256, 110, 21},    {DType::IQ1_S, "iq1_s", 256, 50, 19},
    {DType::IQ1_M, "iq1_m", 256, 56, 29},
    // IQ1_S_R8 stores each value's lattice point as 2 bits and the scale and delta sign as a nibble: +20 bytes
    // per row and super-block (+40 %), for kernels without table lookups.
    {DType::IQ1_S_R8, "iq1_s_r8", 256, 70, kR8 + 12},
    // IQ1_M_R8 the same with IQ1_M's two 3-bit scales per 32 values as a byte and its 8-value delta signs
    // as a nibble: +22 bytes per row and super-block (+39 %).
    {DType::IQ1_M_R8, "iq1_m_r8", 256, 78, kR8 + 13},
};
static_assert(sizeof(kInfo) / sizeof(kInfo[0]) == static_cast<size_t>(DType::IQ1_M_R8) + 1,
              "one row per DType, in enum order");

const DTypeInfo& info(DType t) { return kInfo[static_cast<int>(t)]; }

}  // namespace

const char* dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo) {
    std::string_view n = i.name;
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t k = 0; k < n.size(); ++k) same &= std::tolower(n[k]) == std::tolower(name[k]);
    if (same) return i.type;
  }
  return std::nullopt;
}

int64_t dtype_block_elems(DType t) { return info(t).block_elems; }
size_t dtype_block_bytes(DType t) { return info(t).block_bytes; }
bool dtype_is_block_quant(DType t) { return info(t).block_elems > 1; }

size_t dtype_row_bytes(DType t, int64_t n) {
  const int64_t be = info(t).block_elems;
  if (n < 0 || n % be != 0) fail("a row of ", n, " values is not a multiple of the ", dtype_name(t), " block (", be, ")");
  return static_cast<size_t>(n / be) * info(t).block_bytes;
}

std::optional<DType> dtype_from_ggml(uint32_t id) {
  for (const auto& i : kInfo)
    if (i.ggml_id >= 0 && static_cast<uint32_t>(i.ggml_id) == id) return i.type;
  return std::nullopt;
}

uint32_t dtype_to_ggml(DType t) {
  if (info(t).ggml_id < 0) fail("dtype ", dtype_name(t), " cannot be stored in GGUF");
  return static_cast<uint32_t>(info(t).ggml_id);
}

std::string ggml_type_name(uint32_t id) {
  static const char* kNames[] = {"f32",  "f16",  "q4_0", "q4_1", "q4_2(removed)", "q4_3(removed)", "q5_0",
                                 "q5_1", "q8_0", "q8_1", "q2_K", "q3_K",          "q4_K",          "q5_K",
                                 "q6_K", "q8_K", "iq2_xxs", "iq2_xs", "iq3_xxs",  "iq1_s",         "iq4_nl",
                                 "iq3_s", "iq2_s", "iq4_xs", "i8", "i16", "i32", "i64", "f64", "iq1_m", "bf16"};
  if (id < sizeof(kNames) / sizeof(kNames[0])) return kNames[id];
  if (const auto t = dtype_from_ggml(id)) return dtype_name(*t);
  return cat("ggml type ", id);
}

std::optional<DType> dtype_from_safetensors(std::string_view s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "F8_E4M3") return DType::F8_E4M3;
  return std::nullopt;
}

const char* dtype_to_safetensors(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F8_E4M3: return "F8_E4M3";
    default: fail("dtype ", dtype_name(t), " cannot be stored in safetensors");
  }
}

}  // namespace dsinfer
