#pragma once
// A read-only memory-mapped file. Weights are used in place from the mapping; nothing is copied at load.

#include <cstddef>
#include <cstdint>
#include <string>

namespace dsinfer {

class MappedFile {
 public:
  // Maps the whole file read-only. Throws Error naming the path if it cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Asks the kernel to read [offset, offset+len) ahead (MADV_WILLNEED); a hint, never fails.
  void prefetch(size_t offset, size_t len) const;

 private:
  std::string path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string read_text_file(const std::string& path);
void write_file(const std::string& path, const void* data, size_t size);

}  // namespace dsinfer
