// safetensors reader: single files and checkpoint directories (see safetensors.h).

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

// Element sizes of the safetensors dtypes we can bounds-check; 0 for ones we do not know (sub-byte
// types added by newer writers), whose sizes are then only range-checked.
size_t safetensors_elem_bytes(const std::string& dtype) {
  static const std::map<std::string, size_t, std::less<>> kSizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},     {"U32", 4},
      {"F32", 4},  {"I64", 8}, {"U64", 8}, {"F64", 8},     {"C64", 8}};
  auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

uint64_t json_uint(const nlohmann::json& j, const char* what) {
  if (!j.is_number_unsigned() || j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(what, " must be a non-negative integer, got ", j.dump());
  return j.get<uint64_t>();
}

struct Entry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const nlohmann::json& j, uint64_t data_size) {
  return with_context(cat("tensor '", name, "'"), [&] {
    if (!j.is_object()) fail("header entry is not an object");
    Entry e;
    e.name = name;
    const auto dtype = j.find("dtype");
    const auto shape = j.find("shape");
    const auto offsets = j.find("data_offsets");
    if (dtype == j.end() || !dtype->is_string()) fail("missing or non-string \"dtype\"");
    if (shape == j.end() || !shape->is_array()) fail("missing or non-array \"shape\"");
    if (offsets == j.end() || !offsets->is_array() || offsets->size() != 2)
      fail("\"data_offsets\" must be an array [begin, end]");
    e.dtype = dtype->get<std::string>();
    for (const auto& d : *shape) e.shape.push_back(static_cast<int64_t>(json_uint(d, "a dimension")));
    e.begin = json_uint((*offsets)[0], "data_offsets[0]");
    e.end = json_uint((*offsets)[1], "data_offsets[1]");
    if (e.begin > e.end) fail("data_offsets [", e.begin, ", ", e.end, "] end before they begin");
    if (e.end > data_size)
      fail("data_offsets [", e.begin, ", ", e.end, ") run past the end of the data (", data_size, " bytes)");
    size_t expected = 0;
    if (const auto dt = dtype_from_safetensors(e.dtype)) {
      expected = checked_tensor_bytes(*dt, e.shape);
    } else if (const size_t elem = safetensors_elem_bytes(e.dtype)) {
      expected = checked_tensor_bytes(elem, e.shape);
    } else {
      return e;  // unknown element size: only the range is checked
    }
    if (e.end - e.begin != expected)
      fail(e.dtype, " ", shape_str(e.shape), " needs ", expected, " bytes but data_offsets [", e.begin, ", ", e.end,
           ") hold ", e.end - e.begin);
    return e;
  });
}

}  // namespace

SafetensorsModel::~SafetensorsModel() = default;

void SafetensorsModel::add_file(const uint8_t* data, size_t size, const std::string& name) {
  with_context(name, [&] {
    if (size < 8) fail("too small to be a safetensors file (", size, " bytes)");
    uint64_t header_len;
    std::memcpy(&header_len, data, 8);
    if (header_len > size - 8)
      fail("header length ", header_len, " runs past the end of the file (size ", size, ")");
    const uint8_t* data_start = data + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;
    const nlohmann::json header =
        parse_json(std::string_view(reinterpret_cast<const char*>(data + 8), header_len), "header");
    if (!header.is_object()) fail("header is not a JSON object");

    std::vector<Entry> entries;
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        if (!value.is_object()) fail("__metadata__ is not an object");
        for (const auto& [mk, mv] : value.items()) {
          if (!mv.is_string()) fail("__metadata__ '", mk, "' is not a string");
          metadata_.emplace(mk, mv.get<std::string>());
        }
        continue;
      }
      entries.push_back(parse_entry(key, value, data_size));
    }
    // Real writers pack tensors without gaps; overlapping data can only be a corrupt header.
    std::vector<const Entry*> by_offset;
    for (const auto& e : entries) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
    const Entry* prev = nullptr;
    for (const Entry* e : by_offset) {
      if (e->begin == e->end) continue;
      if (prev && e->begin < prev->end)
        fail("the data of tensors '", prev->name, "' and '", e->name, "' overlap");
      prev = e;
    }

    for (auto& e : entries) {
      if (tensor_index_.count(e.name) || unsupported_index_.count(e.name))
        fail("tensor '", e.name, "' also appears in an earlier file");
      if (const auto dt = dtype_from_safetensors(e.dtype)) {
        TensorView v;
        v.name = e.name;
        v.dtype = *dt;
        v.shape = std::move(e.shape);
        v.data = data_start + e.begin;
        v.nbytes = static_cast<size_t>(e.end - e.begin);
        tensor_index_.emplace(v.name, tensors_.size());
        tensors_.push_back(std::move(v));
        tensor_file_.push_back(paths_.size());
      } else {
        unsupported_index_.emplace(e.name, unsupported_.size());
        unsupported_.push_back({e.name, e.dtype, std::move(e.shape), name, data_start + e.begin,
                                static_cast<size_t>(e.end - e.begin)});
      }
    }
  });
  paths_.push_back(name);
  file_bytes_ += size;
}

std::unique_ptr<SafetensorsModel> SafetensorsModel::from_memory(const void* data, size_t size,
                                                                const std::string& name) {
  std::unique_ptr<SafetensorsModel> m(new SafetensorsModel());
  m->source_ = name;
  m->add_file(static_cast<const uint8_t*>(data), size, name);
  return m;
}

std::unique_ptr<SafetensorsModel> SafetensorsModel::open_file(const std::string& path) {
  std::unique_ptr<SafetensorsModel> m(new SafetensorsModel());
  m->source_ = path;
  auto map = std::make_unique<MappedFile>(path);
  m->add_file(map->data(), map->size(), path);
  m->files_.push_back(std::move(map));
  return m;
}

std::unique_ptr<SafetensorsModel> SafetensorsModel::open_dir(const std::string& dir) {
  if (!is_directory(dir)) fail(dir, ": not a directory");
  std::unique_ptr<SafetensorsModel> m(new SafetensorsModel());
  m->source_ = dir;
  auto open_one = [&](const std::string& path) {
    auto map = std::make_unique<MappedFile>(path);
    m->add_file(map->data(), map->size(), path);
    m->files_.push_back(std::move(map));
  };

  const std::string index_path = path_join(dir, kSafetensorsIndexName);
  if (!file_exists(index_path)) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".safetensors" && e.is_regular_file()) files.push_back(e.path().filename());
    if (files.empty()) fail(dir, ": no ", kSafetensorsIndexName, " and no .safetensors files");
    std::sort(files.begin(), files.end());
    for (const auto& f : files) open_one(path_join(dir, f));
    return m;
  }

  const nlohmann::json index = read_json_file(index_path);
  const auto wm = index.is_object() ? index.find("weight_map") : index.end();
  if (wm == index.end() || !wm->is_object() || wm->empty())
    fail(index_path, ": no \"weight_map\" object naming the shard of each tensor");
  // Shards in name order; each opened once.
  std::map<std::string, std::string> shard_of_first_tensor;
  for (const auto& [tensor, shard] : wm->items()) {
    if (!shard.is_string()) fail(index_path, ": weight_map entry for '", tensor, "' is not a file name");
    const std::string file = shard.get<std::string>();
    if (file.empty() || file.front() == '/' || file.find("..") != std::string::npos)
      fail(index_path, ": shard name '", file, "' for tensor '", tensor, "' is not a file in the directory");
    shard_of_first_tensor.emplace(file, tensor);
  }
  for (const auto& [file, tensor] : shard_of_first_tensor) {
    const std::string path = path_join(dir, file);
    if (!file_exists(path))
      fail(index_path, ": shard '", file, "' (holding tensor '", tensor, "') is missing from ", dir);
    open_one(path);
  }
  for (const auto& [tensor, shard] : wm->items()) {
    const std::string path = path_join(dir, shard.get<std::string>());
    if (auto it = m->tensor_index_.find(tensor); it != m->tensor_index_.end()) {
      if (m->paths_[m->tensor_file_[it->second]] != path)
        fail(index_path, ": tensor '", tensor, "' is listed in shard '", shard.get<std::string>(),
             "' but is stored in ", m->paths_[m->tensor_file_[it->second]]);
      continue;
    }
    if (auto it = m->unsupported_index_.find(tensor); it != m->unsupported_index_.end()) {
      if (m->unsupported_[it->second].file != path)
        fail(index_path, ": tensor '", tensor, "' is listed in shard '", shard.get<std::string>(),
             "' but is stored in ", m->unsupported_[it->second].file);
      continue;
    }
    fail(index_path, ": tensor '", tensor, "' is listed in shard '", shard.get<std::string>(),
         "' but that file does not contain it");
  }
  return m;
}

const TensorView* SafetensorsModel::find_tensor(std::string_view name) const {
  if (auto it = tensor_index_.find(name); it != tensor_index_.end()) return &tensors_[it->second];
  if (auto it = unsupported_index_.find(name); it != unsupported_index_.end()) {
    const SafetensorsUnsupportedTensor& t = unsupported_[it->second];
    fail(t.file, ": tensor '", t.name, "' ", shape_str(t.shape), " has dtype ", t.dtype,
         ", which dsinfer cannot load (supported: F32, F16, BF16, F8_E4M3)");
  }
  return nullptr;
}

std::vector<int64_t> SafetensorsModel::int_tensor(std::string_view name, std::vector<int64_t>* shape) const {
  const auto it = unsupported_index_.find(name);
  if (it == unsupported_index_.end()) {
    if (tensor_index_.count(name)) fail(source_, ": tensor '", name, "' is not an integer tensor");
    fail(source_, ": no tensor named '", name, "'");
  }
  const SafetensorsUnsupportedTensor& t = unsupported_[it->second];
  size_t width = 0;
  if (t.dtype == "I64") width = 8;
  else if (t.dtype == "I32") width = 4;
  else if (t.dtype == "I16") width = 2;
  else if (t.dtype == "I8" || t.dtype == "U8") width = 1;
  else fail(t.file, ": tensor '", t.name, "' has dtype ", t.dtype, ", not an integer type");
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  if (static_cast<size_t>(n) * width != t.nbytes)
    fail(t.file, ": tensor '", t.name, "' ", shape_str(t.shape), " ", t.dtype, " holds ", t.nbytes, " bytes");
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = t.data + i * width;
    int64_t v = 0;
    if (width == 8) { std::memcpy(&v, p, 8); }
    else if (width == 4) { int32_t x; std::memcpy(&x, p, 4); v = x; }
    else if (width == 2) { int16_t x; std::memcpy(&x, p, 2); v = x; }
    else v = t.dtype == "U8" ? static_cast<int64_t>(*p) : static_cast<int64_t>(static_cast<int8_t>(*p));
    out[static_cast<size_t>(i)] = v;
  }
  if (shape) *shape = t.shape;
  return out;
}

const TensorView& SafetensorsModel::tensor(std::string_view name) const {
  const TensorView* t = find_tensor(name);
  if (!t) fail(source_, ": no tensor named '", name, "'");
  return *t;
}

}  // namespace dsinfer
