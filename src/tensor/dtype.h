#pragma once
// Element types of weights and activations. Float types have a block of 1 element; GGML block types
// store `block_elems` values in `block_bytes` bytes (see quant.h for their layouts). F8_E4M3 is stored
// one byte per value; its 128x128 block scales live in a separate tensor (TensorView::block_scale).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsinfer {

// Q4_0_R8 / Q8_0_R8 / Q4_K_R8 / Q5_K_R8 / Q6_K_R8 / Q5_0_R8 / Q5_1_R8 / Q2_K_R8 / Q3_K_R8 / IQ4_NL_R8 / IQ4_XS_R8 /
// IQ1_S_R8 / IQ1_M_R8: those types with rows interleaved by 8
// (tensor/interleave.h), made by load-time repacking or stored so by `dsinfer repack` in GGUF files under
// dsinfer's own type ids (which llama.cpp refuses: such a file is for dsinfer only).
// Appended types go last: the order indexes dtype.cpp's table.
enum class DType : uint8_t {
  F32, F16, BF16, F8_E4M3, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_0_R8, Q8_0_R8, Q4_K_R8, Q5_K_R8, Q6_K_R8,
  Q5_0, Q5_1,  // llama.cpp's fallbacks for Q4_K / Q5_K rows whose length is not a multiple of 256
  Q5_0_R8,     // Q5_0 rows interleaved in 8-row groups, see tensor/interleave.h
  Q5_1_R8,     // Q5_1 rows interleaved in 8-row groups, see tensor/interleave.h
  Q2_K, Q3_K,  // the low-bit K-quants of llama.cpp's Q2_K / Q3_K_* mixes
  Q2_K_R8, Q3_K_R8,  // their rows interleaved in 8-row groups, see tensor/interleave.h
  IQ4_NL, IQ4_XS,    // 4-bit indexes into a non-uniform value table (llama.cpp's IQ4_XS files, IQ4_NL fallback)
  IQ4_NL_R8, IQ4_XS_R8,  // their rows interleaved in 8-row groups, see tensor/interleave.h
  // The grid i-quants of unsloth's dynamic low-bit files (tensor/quant_iq_grid.h): 8 or 4 weights per lattice index
  IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M,
  IQ1_S_R8, IQ1_M_R8,  // IQ1_S / IQ1_M rows in 8-row groups, lattice points unpacked to 2 bits (tensor/interleave.h)
};

constexpr int64_t kFp8BlockSize = 128;  // FP8 checkpoints scale each 128x128 weight block
constexpr int64_t kQK = 256;            // K-quant super-block
constexpr int64_t kQ32 = 32;            // Q8_0 / Q4_0 block

const char* dtype_name(DType t);                    // "f32", "q4_0", "f8_e4m3" ...
std::optional<DType> dtype_from_name(std::string_view name);
int64_t dtype_block_elems(DType t);                 // 1, 32 or 256
size_t dtype_block_bytes(DType t);                  // bytes per block
bool dtype_is_block_quant(DType t);                 // every GGML block type (Q*, IQ*) and the R8 types
// Bytes of a row of n values; throws Error if n is not a multiple of the block size.
size_t dtype_row_bytes(DType t, int64_t n);

// GGML type ids as written in GGUF files (ggml.h enum ggml_type); the R8 types have ids from
// kDsinferGgmlTypeBase ("DS" in the high half), outside any range ggml or its forks use.
constexpr uint32_t kDsinferGgmlTypeBase = 0x44530000u;
std::optional<DType> dtype_from_ggml(uint32_t ggml_type);
uint32_t dtype_to_ggml(DType t);  // throws for F8_E4M3 (GGUF has no such type)
std::string ggml_type_name(uint32_t ggml_type);  // for error messages, also for types we cannot load

// safetensors dtype strings ("F32", "F16", "BF16", "F8_E4M3").
std::optional<DType> dtype_from_safetensors(std::string_view s);
const char* dtype_to_safetensors(DType t);  // throws for GGML block types

}  // namespace dsinfer
