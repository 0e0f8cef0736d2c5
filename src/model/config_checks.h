#pragma once
// The checks configs' validate() functions share (ModelConfig, V4Config): an Error naming the field.

#include <cstdint>
#include <string>

#include "util/error.h"

namespace dsinfer {

inline void check_field(bool ok, const char* field, const std::string& why) {
  if (!ok) fail("config field '", field, "': ", why);
}

inline void check_field_in(int64_t v, int64_t lo, int64_t hi, const char* field) {
  check_field(v >= lo && v <= hi, field, cat("is ", v, "; must be in [", lo, ", ", hi, "]"));
}

}  // namespace dsinfer
