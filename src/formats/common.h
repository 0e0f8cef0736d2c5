#pragma once
// Pieces shared by the GGUF and safetensors readers and writers (internal to formats/).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace dsinfer {

// Bytes of a tensor of `dtype` and `shape` (outermost first). Throws Error if a dimension is negative, the
// innermost one is not a multiple of the dtype's block, or the element or byte count overflows.
size_t checked_tensor_bytes(DType dtype, const std::vector<int64_t>& shape);
// Same for a plain element size (safetensors dtypes we cannot load but still bounds-check).
size_t checked_tensor_bytes(size_t elem_bytes, const std::vector<int64_t>& shape);

// What a writer will store for one tensor: bytes from a caller-owned buffer (which must stay alive until
// the write) or produced by `fill` at write time, so a writer never holds all weights in memory.
struct PendingTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first
  size_t nbytes = 0;
  const void* data = nullptr;
  std::function<void(uint8_t* dst)> fill;  // writes exactly nbytes at dst

  void write_to(uint8_t* dst) const;
};

// Checks the shape and size and makes the entry; `what` names the writer for error messages.
PendingTensor make_pending_tensor(const std::string& what, std::string name, DType dtype,
                                  std::vector<int64_t> shape, const void* data, size_t nbytes,
                                  std::function<void(uint8_t*)> fill);

// An output file of a known size, written through a shared writable mapping so tensor data is produced
// straight into the page cache. It is created as `path.tmp` with its space reserved up front (a full disk
// fails here, not with SIGBUS later) and renamed to `path` by commit(); without commit it is removed.
class OutputFile {
 public:
  OutputFile(std::string path, size_t size);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  uint8_t* data() { return data_; }
  size_t size() const { return size_; }
  void commit();

 private:
  std::string path_, tmp_path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
  bool committed_ = false;
};

inline uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// "dir/name" (dir may be empty or end with '/').
std::string path_join(const std::string& dir, const std::string& name);
std::string path_dirname(const std::string& path);  // "" for a bare file name

}  // namespace dsinfer
