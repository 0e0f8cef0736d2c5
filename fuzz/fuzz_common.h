#pragma once
// What both fuzzers do with a tensor view that loaded: read every byte it claims (the sanitizer flags any
// byte outside the input) and decode small tensors the way kernels would.

#include <cstdint>
#include <vector>

#include "tensor/quant.h"
#include "tensor/tensor.h"

namespace dsinfer {

inline uint32_t fuzz_touch_tensor(const TensorView& t) {
  uint32_t sum = 0;
  const auto* p = static_cast<const uint8_t*>(t.data);
  for (size_t i = 0; i < t.nbytes; ++i) sum += p[i];
  if (t.nbytes != t.expected_bytes()) __builtin_trap();  // a view must cover exactly its shape
  if (t.numel() > 0 && t.numel() <= (1 << 16)) {
    std::vector<float> out(static_cast<size_t>(t.numel()));
    dequantize_row(t.dtype, t.data, out.data(), t.numel());
  }
  return sum;
}

}  // namespace dsinfer
