// GGUF writer (v3, little-endian), byte-compatible with llama.cpp's gguf writer and gguf-split.

#include <algorithm>
#include <cstring>
#include <limits>

#include "formats/gguf.h"
#include "formats/gguf_codec.h"
#include "util/error.h"

namespace dsinfer {
namespace {

constexpr uint32_t kVersion = 3;
constexpr const char* kSplitNo = "split.no";
constexpr const char* kSplitCount = "split.count";
constexpr const char* kSplitTensorsCount = "split.tensors.count";

uint64_t alignment_of(const std::vector<std::pair<std::string, GgufValue>>& kv) {
  for (const auto& [k, v] : kv)
    if (k == "general.alignment") return *v.as_uint();  // validated by add_kv
  return kGgufDefaultAlignment;
}

}  // namespace

void GgufWriter::add_kv(std::string key, GgufValue value) {
  for (const auto& kv : kv_)
    if (kv.first == key) fail("GGUF writer: metadata key '", key, "' added twice");
  if (key == "general.alignment") {
    const auto a = value.as_uint();
    if (!a || *a == 0 || (*a & (*a - 1)) != 0)
      fail("GGUF writer: general.alignment must be a power of two, got ", value.to_string());
  }
  kv_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                            size_t nbytes) {
  add_entry(std::move(name), dtype, std::move(shape), data, nbytes, nullptr);
}

void GgufWriter::add_tensor_lazy(std::string name, DType dtype, std::vector<int64_t> shape,
                                 std::function<void(uint8_t* dst)> fill) {
  if (!fill) fail("GGUF writer: tensor '", name, "' has no fill function");
  add_entry(std::move(name), dtype, std::move(shape), nullptr, 0, std::move(fill));
}

void GgufWriter::add_entry(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                           size_t nbytes, std::function<void(uint8_t*)> fill) {
  const std::string what = cat("GGUF writer: tensor '", name, "'");
  if (shape.empty() || shape.size() > kGgufMaxDims)
    fail(what, ": GGUF tensors have 1 to ", kGgufMaxDims, " dimensions, got ", shape_str(shape));
  for (int64_t d : shape)
    if (d <= 0) fail(what, ": dimensions must be positive, got ", shape_str(shape));
  with_context(what, [&] { return dtype_to_ggml(dtype); });
  for (const auto& t : tensors_)
    if (t.name == name) fail(what, " added twice");
  tensors_.push_back(
      make_pending_tensor("GGUF writer", std::move(name), dtype, std::move(shape), data, nbytes, std::move(fill)));
}

void GgufWriter::write_part(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv,
                            size_t first_tensor, size_t n_tensors) const {
  const uint64_t alignment = alignment_of(kv);
  std::vector<uint8_t> header;
  gguf_put<uint32_t>(header, 0x46554747);  // "GGUF"
  gguf_put<uint32_t>(header, kVersion);
  gguf_put<uint64_t>(header, n_tensors);
  gguf_put<uint64_t>(header, kv.size());
  for (const auto& [key, value] : kv) {
    gguf_put_string(header, key);
    gguf_put<uint32_t>(header, static_cast<uint32_t>(value.type()));
    GgufValueCodec::encode(value, header);
  }
  std::vector<uint64_t> offsets(n_tensors);
  uint64_t data_bytes = 0;
  for (size_t i = 0; i < n_tensors; ++i) {
    const PendingTensor& t = tensors_[first_tensor + i];
    offsets[i] = data_bytes;
    data_bytes = align_up(data_bytes + t.nbytes, alignment);
    gguf_put_string(header, t.name);
    gguf_put<uint32_t>(header, static_cast<uint32_t>(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) gguf_put<uint64_t>(header, static_cast<uint64_t>(*d));
    gguf_put<uint32_t>(header, dtype_to_ggml(t.dtype));
    gguf_put<uint64_t>(header, offsets[i]);
  }
  const uint64_t data_start = align_up(header.size(), alignment);
  OutputFile out(path, static_cast<size_t>(data_start + data_bytes));
  std::memcpy(out.data(), header.data(), header.size());
  std::memset(out.data() + header.size(), 0, static_cast<size_t>(data_start - header.size()));
  for (size_t i = 0; i < n_tensors; ++i) {
    const PendingTensor& t = tensors_[first_tensor + i];
    uint8_t* dst = out.data() + data_start + offsets[i];
    t.write_to(dst);
    const uint64_t end = i + 1 < n_tensors ? offsets[i + 1] : data_bytes;
    std::memset(dst + t.nbytes, 0, static_cast<size_t>(end - offsets[i] - t.nbytes));
  }
  out.commit();
}

void GgufWriter::write(const std::string& path) const { write_part(path, kv_, 0, tensors_.size()); }

std::vector<std::string> GgufWriter::write_split(const std::string& path_prefix, uint64_t max_bytes_per_file) const {
  // Part boundaries: [starts[i], starts[i+1]).
  std::vector<size_t> starts = {0};
  uint64_t part_bytes = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const uint64_t nbytes = tensors_[i].nbytes;
    if (i > starts.back() && part_bytes + nbytes > max_bytes_per_file) {
      starts.push_back(i);
      part_bytes = 0;
    }
    part_bytes += align_up(nbytes, kGgufDefaultAlignment);
  }
  const size_t n = starts.size();
  if (n > 65535) fail("GGUF writer: ", n, " split parts are more than split.count (u16) can hold");
  if (tensors_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail("GGUF writer: too many tensors for split.tensors.count");
  starts.push_back(tensors_.size());

  std::vector<std::string> paths;
  for (size_t i = 0; i < n; ++i) {
    std::vector<std::pair<std::string, GgufValue>> kv;
    if (i == 0)
      for (const auto& e : kv_)
        if (e.first != kSplitNo && e.first != kSplitCount && e.first != kSplitTensorsCount) kv.push_back(e);
    kv.emplace_back(kSplitNo, GgufValue::uint16(static_cast<uint16_t>(i)));
    kv.emplace_back(kSplitCount, GgufValue::uint16(static_cast<uint16_t>(n)));
    kv.emplace_back(kSplitTensorsCount, GgufValue::int32(static_cast<int32_t>(tensors_.size())));
    paths.push_back(gguf_split_path(path_prefix, static_cast<int>(i), static_cast<int>(n)));
    write_part(paths.back(), kv, starts[i], starts[i + 1] - starts[i]);
  }
  return paths;
}

}  // namespace dsinfer
