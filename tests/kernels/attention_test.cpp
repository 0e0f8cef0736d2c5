// MLA kernels: the AVX2 set against the scalar set, and the scalar set against a plain double loop,
// on awkward sizes (head counts not a multiple of 8, 1..300 keys, partial column ranges).

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cpu/gemm.h"
#include "tensor/half.h"
#include "util/cpu_features.h"

namespace dsinfer {
namespace {

TEST(MlaKernels, ScoresAndValuesMatchScalarAndDouble) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const auto sets = runnable_kernel_sets();
  for (int64_t H : {1, 2, 6, 8, 16})
    for (int64_t n : {1, 5, 70, 300}) {  // 300: several key blocks of the values kernel
      const int64_t rkv = 128, L = rkv + 64;
      std::vector<float> q(H * L), cache(n * L), p(H * n);
      for (auto& v : q) v = nd(rng);
      for (auto& v : cache) v = nd(rng);
      for (auto& v : p) v = std::fabs(nd(rng));
      std::vector<const float*> keys(n);
      for (int64_t j = 0; j < n; ++j) keys[j] = cache.data() + j * L;
      // column ranges: 24 + 24 + 16 columns, 24 + 16, and 8 (the fallback)
      for (auto [c0, c1] : {std::pair<int64_t, int64_t>{32, 96}, {8, 48}, {16, 24}}) {
        std::vector<float> s_first, out_first;
        for (const auto* ks : sets) {
          std::vector<float> s(H * n, NAN), out(H * rkv, -7.0f);
          ks->mla_scores(q.data(), H, L, keys.data(), n, 0.5f, s.data(), n);
          ks->mla_values(p.data(), n, H, keys.data(), n, c0, c1, out.data(), rkv);
          for (int64_t h = 0; h < H; ++h) {
            for (int64_t j = 0; j < n; ++j) {
              double want = 0;
              for (int64_t c = 0; c < L; ++c) want += static_cast<double>(q[h * L + c]) * cache[j * L + c];
              ASSERT_NEAR(s[h * n + j], 0.5 * want, 1e-4 * (1 + std::fabs(want))) << ks->isa << " H=" << H;
            }
            for (int64_t c = 0; c < rkv; ++c) {
              if (c < c0 || c >= c1) {
                ASSERT_EQ(out[h * rkv + c], -7.0f) << "column outside [c0, c1) written";
                continue;
              }
              double want = 0;
              for (int64_t j = 0; j < n; ++j) want += static_cast<double>(p[h * n + j]) * cache[j * L + c];
              ASSERT_NEAR(out[h * rkv + c], want, 1e-4 * (1 + std::fabs(want))) << ks->isa << " H=" << H;
            }
          }
          if (s_first.empty()) {
            s_first = s;
            out_first = out;
          } else {  // SIMD equals the scalar mirror bit for bit
            EXPECT_EQ(s, s_first) << ks->isa << " H=" << H << " n=" << n;
            EXPECT_EQ(out, out_first) << ks->isa << " H=" << H << " n=" << n << " c0=" << c0;
          }
        }
      }
    }
}

}  // namespace
}  // namespace dsinfer

namespace dsinfer {
namespace {

// The f16-cache kernels: AVX2 == scalar bit for bit, and both equal the float kernels run on the same
// values converted to float32 (the conversion is exact, so the float operations are the same).
TEST(MlaKernels, F16KeysGiveTheFloatKernelsResultsOnTheConvertedValues) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const auto sets = runnable_kernel_sets();
  for (int64_t H : {2, 16})
    for (int64_t n : {1, 37}) {
      const int64_t rkv = 128, L = rkv + 64;
      std::vector<float> q(H * L), p(H * n), cache32(n * L);
      std::vector<uint16_t> cache16(n * L);
      for (auto& v : q) v = nd(rng);
      for (auto& v : p) v = std::fabs(nd(rng));
      for (int64_t i = 0; i < n * L; ++i) {
        cache16[i] = f32_to_f16(nd(rng));
        cache32[i] = f16_to_f32(cache16[i]);
      }
      std::vector<const float*> k32(n);
      std::vector<const uint16_t*> k16(n);
      for (int64_t j = 0; j < n; ++j) {
        k32[j] = cache32.data() + j * L;
        k16[j] = cache16.data() + j * L;
      }
      for (const auto* ks : sets) {
        std::vector<float> s32(H * n), s16(H * n), o32(H * rkv), o16(H * rkv);
        ks->mla_scores(q.data(), H, L, k32.data(), n, 0.25f, s32.data(), n);
        ks->mla_scores_f16(q.data(), H, L, k16.data(), n, 0.25f, s16.data(), n);
        ks->mla_values(p.data(), n, H, k32.data(), n, 0, rkv, o32.data(), rkv);
        ks->mla_values_f16(p.data(), n, H, k16.data(), n, 0, rkv, o16.data(), rkv);
        EXPECT_EQ(s16, s32) << ks->isa << " H=" << H << " n=" << n;
        EXPECT_EQ(o16, o32) << ks->isa << " H=" << H << " n=" << n;
      }
    }
}

}  // namespace
}  // namespace dsinfer
