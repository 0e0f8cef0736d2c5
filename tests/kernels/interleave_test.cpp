// The row-interleaved R8 layouts (Q4_0, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, IQ4_NL, IQ4_XS, IQ1_S, IQ1_M)
// (tensor/interleave.h) and their
// kernels:
//  - repacking loses nothing (every row comes back byte for byte; dequantization is unchanged);
//  - AVX2 == AVX-512 VNNI == scalar bit for bit (each set this CPU runs), and both within the activation-rounding bound of the float reference;
//  - a token's result does not depend on the batch it is computed in (bit for bit);
//  - with >= 8 tokens Q4_0_R8 / Q8_0_R8 equal the plain layout's kernels bit for bit (same whole-block sums);
//  - views and row ranges that split an 8-row group are errors.

#include <gtest/gtest.h>

#include <vector>

#include "kernel_test_util.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/matmul.h"
#include "util/cpu_features.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace dsinfer {
namespace {

const DType kR8Types[] = {DType::Q4_0_R8, DType::Q8_0_R8, DType::Q4_K_R8, DType::Q5_K_R8, DType::Q6_K_R8,
                          DType::Q5_0_R8, DType::Q5_1_R8, DType::Q2_K_R8, DType::Q3_K_R8, DType::IQ4_NL_R8,
                          DType::IQ4_XS_R8, DType::IQ1_S_R8, DType::IQ1_M_R8};

// Awkward row widths per type (a multiple of its block: 32, or 256 for the K-quants).
std::vector<int64_t> widths(DType t) {
  if (dtype_block_elems(t) == 256) return {256, 768, 2048};
  return {32, 96, 2048};
}

std::vector<float> run(const kern::KernelSet& ks, const TensorView& w, const std::vector<float>& x,
                       int64_t n_tok, kern::ActQ8& a) {
  const int64_t rows = w.rows(), K = w.cols();
  std::vector<float> y(static_cast<size_t>(n_tok * rows), NAN);
  kern::quantize_act(ks, x.data(), K, n_tok, K, a);
  ks.quant_for(w.dtype)(static_cast<const uint8_t*>(w.data), w.row_bytes(), rows, a, y.data(), rows);
  return y;
}

TEST(Interleave, RowsComeBackByteForByteAndDequantizeUnchanged) {
  for (DType t : kR8Types) {
    const DType plain = plain_of(t);
    const int64_t K = widths(t)[1];
    Weights p = make_weights(plain, 24, K, 3), r = make_weights(t, 24, K, 3);
    ASSERT_EQ(r.bytes.size(), 24 * r.view.row_bytes());
    const size_t rb = dtype_row_bytes(plain, K);
    std::vector<uint8_t> row(rb);
    for (int64_t i = 0; i < 24; ++i) {
      deinterleave_row(t, r.view.row_ptr(i / 8 * 8), K, static_cast<int>(i % 8), row.data());
      ASSERT_EQ(0, std::memcmp(row.data(), p.view.row_ptr(i), rb)) << dtype_name(t) << " row " << i;
    }
    EXPECT_EQ(to_f32(p.view), to_f32(r.view)) << dtype_name(t);
    std::vector<float> a(3 * K), b(3 * K);  // rows 13..15: not group-aligned
    dequantize_rows(p.view, 13, 3, a.data());
    dequantize_rows(r.view, 13, 3, b.data());
    EXPECT_EQ(a, b);
  }
  std::vector<uint8_t> out(18 * 12);
  EXPECT_THROW(interleave_rows(DType::Q4_0, out.data(), 4, 96, out.data()), Error);  // not 8 rows
  EXPECT_THROW(interleave_rows(DType::F16, out.data(), 8, 256, out.data()), Error);  // no R8 form
}

TEST(Interleave, SimdKernelsMatchScalarAndTheFloatReference) {
  for (DType t : kR8Types)
    for (int64_t K : widths(t))
      for (int64_t rows : {8, 16, 24, 40})  // 8-row groups 1, 2, 3, 4 + 1 (panels take up to 4, in pairs on 512 bits)
        for (int64_t n_tok : {1, 2, 3, 4, 5, 7, 8, 9, 12, 17}) {
          Weights w = make_weights(t, rows, K, 50 + static_cast<uint32_t>(K + rows + n_tok));
          auto x = make_x(n_tok, K, 60 + static_cast<uint32_t>(n_tok));
          kern::ActQ8 as;
          const auto ys = run(kern::scalar_kernels(), w.view, x, n_tok, as);
          const auto ref = reference(w.view, x, n_tok);
          const auto bound = rounding_bound(w.view, as);
          for (size_t i = 0; i < ys.size(); ++i)
            ASSERT_LE(std::fabs(ys[i] - ref[i]), bound[i]) << dtype_name(t) << " K=" << K << " i=" << i;
          for (const auto* ks : runnable_kernel_sets()) {
            kern::ActQ8 av;
            const auto yv = run(*ks, w.view, x, n_tok, av);
            for (size_t i = 0; i < ys.size(); ++i)
              ASSERT_EQ(yv[i], ys[i]) << ks->isa << " " << dtype_name(t) << " K=" << K << " rows=" << rows
                                      << " tokens=" << n_tok << " i=" << i;
          }
        }
}

TEST(Interleave, ATokensResultDoesNotDependOnItsBatch) {
  for (DType t : kR8Types)
    for (const auto* ks : runnable_kernel_sets()) {
      const int64_t K = 512, rows = 24, n_tok = 17;  // the panels of every format (17: Q4_0, Q8_0)
      Weights w = make_weights(t, rows, K, 8);
      auto x = make_x(n_tok, K, 9);
      kern::ActQ8 a;
      const auto batch = run(*ks, w.view, x, n_tok, a);
      for (int64_t tok = 0; tok < n_tok; ++tok) {
        std::vector<float> one(x.begin() + tok * K, x.begin() + (tok + 1) * K);
        const auto alone = run(*ks, w.view, one, 1, a);
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_EQ(alone[r], batch[tok * rows + r]) << ks->isa << " " << dtype_name(t) << " token " << tok;
      }
    }
}

TEST(Interleave, FromEightTokensTheyEqualThePlainLayoutKernels) {
  for (DType t :
       {DType::Q4_0_R8, DType::Q8_0_R8})  // (the K-quant R8 kernels order their float ops differently)
    for (const auto* ks : runnable_kernel_sets())
      for (int64_t n_tok : {8, 13}) {
        Weights p = make_weights(plain_of(t), 16, 512, 21), r = make_weights(t, 16, 512, 21);
        auto x = make_x(n_tok, 512, 22);
        kern::ActQ8 a;
        EXPECT_EQ(run(*ks, p.view, x, n_tok, a), run(*ks, r.view, x, n_tok, a))
            << ks->isa << " " << dtype_name(t);
      }
}

// File-layout Q4_0 / K-quant weights with >= 24 tokens go through the R8 kernels (matmul.cpp copies their
// whole row groups to an R8 scratch): the same results as the repacked tensor, bit for bit, and the
// rows after the last whole group (and row ranges starting anywhere) through the file-layout kernel.
TEST(Interleave, FileLayoutPrefillRunsTheR8KernelsOnWholeRowGroups) {
  for (DType t : {DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q2_K, DType::Q3_K, DType::IQ4_NL,
                  DType::IQ4_XS}) {
    const DType r8 = *interleaved_of(t);
    const int64_t K = dtype_block_elems(t) == 256 ? 512 : 96, rows = 152, n_tok = 25;
    Weights p = make_weights(t, rows, K, 41), r = make_weights(r8, rows, K, 41);
    auto x = make_x(n_tok, K, 42);
    MatmulInput in;
    in.prepare(x.data(), K, n_tok, K, t);
    std::vector<float> yp(static_cast<size_t>(n_tok * rows)), yr(yp.size());
    matmul_rows(p.view, 0, rows, in, yp.data(), rows);
    matmul_rows(r.view, 0, rows, in, yr.data(), rows);
    EXPECT_EQ(yp, yr) << dtype_name(t);
    // rows [3, 150): 18 whole groups copied, 3 rows left to the file-layout kernel; within the bound of
    // the float reference like any quantized product
    const int64_t r0 = 3, nr = 147;
    std::vector<float> part(static_cast<size_t>(n_tok * nr));
    matmul_rows(p.view, r0, nr, in, part.data(), nr);
    kern::ActQ8 as;
    kern::quantize_act(kern::scalar_kernels(), x.data(), K, n_tok, K, as);
    const auto ref = reference(p.view, x, n_tok);
    const auto bound = rounding_bound(p.view, as);
    for (int64_t tok = 0; tok < n_tok; ++tok)
      for (int64_t i = 0; i < nr; ++i)
        ASSERT_LE(std::fabs(part[tok * nr + i] - ref[tok * rows + r0 + i]), bound[tok * rows + r0 + i])
            << dtype_name(t) << " token " << tok << " row " << r0 + i;
  }
}

TEST(Interleave, ThreadedMatmulAndRowGroupChecks) {
  ThreadPool pool(2);
  for (DType t : kR8Types) {
    const int64_t K = 256, rows = 96, n_tok = 3;
    Weights w = make_weights(t, rows, K, 31);
    auto x = make_x(n_tok, K, 32);
    std::vector<float> y(static_cast<size_t>(n_tok * 48)), y1(y.size());
    matmul(pool, w.view, 16, 48, x.data(), K, n_tok, y.data(), 48);
    MatmulInput in;
    in.prepare(x.data(), K, n_tok, K, t);
    matmul_rows(w.view, 16, 48, in, y1.data(), 48);
    EXPECT_EQ(y, y1);
    EXPECT_THROW(matmul_rows(w.view, 4, 8, in, y1.data(), 48), Error);   // starts inside a group
    EXPECT_THROW(matmul_rows(w.view, 8, 12, in, y1.data(), 48), Error);  // ends inside a group
    EXPECT_THROW(w.view.slice_rows(3, 8), Error);
    EXPECT_NO_THROW(w.view.slice_rows(8, 16));
  }
}

}  // namespace
}  // namespace dsinfer
