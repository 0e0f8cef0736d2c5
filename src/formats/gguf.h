#pragma once
// GGUF files as llama.cpp reads and writes them (versions 2 and 3, little-endian):
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x (string key, u32 type, value),
//   n_tensors x (string name, u32 n_dims, u64 ne[n_dims] innermost first, u32 ggml type, u64 offset),
//   padding to `general.alignment` (default 32), then tensor data; offsets are relative to the data start.
// Strings are u64 length + bytes. Split models are `prefix-00001-of-0000N.gguf` files carrying
// `split.no` (u16, 0-based), `split.count` (u16) and `split.tensors.count` (i32); only the first one
// holds the model metadata.
//
// GgufFile memory-maps the file(s); tensors are TensorViews into the mapping (shapes reversed to
// outermost-first), never copies. Every malformed input is an Error naming the file.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formats/common.h"
#include "formats/gguf_value.h"
#include "tensor/tensor.h"

namespace dsinfer {

class MappedFile;

constexpr uint64_t kGgufDefaultAlignment = 32;
constexpr uint32_t kGgufMaxDims = 4;

// A tensor whose ggml type dsinfer cannot load (e.g. q4_1, iq2_xxs). It is listed so that tools can show
// the file, but asking for it by name is an Error naming the tensor and the type.
struct GgufUnsupportedTensor {
  std::string name;
  uint32_t ggml_type = 0;
  std::vector<int64_t> shape;  // outermost first
};

class GgufFile {
 public:
  // Maps and parses `path`. If it is one part of a split model, all parts are opened (found by name next
  // to it) and their tensors merged; metadata comes from the first part.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses a single GGUF image in memory (no split discovery). `data` must outlive the result; `name` is
  // used in error messages. Used by tests and fuzzers.
  static std::unique_ptr<GgufFile> from_memory(const void* data, size_t size, const std::string& name);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }  // of the first part

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;  // nullptr if absent
  // Typed lookups: nullopt / nullptr if the key is absent; Error naming the key if it has another type.
  std::optional<uint64_t> get_uint(std::string_view key) const;  // any integer type, value >= 0
  std::optional<int64_t> get_int(std::string_view key) const;    // any integer type
  std::optional<double> get_float(std::string_view key) const;   // float32, float64 or any integer
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const std::vector<std::string>* get_string_array(std::string_view key) const;  // no copy
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;  // any integer elements
  std::optional<std::vector<float>> get_float_array(std::string_view key) const;  // float or integer elements

  // Loadable tensors, in file order (parts in order).
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr if there is no such tensor; Error if it exists with an unsupported ggml type.
  const TensorView* find_tensor(std::string_view name) const;
  // Like find_tensor but a missing tensor is an Error naming the file and the tensor.
  const TensorView& tensor(std::string_view name) const;
  const std::vector<GgufUnsupportedTensor>& unsupported_tensors() const { return unsupported_; }

  const std::vector<std::string>& paths() const { return paths_; }  // one per part, in order
  const std::string& path() const { return paths_.front(); }
  uint64_t file_bytes() const { return file_bytes_; }  // all parts together

 struct Part;  // one parsed file (internal to gguf_reader.cpp)

 private:
  GgufFile() = default;
  void add_part(Part&& part);
  [[noreturn]] void fail_type(std::string_view key, const GgufValue& v, const char* expected) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, size_t, StringHash, std::equal_to<>>;

  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::string> paths_;
  uint64_t file_bytes_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  Index metadata_index_;
  std::vector<TensorView> tensors_;
  Index tensor_index_;
  std::vector<GgufUnsupportedTensor> unsupported_;
  Index unsupported_index_;
};

// Writes GGUF v3 files like llama.cpp's gguf writer. Tensor data is either borrowed (the buffer must stay
// alive until write) or produced by a callback while writing, straight into the output file's mapping,
// so writing a model of many GB needs memory for one tensor at most. Files are written to `path.tmp`
// and renamed into place when complete.
class GgufWriter {
 public:
  // Duplicate keys are an Error. `general.alignment` (an integer, power of two) sets the data alignment.
  void add_kv(std::string key, GgufValue value);
  // shape outermost-first (1 to 4 dims, each > 0); nbytes must match dtype and shape. F8_E4M3 is an Error
  // (GGUF has no such type).
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
  void add_tensor_lazy(std::string name, DType dtype, std::vector<int64_t> shape,
                       std::function<void(uint8_t* dst)> fill);

  void write(const std::string& path) const;
  // Splits like llama.cpp's gguf-split --split-max-size: a new part starts when the next tensor would
  // push the current part's data over max_bytes_per_file (a part always gets at least one tensor).
  // Writes `prefix-00001-of-0000N.gguf` ...; the first part holds all metadata. Returns the paths.
  std::vector<std::string> write_split(const std::string& path_prefix, uint64_t max_bytes_per_file) const;

  size_t tensor_count() const { return tensors_.size(); }

 private:
  void add_entry(std::string name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes,
                 std::function<void(uint8_t*)> fill);
  void write_part(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv,
                  size_t first_tensor, size_t n_tensors) const;

  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<PendingTensor> tensors_;
};

// The file name of split part `index` (0-based) of `count`: "prefix-00001-of-00003.gguf".
std::string gguf_split_path(const std::string& prefix, int index, int count);

}  // namespace dsinfer
