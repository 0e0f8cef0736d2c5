#pragma once
// llama-quantize's tensor mixes ("Q3_K_M", "Q4_K_M", ...: llama-quant.cpp, llama_tensor_get_type) as they
// apply to deepseek2 — more than 8 experts, MLA split into attn_k_b / attn_v_b (or the legacy attn_kv_b,
// which llama.cpp counts as attn_v). Every mix writes output.weight in Q6_K; then:
//   q2_K_M  (llama-quantize's "Q2_K", which it names Q2_K - Medium): Q2_K; ffn_down*, attn_output Q3_K
//   q3_K_S  Q3_K
//   q3_K_M  Q3_K; ffn_down* Q5_K in the first block_count / 16 layers, Q4_K after; attn_output Q4_K
//   q3_K_L  Q3_K; ffn_down*, attn_output Q5_K
//   q4_K_M / q5_K_M  Q4_K / Q5_K; ffn_down* Q6_K in the layers use_more_bits picks
//   iq4_nl_M / iq4_xs_M  (llama-quantize's "IQ4_NL" / "IQ4_XS", without an imatrix): IQ4_NL / IQ4_XS;
//           ffn_down* Q5_K in the first block_count / 8 layers
// and the legacy attn_kv_b: q2_K_M Q3_K, q3_K_M Q5_K in its first two layers and Q4_K after, q3_K_L Q5_K,
// q4_K_M / q5_K_M Q6_K where use_more_bits picks. A plain type name (q4_K, q2_K, ...) is no mix: every
// matrix in that type (llama-quantize --pure) — except the grid i-quants (iq1_s, iq1_m, iq2_xxs, iq2_xs, iq2_s,
// iq3_xxs, iq3_s), which only synth writes (random codes: dsinfer has no quantizer for them): they go to the
// routed experts (ffn_*_exps), the other matrices Q4_K and output.weight Q6_K, the shape of unsloth's dynamic
// low-bit DeepSeek files.

#include <optional>
#include <string_view>

#include "tensor/dtype.h"

namespace dsinfer {

enum class LlamaMix { kNone, kQ2_K, kQ3_K_S, kQ3_K_M, kQ3_K_L, kQ4_K_M, kQ5_K_M, kIQ4_NL, kIQ4_XS };

struct GgufTypeChoice {
  DType dtype = DType::F32;  // the mix's default type (its name's base) or the plain type
  LlamaMix mix = LlamaMix::kNone;
};

// A mix name (q2_K_M q3_K_S q3_K_M q3_K_L q4_K_M q5_K_M iq4_nl_M iq4_xs_M, any letter case) or a plain dtype name; nullopt
// for neither. (Whether the plain type can be written is the caller's check.)
std::optional<GgufTypeChoice> parse_gguf_type(std::string_view name);

// The mix's name (q3_K_M ...) and the type it is made around; throws for kNone.
const char* mix_name(LlamaMix m);
DType mix_base(LlamaMix m);

// llama.cpp's general.file_type (LLAMA_FTYPE_*) for a choice; the plain K-quants get their _S / _M file
// type as llama-quantize --pure writes it (the plain IQ4 types: their mix's).
uint32_t llama_file_type(const GgufTypeChoice& c);

}  // namespace dsinfer
