// The grid i-quants (quant_iq_grid.h): their lattice tables and dequantizers. Dequantization follows
// ggml's dequantize_row_iq* float for float (the group factor first, then times the signed grid value),
// so values match llama.cpp's bit for bit. dsinfer does not quantize to these types: ggml's quantizers for
// the 1- and 2-bit ones need an importance matrix (llama-quantize refuses them without one).

#include "tensor/quant_iq_grid.h"

#include <algorithm>
#include <cmath>

#include "tensor/quant_block_layouts.h"
#include "util/error.h"

namespace dsinfer {

#include "tensor/iq_grids.inc"

bool dtype_is_iq_grid(DType t) {
  switch (t) {
    case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: case DType::IQ3_XXS: case DType::IQ3_S:
    case DType::IQ1_S: case DType::IQ1_M:
      return true;
    default:
      return false;
  }
}

namespace quant_detail {
namespace {

void set_block_d(DType t, uint8_t* blk, uint16_t h) {
  if (t != DType::IQ1_M) {
    std::memcpy(blk, &h, 2);
    return;
  }
  for (int k = 0; k < 4; ++k) {  // the top nibble of scale word k holds bits 4k .. 4k+3 of d
    uint8_t& hi = blk[49 + 2 * k];
    hi = static_cast<uint8_t>((hi & 0x0f) | (((h >> (4 * k)) & 0x0f) << 4));
  }
}

// ggml's factor of a 16-value half with scale code s: d (0.5 + s) / 4 (IQ2), d (0.5 + s) / 2 (IQ3_XXS),
// d (1 + 2 s) (IQ3_S, IQ1); IQ1's values are then grid + delta = w / 8 (exact).
template <DType T>
float ggml_half_factor(float d, int s) {
  if constexpr (T == DType::IQ3_XXS) return d * (0.5f + static_cast<float>(s)) * 0.5f;
  else if constexpr (T == DType::IQ3_S || T == DType::IQ1_S || T == DType::IQ1_M) return d * static_cast<float>(1 + 2 * s);
  else return d * (0.5f + static_cast<float>(s)) * 0.25f;
}

template <DType T>
void dequantize_iq_grid(const uint8_t* src, float* dst, int64_t n_blocks) {
  constexpr bool kIQ1 = T == DType::IQ1_S || T == DType::IQ1_M;
  const size_t bytes = dtype_block_bytes(T);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* blk = src + b * static_cast<int64_t>(bytes);
    const float d = iq_grid_d<T>(blk);
    for (int g = 0; g < 8; ++g) {
      int8_t w[32];
      int s[2];
      iq_grid_group<T>(blk, g, w, s);
      for (int h = 0; h < 2; ++h) {
        const float f = ggml_half_factor<T>(d, s[h]);
        for (int i = 16 * h; i < 16 * h + 16; ++i)
          *dst++ = kIQ1 ? f * (static_cast<float>(w[i]) * 0.125f) : f * static_cast<float>(w[i]);
      }
    }
  }
}

}  // namespace

void iq_grid_dequantize(DType t, const uint8_t* src, float* dst, int64_t n_blocks) {
  switch (t) {
    case DType::IQ2_XXS: return dequantize_iq_grid<DType::IQ2_XXS>(src, dst, n_blocks);
    case DType::IQ2_XS: return dequantize_iq_grid<DType::IQ2_XS>(src, dst, n_blocks);
    case DType::IQ2_S: return dequantize_iq_grid<DType::IQ2_S>(src, dst, n_blocks);
    case DType::IQ3_XXS: return dequantize_iq_grid<DType::IQ3_XXS>(src, dst, n_blocks);
    case DType::IQ3_S: return dequantize_iq_grid<DType::IQ3_S>(src, dst, n_blocks);
    case DType::IQ1_S: return dequantize_iq_grid<DType::IQ1_S>(src, dst, n_blocks);
    case DType::IQ1_M: return dequantize_iq_grid<DType::IQ1_M>(src, dst, n_blocks);
    default: fail("iq_grid_dequantize: ", dtype_name(t), " is not a grid i-quant");
  }
}

}  // namespace quant_detail

void iq_grid_random_row(DType t, float rms, uint64_t seed, uint8_t* dst, int64_t n) {
  if (!dtype_is_iq_grid(t)) fail("iq_grid_random_row: ", dtype_name(t), " is not a grid i-quant");
  const size_t bytes = dtype_block_bytes(t);
  const int64_t nb = static_cast<int64_t>(dtype_row_bytes(t, n) / bytes);
  uint64_t x = seed;
  auto next = [&x] {  // splitmix64
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  float vals[256];
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* blk = dst + b * static_cast<int64_t>(bytes);
    for (size_t i = 0; i < bytes; i += 8) {
      const uint64_t r = next();
      std::memcpy(blk + i, &r, std::min<size_t>(8, bytes - i));
    }
    quant_detail::set_block_d(t, blk, f32_to_f16(1.0f));
    quant_detail::iq_grid_dequantize(t, blk, vals, 1);
    double ss = 0;
    for (float v : vals) ss += static_cast<double>(v) * v;
    const double unit_rms = std::sqrt(ss / 256);
    quant_detail::set_block_d(t, blk, f32_to_f16(unit_rms > 0 ? static_cast<float>(rms / unit_rms) : 0.0f));
  }
}

}  // namespace dsinfer
