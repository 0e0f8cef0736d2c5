#pragma once
// Page-backed memory outside the malloc heap: a private anonymous mapping (transparent huge pages asked
// for), for large long-lived buffers such as repacked weights; and a way to give back the pages of a
// read-only file mapping that will not be read again soon.

#include <cstddef>
#include <cstdint>

namespace dsinfer {

class AnonBuffer {
 public:
  // Maps `bytes` of zeroed memory. Throws Error (naming the size) if the system refuses.
  explicit AnonBuffer(size_t bytes);
  ~AnonBuffer();
  AnonBuffer(const AnonBuffer&) = delete;
  AnonBuffer& operator=(const AnonBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Drops this process's pages of [p, p + len) of a read-only file mapping (whole pages inside the range
// only): resident memory falls, the page cache keeps the file, and a later read faults the data back in.
// A hint; never fails.
void release_file_pages(const void* p, size_t len);

}  // namespace dsinfer
