#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/vec.h"
#include "tensor/interleave.h"
#include "util/error.h"

namespace dsinfer {
namespace {

constexpr int64_t kRowChunk = 16;  // rows dequantized at once by the reference path

std::atomic<MatmulPath> g_path{[] {
  const char* e = std::getenv("DSINFER_MATMUL");
  return e && std::strcmp(e, "reference") == 0 ? MatmulPath::kReference : MatmulPath::kFast;
}()};

bool uses_int8(DType t) { return dtype_is_block_quant(t) && matmul_path() != MatmulPath::kReference; }

// File-layout Q4_0 / Q2_K .. Q6_K / IQ4 weights (not repacked at load: --no-repack, or above the
// repacking budget) with enough tokens: whole 8-row groups are interleaved, kR8CopyRows rows at a time,
// into an R8 scratch and run through the set's R8 kernel — on AVX2 the tiles and signed prefill panels.
// From how many tokens the copy pays (gemm_bench, AVX2, one thread): Q4_K / Q5_K from 2 (their
// file-layout kernels run at ~20 GMAC/s whatever the batch, the R8 ones at 55-80), Q2_K / Q3_K from 2
// (~10-16 against 28-48), IQ4_NL / IQ4_XS from 2 (17-20 against 36-37; from 8 tokens IQ4_NL's file layout
// runs Q8_0's panels, no faster than the R8 tiles), Q6_K and IQ1_S / IQ1_M from 8 (their copy looks up lattice points), Q4_0 from 24 (1.2x at 48-128 tokens); one token never (the copy would cost decode a third). Q8_0 stays: its
// R8 prefill is no faster. Every set does the same, so the sets still agree with the scalar one bit for
// bit; but a token's last bits then depend on its batch (file-layout kernel alone, R8 in a batch), which
// repacked weights (the default) do not.
constexpr int64_t kR8CopyRows = 64;

bool copies_to_r8(DType t, int64_t n_tok) {
  switch (t) {
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS:
    case DType::IQ1_S:
    case DType::IQ1_M: return n_tok >= 8;
    case DType::Q6_K: return n_tok >= 8;
    case DType::Q4_0: return n_tok >= 24;
    default: return false;
  }
}

void rows_through_r8(const kern::KernelSet& ks, const TensorView& w, int64_t row0, int64_t n_rows,
                     const kern::ActQ8& a, float* y, int64_t ldy) {
  const DType r8 = *interleaved_of(w.dtype);
  const size_t r8_row_bytes = dtype_row_bytes(r8, w.cols());
  const int64_t full = n_rows / kInterleaveRows * kInterleaveRows;
  thread_local std::vector<uint8_t> scratch;
  scratch.resize(static_cast<size_t>(kR8CopyRows) * r8_row_bytes);
  const kern::QuantGemmFn fn = ks.quant_for(r8);
  for (int64_t r = 0; r < full; r += kR8CopyRows) {
    const int64_t nr = std::min(kR8CopyRows, full - r);
    interleave_rows(w.dtype, w.row_ptr(row0 + r), nr, w.cols(), scratch.data());
    fn(scratch.data(), r8_row_bytes, nr, a, y + r, ldy);
  }
  if (full < n_rows) ks.quant_for(w.dtype)(w.row_ptr(row0 + full), w.row_bytes(), n_rows - full, a, y + full, ldy);
}

// Reference: dequantize kRowChunk rows to float, float dot per token.
void reference_rows(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx, int64_t n_tok,
                    float* y, int64_t ldy) {
  const int64_t K = w.cols();
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(kRowChunk * K));
  for (int64_t c0 = 0; c0 < n_rows; c0 += kRowChunk) {
    const int64_t nc = std::min(kRowChunk, n_rows - c0);
    dequantize_rows(w, row0 + c0, nc, buf.data());
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = 0; r < nc; ++r) y[t * ldy + c0 + r] = dot_f32(buf.data() + r * K, x + t * ldx, K);
  }
}

void check_rows(const TensorView& w, int64_t row0, int64_t n_rows) {
  if (row0 < 0 || n_rows < 0 || row0 + n_rows > w.rows())
    fail("matmul: rows [", row0, ", ", row0 + n_rows, ") outside '", w.name, "' (", w.rows(), " rows)");
}

}  // namespace

void set_matmul_path(MatmulPath p) { g_path.store(p); }
MatmulPath matmul_path() { return g_path.load(std::memory_order_relaxed); }
const kern::KernelSet& matmul_kernels() {
  return matmul_path() == MatmulPath::kFast ? kern::active_kernels() : kern::scalar_kernels();
}

void matmul_f32_nn(const float* x, int64_t ldx, int64_t n_tok, const float* b, int64_t ldb, int64_t N, int64_t K,
                   float* y, int64_t ldy) {
  matmul_kernels().f32_nn(x, ldx, n_tok, b, ldb, N, K, y, ldy);
}

void MatmulInput::prepare_shape(const float* x, int64_t ldx, int64_t n_tok, int64_t K, DType for_dtype) {
  x_ = x;
  ldx_ = ldx;
  n_tok_ = n_tok;
  K_ = K;
  quantized_ = uses_int8(for_dtype);
  if (!quantized_) return;
  if (K % kern::kActBlock != 0) fail("matmul: K = ", K, " is not a multiple of ", kern::kActBlock);
  act_.n_tok = n_tok;
  act_.K = K;
  act_.nb = K / kern::kActBlock;
  const int64_t n_pad = act_.n_pad();
  act_.q.resize(static_cast<size_t>(n_pad * K));
  act_.d.resize(static_cast<size_t>(n_pad * act_.nb));
  act_.sum.resize(static_cast<size_t>(n_pad * act_.nb));
}

void MatmulInput::quantize_part(int64_t t0, int64_t t1, int64_t b0, int64_t b1) {
  if (!quantized_) return;
  const auto& ks = matmul_kernels();
  const int64_t nb = act_.nb, bs = kern::kActBlock;
  for (int64_t t = t0; t < t1; ++t)
    ks.quantize_row(x_ + t * ldx_ + b0 * bs, (b1 - b0) * bs, act_.q.data() + t * K_ + b0 * bs,
                    act_.d.data() + t * nb + b0, act_.sum.data() + t * nb + b0);
}

void MatmulInput::finish() {
  if (quantized_) kern::finish_tiles(act_);
}

void MatmulInput::prepare(const float* x, int64_t ldx, int64_t n_tok, int64_t K, DType for_dtype) {
  prepare_shape(x, ldx, n_tok, K, for_dtype);
  quantize_part(0, n_tok, 0, K / kern::kActBlock);
  finish();
}

void MatmulInput::prepare(ThreadPool& pool, const float* x, int64_t ldx, int64_t n_tok, int64_t K, DType for_dtype) {
  if (n_tok < kParallelPrepareTokens) return prepare(x, ldx, n_tok, K, for_dtype);
  prepare_shape(x, ldx, n_tok, K, for_dtype);
  if (!quantized_) return;
  kern::finish_layout(act_);
  pool.parallel_for(n_tok, [&](int64_t t0, int64_t t1, int) {  // (ranges start at multiples of kTokTile)
    quantize_part(t0, t1, 0, act_.nb);
    kern::finish_tokens(act_, t0, t1);
  }, kern::kTokTile);
}

void MatmulInput::gather(const MatmulInput& src, const float* x, int64_t ldx, const int32_t* tok, int64_t n,
                         int64_t K, DType for_dtype) {
  if (uses_int8(for_dtype) && src.quantized() && src.K() == K) {
    prepare_shape(nullptr, K, n, K, for_dtype);
    const kern::ActQ8& s = src.act();
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(act_.q.data() + i * K, s.qt(tok[i]), static_cast<size_t>(K));
      std::memcpy(act_.d.data() + i * act_.nb, s.dt(tok[i]), static_cast<size_t>(act_.nb) * sizeof(float));
      std::memcpy(act_.sum.data() + i * act_.nb, s.sumt(tok[i]), static_cast<size_t>(act_.nb) * sizeof(int32_t));
    }
    finish();
    return;
  }
  own_.resize(static_cast<size_t>(n * K));
  for (int64_t i = 0; i < n; ++i) std::memcpy(own_.data() + i * K, x + tok[i] * ldx, static_cast<size_t>(K) * sizeof(float));
  prepare(own_.data(), K, n, K, for_dtype);
}

void matmul_rows(const TensorView& w, int64_t row0, int64_t n_rows, const MatmulInput& in, float* y, int64_t ldy) {
  check_rows(w, row0, n_rows);
  if (n_rows == 0 || in.n_tok() == 0) return;
  if (in.K() != w.cols()) fail("matmul: '", w.name, "' has ", w.cols(), " columns, input has ", in.K());
  const auto& ks = matmul_kernels();
  if (is_interleaved(w.dtype) && (row0 % kInterleaveRows != 0 || n_rows % kInterleaveRows != 0))
    fail("matmul: '", w.name, "' is interleaved by ", kInterleaveRows, " rows; rows [", row0, ", ", row0 + n_rows,
         ") split a row group");
  if (in.quantized() && dtype_is_block_quant(w.dtype)) {
    if (copies_to_r8(w.dtype, in.n_tok())) return rows_through_r8(ks, w, row0, n_rows, in.act(), y, ldy);
    ks.quant_for(w.dtype)(w.row_ptr(row0), w.row_bytes(), n_rows, in.act(), y, ldy);
    return;
  }
  if (matmul_path() == MatmulPath::kReference || dtype_is_block_quant(w.dtype)) {
    reference_rows(w, row0, n_rows, in.x(), in.ldx(), in.n_tok(), y, ldy);
    return;
  }
  const kern::FloatGemmFn fn = ks.float_for(w.dtype);
  if (w.dtype != DType::F8_E4M3) {
    fn(w.row_ptr(row0), w.row_bytes(), n_rows, w.cols(), in.x(), in.ldx(), in.n_tok(), nullptr, y, ldy);
    return;
  }
  // FP8: one call per 128-row block so every row of a call shares one row of block scales.
  const int64_t scale_cols = (w.cols() + kFp8BlockSize - 1) / kFp8BlockSize;
  for (int64_t r = 0; r < n_rows;) {
    const int64_t rb = (row0 + r) / kFp8BlockSize;
    const int64_t n = std::min(n_rows - r, (rb + 1) * kFp8BlockSize - (row0 + r));
    fn(w.row_ptr(row0 + r), w.row_bytes(), n, w.cols(), in.x(), in.ldx(), in.n_tok(), w.block_scale + rb * scale_cols,
       y + r, ldy);
    r += n;
  }
}

void matmul(ThreadPool& pool, const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
            int64_t n_tok, float* y, int64_t ldy) {
  check_rows(w, row0, n_rows);
  if (n_rows == 0 || n_tok == 0) return;
  // The caller's scratch, named through a pointer: inside the lambda a thread_local name would mean
  // each worker's own (empty) instance.
  thread_local MatmulInput scratch;
  MatmulInput* in = &scratch;
  in->prepare(pool, x, ldx, n_tok, w.cols(), w.dtype);
  pool.parallel_for(n_rows, [&](int64_t r0, int64_t r1, int) {
    matmul_rows(w, row0 + r0, r1 - r0, *in, y + r0, ldy);
  }, kMatmulRowGrain);
}

void matmul_shared_input(ThreadPool& pool, const std::vector<const TensorView*>& ws, const float* x, int64_t ldx,
                         int64_t n_tok, const std::vector<float*>& ys) {
  if (ws.size() != ys.size()) fail("matmul_shared_input: ", ws.size(), " weights but ", ys.size(), " outputs");
  if (ws.empty() || n_tok == 0) return;
  // At most two preparations: int8 blocks for the GGML types, float for the rest.
  thread_local MatmulInput int8_in, float_in;
  MatmulInput* in8 = &int8_in;
  MatmulInput* inf = &float_in;
  bool need8 = false, needf = false;
  for (const TensorView* w : ws) {
    if (w->cols() != ws[0]->cols()) fail("matmul_shared_input: '", w->name, "' and '", ws[0]->name, "' differ in K");
    (uses_int8(w->dtype) ? need8 : needf) = true;
  }
  const int64_t K = ws[0]->cols();
  if (need8) in8->prepare(pool, x, ldx, n_tok, K, DType::Q8_0);
  if (needf) inf->prepare(x, ldx, n_tok, K, DType::F32);
  // The weights' rows laid end to end, in units of kMatmulRowGrain rows.
  std::vector<int64_t> first(ws.size() + 1, 0);
  for (size_t i = 0; i < ws.size(); ++i) first[i + 1] = first[i] + (ws[i]->rows() + kMatmulRowGrain - 1) / kMatmulRowGrain;
  pool.parallel_for(first.back(), [&](int64_t u0, int64_t u1, int) {
    for_each_segment(first, u0, u1, [&](size_t i, int64_t b, int64_t e) {
      const int64_t rows = ws[i]->rows(), r0 = b * kMatmulRowGrain, r1 = std::min(rows, e * kMatmulRowGrain);
      matmul_rows(*ws[i], r0, r1 - r0, uses_int8(ws[i]->dtype) ? *in8 : *inf, ys[i] + r0, rows);
    });
  });
}

void matmul_transposed(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t ldx,
                       int64_t n_tok, float* y, int64_t ldy) {
  const int64_t K = w.cols();
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t t = 0; t < n_tok; ++t) std::fill(y + t * ldy, y + t * ldy + K, 0.0f);
  for (int64_t n = 0; n < n_rows; ++n) {
    dequantize_rows(w, row0 + n, 1, row.data());
    for (int64_t t = 0; t < n_tok; ++t) axpy_f32(x[t * ldx + n], row.data(), y + t * ldy, K);
  }
}

}  // namespace dsinfer
