// libFuzzer target: arbitrary bytes as a GGUF file, and the model config read from its metadata (as
// dsinfer reads a deepseek2 file: block_count, nextn_predict_layers, …). Anything but a clean load or a
// dsinfer::Error (a crash, a sanitizer report, another exception, an allocation over -malloc_limit_mb) is a bug.

#include <cstddef>
#include <cstdint>

#include "formats/gguf.h"
#include "fuzz_common.h"
#include "model/model_config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsinfer;
  try {
    auto f = GgufFile::from_memory(data, size, "fuzz.gguf");
    for (const auto& [key, value] : f->metadata()) {
      (void)value.to_string();
      for (size_t i = 0; i < value.array_size() && i < 4; ++i) (void)value.element(i).to_string();
      // The typed getters either convert or throw Error.
      try { (void)f->get_uint(key); } catch (const Error&) {}
      try { (void)f->get_float_array(key); } catch (const Error&) {}
      try { (void)f->get_int_array(key); } catch (const Error&) {}
      try { (void)f->get_string_array(key); } catch (const Error&) {}
    }
    volatile uint32_t sink = 0;
    for (const auto& t : f->tensors()) sink = sink + fuzz_touch_tensor(t);
    for (const auto& t : f->unsupported_tensors()) {
      try { (void)f->find_tensor(t.name); } catch (const Error&) {}
    }
    try { (void)config_from_gguf(*f); } catch (const Error&) {}
  } catch (const Error&) {
  }
  return 0;
}
