#pragma once
// safetensors files as Hugging Face writes them: u64 little-endian header length N, N bytes of JSON
//   {"__metadata__": {str: str}, "<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}}
// then the data; offsets are relative to the end of the header. A checkpoint directory holds one file or
// shards listed in `model.safetensors.index.json` ({"weight_map": {tensor: shard file}}).
//
// Files are memory-mapped; tensors are TensorViews into the mapping. Tensors of dtypes dsinfer cannot load
// (I64, F64, F8_E5M2, ...) are listed separately and only asking for one by name is an Error, since real
// checkpoints carry a few such tensors that inference never uses. Every malformed input is an Error that
// names the file.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formats/common.h"
#include "tensor/tensor.h"

namespace dsinfer {

class MappedFile;

constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";

struct SafetensorsUnsupportedTensor {
  std::string name;
  std::string dtype;  // as written in the header, e.g. "I64"
  std::vector<int64_t> shape;
  std::string file;
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
};

class SafetensorsModel {
 public:
  // A checkpoint directory: the shards named by model.safetensors.index.json if it exists (every shard must
  // exist and hold the tensors the index assigns to it), else every *.safetensors file in it.
  static std::unique_ptr<SafetensorsModel> open_dir(const std::string& dir);
  // One .safetensors file.
  static std::unique_ptr<SafetensorsModel> open_file(const std::string& path);
  // One safetensors image in memory; `data` must outlive the result. For tests and fuzzers.
  static std::unique_ptr<SafetensorsModel> from_memory(const void* data, size_t size, const std::string& name);

  ~SafetensorsModel();
  SafetensorsModel(const SafetensorsModel&) = delete;
  SafetensorsModel& operator=(const SafetensorsModel&) = delete;

  // Loadable tensors: file by file, in each file by name.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr if there is no such tensor; Error if it exists with a dtype dsinfer cannot load.
  const TensorView* find_tensor(std::string_view name) const;
  // Like find_tensor but a missing tensor is an Error.
  const TensorView& tensor(std::string_view name) const;
  // An integer tensor (I64, I32, I16, I8, U8; e.g. DeepSeek-V4's hash-routing table tid2eid) as int64
  // values in storage order, and its shape; Error if it is missing, of another dtype, or sized wrongly.
  std::vector<int64_t> int_tensor(std::string_view name, std::vector<int64_t>* shape = nullptr) const;
  bool has_tensor(std::string_view name) const {
    return tensor_index_.count(name) > 0 || unsupported_index_.count(name) > 0;
  }
  const std::vector<SafetensorsUnsupportedTensor>& unsupported_tensors() const { return unsupported_; }

  // "__metadata__" of all files (the first file that sets a key wins).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<std::string>& paths() const { return paths_; }
  const std::string& source() const { return source_; }  // the directory or file that was opened
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  SafetensorsModel() = default;
  void add_file(const uint8_t* data, size_t size, const std::string& name);

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, size_t, StringHash, std::equal_to<>>;

  std::string source_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::string> paths_;
  uint64_t file_bytes_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorView> tensors_;
  std::vector<size_t> tensor_file_;  // index into paths_ of each tensor
  Index tensor_index_;
  std::vector<SafetensorsUnsupportedTensor> unsupported_;
  Index unsupported_index_;
};

// Writes safetensors files the way the official library does (header padded with spaces to 8 bytes,
// tensors packed without gaps, larger element types first so every tensor is aligned to its element
// size). Data is borrowed or produced by fill callbacks straight into the output mapping.
class SafetensorsWriter {
 public:
  void add_metadata(std::string key, std::string value);
  // dtype F32, F16, BF16 or F8_E4M3 (GGML block types are an Error); nbytes must match dtype and shape.
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
  void add_tensor_lazy(std::string name, DType dtype, std::vector<int64_t> shape,
                       std::function<void(uint8_t* dst)> fill);

  void write(const std::string& path) const;
  // Writes `dir/model-00001-of-0000N.safetensors`, ... (a new shard starts when the next tensor would push
  // the current one over max_bytes_per_shard; each shard gets at least one tensor) and
  // `dir/model.safetensors.index.json`. Returns the shard paths.
  std::vector<std::string> write_sharded(const std::string& dir, uint64_t max_bytes_per_shard) const;

 private:
  void add_entry(std::string name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes,
                 std::function<void(uint8_t*)> fill);
  void write_file(const std::string& path, const std::vector<const PendingTensor*>& tensors) const;

  std::map<std::string, std::string> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace dsinfer
