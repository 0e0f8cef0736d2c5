#pragma once
// Internal to src/kernels/cpu/: the per-ISA kernel sets behind matmul() and the activation format the
// integer kernels read. Callers outside this folder use matmul.h.
//
// Integer path: activations are quantized once per matmul call to int8 in blocks of 32 (Q8_0-like, but
// with an fp32 scale and the block's integer sum kept beside it), so a weight block of any GGML type
// reduces to an integer dot product plus one scale multiply:
//   Q4_0 · act = d_w d_a (sum q_w q_a - 8 sum q_a)        Q8_0 · act = d_w d_a sum q_w q_a
//   Q4_K/Q5_K group j = d sc_j d_a sum q q_a - dmin m_j d_a sum q_a
//   Q6_K = d d_a sum_g sc_g sum_{i in g} (q_i - 32) q_a,i
//   Q2_K = d d_a sum_g sc_g sum_{i in g} q_i q_a,i - dmin d_a sum_g m_g sum_{i in g} q_a,i     (groups of 16)
//   Q3_K = d d_a sum_g (sc_g - 32) sum_{i in g} (q_i - 4) q_a,i
//   IQ4_NL = d d_a sum v[q] q_a             IQ4_XS group j = d (sc_j - 32) d_a sum v[q] q_a   (v = kIQ4NLValues)
//   IQ1_S_R8 block = d/8 d_a (8 (2s+1) sum g q_a - (2s+1)(8 -+ 1) sum q_a)   (g = lattice point + 1, 0..2)
//   IQ1_M_R8 block = d/8 d_a sum_half (2s+1)(sum (8 g + 1 + e) q_a - 9 sum q_a)   (e = +-1 per 8 values)
// Float weights (F32, F16, BF16, F8_E4M3) keep float activations and fp32 FMA, so F32 models stay exact.

#include <cstddef>
#include <array>
#include <cstdint>
#include <vector>

#include "tensor/dtype.h"

namespace dsinfer::kern {

constexpr int64_t kActBlock = 32;  // activation quantization block
constexpr int64_t kTokTile = 4;    // tokens per prefill tile (the transposed scale arrays use it)
constexpr int64_t kPanelMinTokens = 6;  // from here on the R8 prefill panels may run (gemm_r8_panels.h: from 6
                                        // to 17 tokens on 512-bit vectors, per format, from 12 on 256-bit ones)

// x [n_tok, K] quantized per 32 values: x ≈ d * q. Token rows are padded up to a multiple of kTokTile
// with zeros (q = 0, d = 0, sum = 0) so tile kernels never branch on a partial token tile.
struct ActQ8 {
  int64_t n_tok = 0, K = 0, nb = 0;  // nb = K / 32
  std::vector<int8_t> q;             // [n_pad, K]
  std::vector<float> d;              // [n_pad, nb]
  std::vector<int32_t> sum;          // [n_pad, nb]   sum of the block's q
  std::vector<int32_t> sum16;        // [n_pad, nb]   sum of its first 16 q (Q6_K's per-16 scales)
  std::vector<int32_t> sum8p;        // [n_pad, nb, 2] its 8-value groups' sums as int16 pairs: A_0 | A_1 << 16,
                                     //               A_2 | A_3 << 16 (IQ1_M's per-8 deltas, vpmaddwd)
  std::vector<float> d4;             // [n_pad/4, nb, 4]  d of the 4 tokens of a tile, per block
  std::vector<int32_t> sum4;         // [n_pad/4, nb, 4]  sum of the 4 tokens of a tile, per block
  std::vector<uint8_t> u;            // [n_tok, K] q + 128 as unsigned bytes (the R8 panels' activations),
                                     // only from kPanelMinTokens tokens on
  int64_t zero_pad_n_tok = -1, zero_pad_K = -1;  // the layout whose padding rows are known to be zero
                                                 // (finish_layout skips refilling them)

  int64_t n_pad() const { return (n_tok + kTokTile - 1) / kTokTile * kTokTile; }
  const int8_t* qt(int64_t t) const { return q.data() + t * K; }
  const float* dt(int64_t t) const { return d.data() + t * nb; }
  const int32_t* sumt(int64_t t) const { return sum.data() + t * nb; }
  const int32_t* sum16t(int64_t t) const { return sum16.data() + t * nb; }
  const int32_t* sum8pt(int64_t t) const { return sum8p.data() + t * nb * 2; }
};

// The activations of the 4 tokens of tile `tile`, as the panel kernels read them: q[t] the int8 row of
// token 4*tile + t, d4/s4 [nb][4] the tokens' scales and sums per block.
struct TileActs {
  const int8_t* q[kTokTile];
  const float* d4;
  const int32_t* s4;
  TileActs(const ActQ8& a, int64_t tile)
      : d4(a.d4.data() + tile * a.nb * kTokTile), s4(a.sum4.data() + tile * a.nb * kTokTile) {
    for (int t = 0; t < kTokTile; ++t) q[t] = a.qt(tile * kTokTile + t);
  }
};

// Quantizes one row of K values (K a multiple of 32): q[K], d[K/32], sum[K/32].
using QuantizeRowFn = void (*)(const float* x, int64_t K, int8_t* q, float* d, int32_t* sum);

// y[t * ldy + r] = row r of the weights (rows at w + r * row_bytes) · token t, for r < n_rows and
// t < a.n_tok. Single-threaded; the caller splits rows across threads.
using QuantGemmFn = void (*)(const uint8_t* w, size_t row_bytes, int64_t n_rows, const ActQ8& a, float* y,
                             int64_t ldy);

// Float-activation kernels: y[t * ldy + r] = sum_k W[r, k] x[t * ldx + k] (times scale[k / 128] for FP8,
// `scale` being the row block's 128-k scales; the caller never passes rows of two FP8 row blocks).
using FloatGemmFn = void (*)(const uint8_t* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x,
                             int64_t ldx, int64_t n_tok, const float* scale, float* y, int64_t ldy);

// Float x [n_tok, K] times B [K, N] (row-major, row stride ldb): y[t * ldy + n] = sum_k x[t * ldx + k] b[k * ldb + n],
// each output one fma chain in k order from 0 — so every set gives the scalar mirror's result bit for bit.
// For products whose "weights" are activations (the naive MLA form's scores and P V): B's rows are
// read as 8-lane vectors, nothing is summed horizontally. Single-threaded.
using FloatNnFn = void (*)(const float* x, int64_t ldx, int64_t n_tok, const float* b, int64_t ldb, int64_t N,
                           int64_t K, float* y, int64_t ldy);

// The grid i-quants' kernels, one per type in DType order from IQ2_XXS (tensor/quant_iq_grid.h).
constexpr int kIQGridTypes = static_cast<int>(DType::IQ1_M) - static_cast<int>(DType::IQ2_XXS) + 1;
using IQGridKernels = std::array<QuantGemmFn, kIQGridTypes>;
constexpr int iq_grid_slot(DType t) { return static_cast<int>(t) - static_cast<int>(DType::IQ2_XXS); }

struct KernelSet {
  const char* isa = "scalar";
  QuantizeRowFn quantize_row = nullptr;
  QuantGemmFn q8_0 = nullptr, q4_0 = nullptr, q4_k = nullptr, q5_k = nullptr, q6_k = nullptr;
  QuantGemmFn q5_0 = nullptr, q5_1 = nullptr;  // file layout (the loader repacks them to R8)
  QuantGemmFn q2_k = nullptr, q3_k = nullptr;  // file layout (the loader repacks them to R8)
  QuantGemmFn q2_k_r8 = nullptr, q3_k_r8 = nullptr;
  QuantGemmFn iq4_nl = nullptr, iq4_xs = nullptr;  // file layout (the loader repacks them to R8)
  QuantGemmFn iq4_nl_r8 = nullptr, iq4_xs_r8 = nullptr;
  IQGridKernels iq_grid{};  // IQ2_XXS .. IQ1_M, file layout, at iq_grid_slot(type)
  QuantGemmFn iq1_s_r8 = nullptr, iq1_m_r8 = nullptr;  // lattice points unpacked to 2 bits (the loader repacks
                                                       // IQ1_S / IQ1_M to them)
  // Row-interleaved layouts (tensor/interleave.h): n_rows a multiple of 8, w at the start of a row group.
  QuantGemmFn q4_0_r8 = nullptr, q8_0_r8 = nullptr, q4_k_r8 = nullptr, q5_k_r8 = nullptr, q6_k_r8 = nullptr;
  QuantGemmFn q5_0_r8 = nullptr, q5_1_r8 = nullptr;  // Q4_0_R8's nibbles plus packed 5th bits
  FloatGemmFn f32 = nullptr, f16 = nullptr, bf16 = nullptr, f8_e4m3 = nullptr;
  FloatNnFn f32_nn = nullptr;  // x [T, K] @ B [K, N], float
  // bf16 rounds the activations to bf16 and multiplies pairs (AVX512-BF16, bf16_dot_scalar's arithmetic)
  // instead of exact fp32 products; every other float kernel is exact fp32.
  bool bf16_rounds_activations = false;
  // out[i] = silu(gate[i]) * up[i] (out may alias gate); SIMD sets use a polynomial exp (rel. err ~1e-7).
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
  // In-place softmax of x[n] (max-subtracted), with the same polynomial exp; the scalar mirror sums as
  // the AVX2 kernel does (8 lanes over whole chunks, then the tail), so the two agree bit for bit.
  void (*softmax)(float* x, int64_t n) = nullptr;
  // MLA over the latent cache (attention.h): scores of H heads against n keys, each key row read once
  // for all heads; and the probability-weighted sum of key columns [c0, c1) for all heads.
  void (*mla_scores)(const float* q, int64_t H, int64_t L, const float* const* keys, int64_t n, float scale,
                     float* s, int64_t lds) = nullptr;
  void (*mla_values)(const float* p, int64_t lds, int64_t H, const float* const* keys, int64_t n, int64_t c0,
                     int64_t c1, float* out, int64_t ldo) = nullptr;
  // The same over an f16 latent cache.
  void (*mla_scores_f16)(const float* q, int64_t H, int64_t L, const uint16_t* const* keys, int64_t n, float scale,
                         float* s, int64_t lds) = nullptr;
  void (*mla_values_f16)(const float* p, int64_t lds, int64_t H, const uint16_t* const* keys, int64_t n, int64_t c0,
                         int64_t c1, float* out, int64_t ldo) = nullptr;

  QuantGemmFn quant_for(DType t) const;  // nullptr for float dtypes
  FloatGemmFn float_for(DType t) const;  // nullptr for GGML block types
};

// The grid i-quant kernels of the scalar and AVX2 sets (gemm_iq_grid_*.cpp), put into k.
void iq_grid_scalar(IQGridKernels& k);
void iq_grid_avx2(IQGridKernels& k);
// The R8 kernels of each set (gemm_r8_*.cpp).
QuantGemmFn q4_0_r8_scalar();
QuantGemmFn q8_0_r8_scalar();
QuantGemmFn q4_0_r8_avx2();
QuantGemmFn q8_0_r8_avx2();
QuantGemmFn q5_0_r8_avx2();
QuantGemmFn q5_1_r8_avx2();
QuantGemmFn q5_0_r8_scalar();
QuantGemmFn q5_1_r8_scalar();
QuantGemmFn q4_k_r8_scalar();
QuantGemmFn q4_k_r8_avx2();
QuantGemmFn q5_k_r8_scalar();
QuantGemmFn q5_k_r8_avx2();
QuantGemmFn q6_k_r8_scalar();
QuantGemmFn q6_k_r8_avx2();
QuantGemmFn q2_k_r8_scalar();
QuantGemmFn q3_k_r8_scalar();
QuantGemmFn q2_k_r8_avx2();
QuantGemmFn q3_k_r8_avx2();
QuantGemmFn iq4_nl_r8_scalar();
QuantGemmFn iq4_xs_r8_scalar();
QuantGemmFn iq4_nl_r8_avx2();
QuantGemmFn iq4_xs_r8_avx2();
QuantGemmFn iq1_s_r8_scalar();
QuantGemmFn iq1_s_r8_avx2();
QuantGemmFn iq1_m_r8_scalar();
QuantGemmFn iq1_m_r8_avx2();
// BF16 weights · activations rounded to bf16, pairwise (vdpbf16ps): the AVX512-BF16 kernel and its scalar
// mirror (equal within float summation order, not bit for bit).
FloatGemmFn bf16_dot_avx512bf16();
FloatGemmFn bf16_dot_scalar();
// x @ B in float (FloatNnFn): the AVX2 register tiles (gemm_f32nn_avx2.cpp; the scalar mirror is in
// gemm_scalar.cpp).
FloatNnFn f32_nn_avx2_fn();
// AVX2, gemm_r8_avx2.cpp: 8 rows of an unpacked Q4_0 panel — q [nb][8 groups of 4 k][8 rows][4 bytes] of
// nibble values, d [nb][8] row scales — · the 4 tokens of tile `tile`: out[t * 8 + row].
void panel_q4_0_tok4(const uint8_t* q, const float* d, const ActQ8& a, int64_t tile, float* out);
// The AVX2 K-quant kernels (gemm_k_avx2.cpp).
QuantGemmFn q4_k_avx2();
QuantGemmFn q5_k_avx2();
QuantGemmFn q6_k_avx2();
QuantGemmFn q2_k_avx2();
QuantGemmFn q3_k_avx2();
QuantGemmFn iq4_xs_avx2();

const KernelSet& scalar_kernels();
const KernelSet& avx2_kernels();   // only call when cpu_features().has_avx2_tier()
const KernelSet& avx512_kernels(); // only call when cpu_features().has_avx512_tier(): AVX2's with VNNI R8 kernels
const KernelSet& avxvnni_kernels(); // only call when cpu_features().has_avxvnni_tier(): the same with AVX-VNNI
// Tests only (AVX2 CPUs): AVX2's set with the R8 kernels the VNNI sets build (int32 dots, 8-token tiles,
// their chain counts) on an AVX2 emulation of vpdpbusd — their code paths checked where no VNNI runs.
const KernelSet& avx2_int32dot_kernels();
const KernelSet& active_kernels(); // the best set this CPU runs (DSINFER_ISA caps it)

// Fills sum16, the transposed per-tile arrays d4/sum4, u and zero-pads from a.q/d/sum (already filled
// for n_tok tokens). An ActQ8 is ready for the kernels only after it. In two steps for callers that
// split tokens across threads: finish_layout once (sizes, padding), then finish_tokens for token ranges
// [t0, t1) with t0 a multiple of kTokTile (t1 too, or n_tok) that together cover [0, n_tok).
void finish_tiles(ActQ8& a);
void finish_layout(ActQ8& a);
void finish_tokens(ActQ8& a, int64_t t0, int64_t t1);

// Quantizes x [n_tok, K] (row stride ldx) with `ks`. Reuses a's buffers (no allocation once grown).
void quantize_act(const KernelSet& ks, const float* x, int64_t ldx, int64_t n_tok, int64_t K, ActQ8& a);

}  // namespace dsinfer::kern
