#pragma once
// Bounds-checked little-endian reads from a buffer (the file readers: formats/, the prefix-cache file). A read past the end throws
// Error("truncated: ..."); callers wrap it with the file name and the field being read (with_context),
// so a malformed file can never make us read outside the buffer.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "util/error.h"

namespace dsinfer {

static_assert(std::endian::native == std::endian::little, "GGUF and safetensors readers assume a little-endian host");

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }

  // The next n bytes (a pointer into the buffer); throws if fewer remain.
  const uint8_t* take(uint64_t n, const char* what) {
    if (n > remaining())
      fail("truncated: ", what, " at offset ", pos_, " needs ", n, " bytes but only ", remaining(), " remain");
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }

  template <class T>
  T read(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }

  // A GGUF string: uint64 length, then that many bytes (no terminator).
  std::string read_string(const char* what) {
    const uint64_t n = read<uint64_t>(what);
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace dsinfer
