// safetensors writer: single files and sharded checkpoints with an index (see safetensors.h).

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {

void SafetensorsWriter::add_metadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

void SafetensorsWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                                   size_t nbytes) {
  add_entry(std::move(name), dtype, std::move(shape), data, nbytes, nullptr);
}

void SafetensorsWriter::add_tensor_lazy(std::string name, DType dtype, std::vector<int64_t> shape,
                                        std::function<void(uint8_t* dst)> fill) {
  if (!fill) fail("safetensors writer: tensor '", name, "' has no fill function");
  add_entry(std::move(name), dtype, std::move(shape), nullptr, 0, std::move(fill));
}

void SafetensorsWriter::add_entry(std::string name, DType dtype, std::vector<int64_t> shape, const void* data,
                                  size_t nbytes, std::function<void(uint8_t*)> fill) {
  const std::string what = cat("safetensors writer: tensor '", name, "'");
  with_context(what, [&] { return dtype_to_safetensors(dtype); });
  if (name == "__metadata__") fail(what, ": the name is reserved");
  for (const auto& t : tensors_)
    if (t.name == name) fail(what, " added twice");
  tensors_.push_back(make_pending_tensor("safetensors writer", std::move(name), dtype, std::move(shape), data,
                                         nbytes, std::move(fill)));
}

void SafetensorsWriter::write_file(const std::string& path, const std::vector<const PendingTensor*>& tensors) const {
  // Like the official writer: larger elements first, so each tensor starts aligned to its element size.
  std::vector<const PendingTensor*> order = tensors;
  std::stable_sort(order.begin(), order.end(), [](const PendingTensor* a, const PendingTensor* b) {
    return dtype_block_bytes(a->dtype) > dtype_block_bytes(b->dtype);
  });
  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::vector<uint64_t> offsets;
  uint64_t data_bytes = 0;
  for (const PendingTensor* t : order) {
    offsets.push_back(data_bytes);
    header[t->name] = {{"dtype", dtype_to_safetensors(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {data_bytes, data_bytes + t->nbytes}}};
    data_bytes += t->nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": cannot write the header (tensor names and metadata must be valid UTF-8): ", e.what());
  }
  text.resize(align_up(text.size(), 8), ' ');
  const size_t data_start = 8 + text.size();
  OutputFile out(path, data_start + static_cast<size_t>(data_bytes));
  const uint64_t header_len = text.size();
  std::memcpy(out.data(), &header_len, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  for (size_t i = 0; i < order.size(); ++i) order[i]->write_to(out.data() + data_start + offsets[i]);
  out.commit();
}

void SafetensorsWriter::write(const std::string& path) const {
  std::vector<const PendingTensor*> all;
  for (const auto& t : tensors_) all.push_back(&t);
  write_file(path, all);
}

std::vector<std::string> SafetensorsWriter::write_sharded(const std::string& dir, uint64_t max_bytes_per_shard) const {
  std::vector<std::vector<const PendingTensor*>> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  for (const auto& t : tensors_) {
    if (!shards.back().empty() && shard_bytes + t.nbytes > max_bytes_per_shard) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&t);
    shard_bytes += t.nbytes;
    total += t.nbytes;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  std::vector<std::string> paths;
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    paths.push_back(path_join(dir, name));
    write_file(paths.back(), shards[i]);
    for (const PendingTensor* t : shards[i]) weight_map[t->name] = name;
  }
  const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const std::string text = index.dump(2) + "\n";
  dsinfer::write_file(path_join(dir, kSafetensorsIndexName), text.data(), text.size());
  return paths;
}

}  // namespace dsinfer
