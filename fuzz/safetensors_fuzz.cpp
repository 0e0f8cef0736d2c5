// libFuzzer target: arbitrary bytes as a safetensors file (8-byte header length, JSON header, data).

#include <cstddef>
#include <cstdint>

#include "formats/safetensors.h"
#include "fuzz_common.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsinfer;
  try {
    auto m = SafetensorsModel::from_memory(data, size, "fuzz.safetensors");
    volatile uint32_t sink = 0;
    for (const auto& t : m->tensors()) sink = sink + fuzz_touch_tensor(t);
    for (const auto& t : m->unsupported_tensors()) {
      try { (void)m->find_tensor(t.name); } catch (const Error&) {}
    }
  } catch (const Error&) {
  }
  return 0;
}
