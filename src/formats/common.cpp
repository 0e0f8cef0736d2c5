#include "formats/common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "tensor/tensor.h"
#include "tensor/interleave.h"
#include "util/error.h"

namespace dsinfer {
namespace {

int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("shape ", shape_str(shape), " has a negative dimension");
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      fail("shape ", shape_str(shape), " has more elements than fit in 64 bits");
    n *= d;
  }
  return n;
}

}  // namespace

size_t checked_tensor_bytes(DType dtype, const std::vector<int64_t>& shape) {
  const int64_t numel = checked_numel(shape);
  const int64_t cols = shape.empty() ? 1 : shape.back();
  const int64_t block = dtype_block_elems(dtype);
  if (cols % block != 0)
    fail("shape ", shape_str(shape), ": the innermost dimension ", cols, " is not a multiple of the ",
         dtype_name(dtype), " block size ", block);
  if (is_interleaved(dtype) && cols > 0 && (numel / cols) % kInterleaveRows != 0)
    fail("shape ", shape_str(shape), ": ", dtype_name(dtype), " stores rows in groups of ", kInterleaveRows, ", but there are ",
         numel / cols, " rows");
  const uint64_t blocks = static_cast<uint64_t>(numel / block);
  const uint64_t bb = dtype_block_bytes(dtype);
  if (blocks > std::numeric_limits<size_t>::max() / bb) fail("shape ", shape_str(shape), ": byte size overflows");
  return static_cast<size_t>(blocks * bb);
}

size_t checked_tensor_bytes(size_t elem_bytes, const std::vector<int64_t>& shape) {
  const auto numel = static_cast<uint64_t>(checked_numel(shape));
  if (elem_bytes != 0 && numel > std::numeric_limits<size_t>::max() / elem_bytes)
    fail("shape ", shape_str(shape), ": byte size overflows");
  return static_cast<size_t>(numel * elem_bytes);
}

void PendingTensor::write_to(uint8_t* dst) const {
  if (fill) fill(dst);
  else if (nbytes) std::memcpy(dst, data, nbytes);
}

PendingTensor make_pending_tensor(const std::string& what, std::string name, DType dtype,
                                  std::vector<int64_t> shape, const void* data, size_t nbytes,
                                  std::function<void(uint8_t*)> fill) {
  const size_t expected = with_context(cat(what, ": tensor '", name, "'"), [&] { return checked_tensor_bytes(dtype, shape); });
  if (!fill && nbytes != expected)
    fail(what, ": tensor '", name, "' ", dtype_name(dtype), " ", shape_str(shape), " needs ", expected,
         " bytes, got ", nbytes);
  if (!fill && nbytes && !data) fail(what, ": tensor '", name, "' has no data");
  PendingTensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.nbytes = expected;
  t.data = data;
  t.fill = std::move(fill);
  return t;
}

OutputFile::OutputFile(std::string path, size_t size)
    : path_(std::move(path)), tmp_path_(path_ + ".tmp"), size_(size) {
  fd_ = ::open(tmp_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(tmp_path_, ": cannot create: ", std::strerror(errno));
  auto cleanup_fail = [&](const char* step, int err) {
    ::close(fd_);
    ::unlink(tmp_path_.c_str());
    fail(tmp_path_, ": cannot ", step, " ", size_, " bytes: ", std::strerror(err));
  };
  if (size_ == 0) return;
  // posix_fallocate returns the error number instead of setting errno.
  if (int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(size_)); err != 0) cleanup_fail("reserve", err);
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) cleanup_fail("map", errno);
  ::madvise(p, size_, MADV_HUGEPAGE);  // 2 MiB page-cache folios where possible: a model read from the page
                                       // cache right after writing maps with huge-page TLB entries
  data_ = static_cast<uint8_t*>(p);
}

OutputFile::~OutputFile() {
  if (data_) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void OutputFile::commit() {
  // No msync: the space was reserved up front, and the page cache writes the pages back on its own.
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  if (::close(fd_) != 0) {
    fd_ = -1;
    fail(tmp_path_, ": cannot close: ", std::strerror(errno));
  }
  fd_ = -1;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    fail(path_, ": cannot rename ", tmp_path_, " into place: ", std::strerror(errno));
  committed_ = true;
}

std::string path_join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string path_dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace dsinfer
