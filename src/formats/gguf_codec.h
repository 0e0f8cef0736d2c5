#pragma once
// GGUF value (de)serialization, shared by the reader and the writer (internal to formats/).

#include <cstdint>
#include <vector>

#include "formats/byte_reader.h"
#include "formats/gguf_value.h"

namespace dsinfer {

class GgufValueCodec {
 public:
  // Reads a value of type t at r's position. Array counts and string lengths are checked against the bytes
  // that remain before anything is allocated; arrays nest at most kMaxDepth deep.
  static GgufValue decode(ByteReader& r, GgufType t, int depth = 0);
  // Appends the value's payload (without its type id) as GGUF writes it.
  static void encode(const GgufValue& v, std::vector<uint8_t>& out);

  static constexpr int kMaxDepth = 8;
};

// Appends raw little-endian bytes of a scalar / a GGUF string to out.
template <class T>
void gguf_put(std::vector<uint8_t>& out, T v) {
  const size_t n = out.size();
  out.resize(n + sizeof(T));
  std::memcpy(out.data() + n, &v, sizeof(T));
}
void gguf_put_string(std::vector<uint8_t>& out, const std::string& s);

}  // namespace dsinfer
