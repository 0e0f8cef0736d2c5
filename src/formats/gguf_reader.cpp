// GGUF reader: parses the header in place from the mapping and checks every count, length and offset
// against the file size before using it (see gguf.h for the layout).

#include <algorithm>
#include <cstdio>
#include <limits>

#include "formats/byte_reader.h"
#include "formats/gguf.h"
#include "formats/gguf_codec.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {

struct GgufFile::Part {
  std::string name;
  uint32_t version = 0;
  uint64_t alignment = kGgufDefaultAlignment;
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::vector<TensorView> tensors;
  std::vector<GgufUnsupportedTensor> unsupported;

  const GgufValue* find(std::string_view key) const {
    for (const auto& [k, v] : metadata)
      if (k == key) return &v;
    return nullptr;
  }
};

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
// Counts are only bounded by the file size, which for a model is many GB, so reserve at most this many
// entries up front and let real entries grow the vectors.
constexpr uint64_t kMaxReserve = 1 << 16;

struct RawTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // outermost first
  uint32_t ggml_type = 0;
  uint64_t offset = 0;  // relative to the data start
};

RawTensorInfo read_tensor_info(ByteReader& r) {
  RawTensorInfo t;
  t.name = r.read_string("tensor name");
  with_context(cat("tensor '", t.name, "'"), [&] {
    const uint32_t n_dims = r.read<uint32_t>("n_dims");
    if (n_dims > kGgufMaxDims) fail("n_dims ", n_dims, " is more than ", kGgufMaxDims);
    t.shape.resize(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = r.read<uint64_t>("dimension");
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("dimension ", d, " is ", ne == 0 ? "0" : cat(static_cast<int64_t>(ne)), " (must be positive)");
      t.shape[n_dims - 1 - d] = static_cast<int64_t>(ne);  // GGUF lists the innermost dimension first
    }
    t.ggml_type = r.read<uint32_t>("ggml type");
    t.offset = r.read<uint64_t>("data offset");
  });
  return t;
}

// Parses one GGUF image; every error message starts with `name`.
GgufFile::Part parse_part(const uint8_t* data, size_t size, const std::string& name) {
  return with_context(name, [&] {
    GgufFile::Part part;
    part.name = name;
    ByteReader r(data, size);
    if (size < 4) fail("too small to be a GGUF file (", size, " bytes)");
    const uint32_t magic = r.read<uint32_t>("magic");
    if (magic != kMagic) {
      fail("not a GGUF file: it starts with bytes ", cat(std::hex, (magic & 0xff), " ", ((magic >> 8) & 0xff), " ",
                                                         ((magic >> 16) & 0xff), " ", (magic >> 24)),
           " instead of \"GGUF\"");
    }
    part.version = r.read<uint32_t>("version");
    if (part.version == 0x02000000 || part.version == 0x03000000)
      fail("big-endian GGUF files are not supported");
    if (part.version != 2 && part.version != 3)
      fail("unsupported GGUF version ", part.version, " (dsinfer reads versions 2 and 3)");
    const uint64_t n_tensors = r.read<uint64_t>("tensor count");
    const uint64_t n_kv = r.read<uint64_t>("metadata count");
    // Each entry needs a minimum number of bytes; larger counts cannot be real, so refuse them before
    // reserving memory for them.
    if (n_kv > r.remaining() / 13)
      fail("header claims ", n_kv, " metadata entries, more than the ", r.remaining(), " remaining bytes can hold");
    if (n_tensors > r.remaining() / 24)
      fail("header claims ", n_tensors, " tensors, more than the ", r.remaining(), " remaining bytes can hold");

    part.metadata.reserve(static_cast<size_t>(std::min<uint64_t>(n_kv, kMaxReserve)));
    std::vector<std::string_view> keys;
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = with_context(cat("metadata entry ", i), [&] { return r.read_string("key"); });
      with_context(cat("metadata '", key, "'"), [&] {
        const uint32_t type = r.read<uint32_t>("value type");
        if (type >= kGgufTypeCount) fail("invalid value type ", type);
        GgufValue v = GgufValueCodec::decode(r, static_cast<GgufType>(type));
        part.metadata.emplace_back(std::move(key), std::move(v));
      });
    }
    {
      std::vector<std::string_view> sorted;
      for (const auto& kv : part.metadata) sorted.push_back(kv.first);
      std::sort(sorted.begin(), sorted.end());
      auto dup = std::adjacent_find(sorted.begin(), sorted.end());
      if (dup != sorted.end()) fail("metadata key '", *dup, "' appears twice");
    }
    if (const GgufValue* a = part.find("general.alignment")) {
      const auto v = a->as_uint();
      if (!v || *v == 0 || (*v & (*v - 1)) != 0 || *v > kMaxAlignment)
        fail("general.alignment is ", a->to_string(), ", not a power of two up to ", kMaxAlignment);
      part.alignment = *v;
    }

    std::vector<RawTensorInfo> infos;
    infos.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors, kMaxReserve)));
    for (uint64_t i = 0; i < n_tensors; ++i)
      infos.push_back(with_context(cat("tensor info ", i), [&] { return read_tensor_info(r); }));

    const uint64_t data_start = align_up(r.pos(), part.alignment);
    if (n_tensors > 0 && data_start > size)
      fail("tensor data should start at offset ", data_start, " but the file has only ", size, " bytes");
    const uint64_t data_size = size - std::min<uint64_t>(data_start, size);

    struct Extent {
      uint64_t begin, end;
      const std::string* name;
    };
    std::vector<Extent> extents;
    for (auto& info : infos) {
      with_context(cat("tensor '", info.name, "'"), [&] {
        if (info.offset % part.alignment != 0)
          fail("data offset ", info.offset, " is not a multiple of the alignment ", part.alignment);
        const std::optional<DType> dtype = dtype_from_ggml(info.ggml_type);
        if (!dtype) {
          if (info.offset > data_size) fail("data offset ", info.offset, " is past the end of the file");
          part.unsupported.push_back({info.name, info.ggml_type, info.shape});
          return;
        }
        const uint64_t nbytes = checked_tensor_bytes(*dtype, info.shape);
        if (info.offset > data_size || nbytes > data_size - info.offset)
          fail(ggml_type_name(info.ggml_type), " ", shape_str(info.shape), ": data at offset ", data_start, " + ",
               info.offset, " of ", nbytes, " bytes runs past the end of the file (size ", size, ")");
        TensorView v;
        v.name = info.name;
        v.dtype = *dtype;
        v.shape = info.shape;
        v.data = data + data_start + info.offset;
        v.nbytes = static_cast<size_t>(nbytes);
        part.tensors.push_back(std::move(v));
        extents.push_back({info.offset, info.offset + nbytes, &info.name});
      });
    }
    std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < extents.size(); ++i)
      if (extents[i].begin < extents[i - 1].end && extents[i].begin != extents[i].end)
        fail("the data of tensors '", *extents[i - 1].name, "' and '", *extents[i].name, "' overlap");
    return part;
  });
}

std::string split_suffix(int index, int count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%05d-of-%05d.gguf", index + 1, count);
  return buf;
}

}  // namespace

std::string gguf_split_path(const std::string& prefix, int index, int count) {
  return prefix + split_suffix(index, count);
}

GgufFile::~GgufFile() = default;

void GgufFile::add_part(Part&& part) {
  auto check_unique = [&](const std::string& name) {
    if (tensor_index_.count(name) || unsupported_index_.count(name))
      fail(part.name, ": tensor '", name, "' also appears in an earlier part");
  };
  for (auto& t : part.tensors) {
    check_unique(t.name);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }
  for (auto& t : part.unsupported) {
    check_unique(t.name);
    unsupported_index_.emplace(t.name, unsupported_.size());
    unsupported_.push_back(std::move(t));
  }
}

std::unique_ptr<GgufFile> GgufFile::from_memory(const void* data, size_t size, const std::string& name) {
  Part part = parse_part(static_cast<const uint8_t*>(data), size, name);
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->paths_ = {name};
  f->file_bytes_ = size;
  f->version_ = part.version;
  f->alignment_ = part.alignment;
  f->metadata_ = std::move(part.metadata);
  for (size_t i = 0; i < f->metadata_.size(); ++i) f->metadata_index_.emplace(f->metadata_[i].first, i);
  // A single duplicate tensor name is caught here, for the same message as across parts.
  {
    std::vector<std::string_view> names;
    for (const auto& t : part.tensors) names.push_back(t.name);
    for (const auto& t : part.unsupported) names.push_back(t.name);
    std::sort(names.begin(), names.end());
    auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) fail(name, ": tensor '", *dup, "' appears twice");
  }
  f->add_part(std::move(part));
  return f;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  auto first_map = std::make_unique<MappedFile>(path);
  std::unique_ptr<GgufFile> f = from_memory(first_map->data(), first_map->size(), path);
  f->files_.push_back(std::move(first_map));

  const auto split_int = [&](const GgufFile& g, const char* key) -> std::optional<uint64_t> {
    return g.get_uint(key);
  };
  const std::optional<uint64_t> count = split_int(*f, "split.count");
  if (!count || *count <= 1) return f;
  const uint64_t no = split_int(*f, "split.no").value_or(0);
  if (*count > 99999 || no >= *count) fail(path, ": split.no ", no, " / split.count ", *count, " are inconsistent");
  const int n = static_cast<int>(*count);
  const std::string suffix = split_suffix(static_cast<int>(no), n);
  if (path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
    fail(path, ": this is split part ", no + 1, " of ", n, " but its name does not end in '", suffix,
         "', so the other parts cannot be found");
  const std::string prefix = path.substr(0, path.size() - suffix.size());

  // Reassemble in part order; the metadata of the whole model lives in part 1.
  std::unique_ptr<GgufFile> out(new GgufFile());
  for (int i = 0; i < n; ++i) {
    std::unique_ptr<GgufFile> p;
    if (static_cast<uint64_t>(i) == no) {
      p = std::move(f);
    } else {
      const std::string part_path = gguf_split_path(prefix, i, n);
      if (!file_exists(part_path))
        fail(path, ": split part ", i + 1, " of ", n, " ('", part_path, "') is missing");
      auto map = std::make_unique<MappedFile>(part_path);
      p = from_memory(map->data(), map->size(), part_path);
      p->files_.push_back(std::move(map));
    }
    const auto p_no = split_int(*p, "split.no");
    const auto p_count = split_int(*p, "split.count");
    if (p_no != static_cast<uint64_t>(i) || p_count != *count)
      fail(p->path(), ": expected split part ", i + 1, " of ", n, " but its split.no/split.count say ",
           p_no ? cat(*p_no + 1) : "?", " of ", p_count ? cat(*p_count) : "?");
    if (i == 0) {
      out->version_ = p->version_;
      out->alignment_ = p->alignment_;
      out->metadata_ = std::move(p->metadata_);
      out->metadata_index_ = std::move(p->metadata_index_);
    }
    out->paths_.push_back(p->path());
    out->file_bytes_ += p->file_bytes_;
    Part part;
    part.name = p->path();
    part.tensors = std::move(p->tensors_);
    part.unsupported = std::move(p->unsupported_);
    out->add_part(std::move(part));
    for (auto& m : p->files_) out->files_.push_back(std::move(m));
  }
  if (const auto total = out->get_int("split.tensors.count")) {
    const size_t have = out->tensors_.size() + out->unsupported_.size();
    if (*total < 0 || static_cast<uint64_t>(*total) != have)
      fail(out->path(), ": split.tensors.count says ", *total, " tensors but the ", n, " parts hold ", have);
  }
  return out;
}

// ---- lookups ----

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

void GgufFile::fail_type(std::string_view key, const GgufValue& v, const char* expected) const {
  fail(path(), ": metadata '", key, "' is ", gguf_type_name(v.type()), " ", v.to_string(4), ", expected ", expected);
}

std::optional<uint64_t> GgufFile::get_uint(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (auto u = v->as_uint()) return u;
  fail_type(key, *v, "a non-negative integer");
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (auto i = v->as_int()) return i;
  fail_type(key, *v, "an integer");
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (auto x = v->as_float()) return x;
  fail_type(key, *v, "a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (auto b = v->as_bool()) return b;
  fail_type(key, *v, "a bool");
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (const std::string* s = v->as_string()) return *s;
  fail_type(key, *v, "a string");
}

const std::vector<std::string>* GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->is_array() && v->array_type() == GgufType::kString) return &v->array_strings();
  fail_type(key, *v, "an array of strings");
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_array() || !gguf_type_is_integer(v->array_type())) fail_type(key, *v, "an array of integers");
  std::vector<int64_t> out(v->array_size());
  for (size_t i = 0; i < out.size(); ++i) {
    const auto x = v->element(i).as_int();
    if (!x) fail(path(), ": metadata '", key, "' element ", i, " does not fit in int64");
    out[i] = *x;
  }
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  const GgufType t = v->array_type();
  if (!v->is_array() || !(gguf_type_is_integer(t) || t == GgufType::kFloat32 || t == GgufType::kFloat64))
    fail_type(key, *v, "an array of numbers");
  std::vector<float> out(v->array_size());
  if (t == GgufType::kFloat32 && !out.empty()) {
    std::memcpy(out.data(), v->array_bytes(), out.size() * sizeof(float));
  } else {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(*v->element(i).as_float());
  }
  return out;
}

const TensorView* GgufFile::find_tensor(std::string_view name) const {
  if (auto it = tensor_index_.find(name); it != tensor_index_.end()) return &tensors_[it->second];
  if (auto it = unsupported_index_.find(name); it != unsupported_index_.end()) {
    const GgufUnsupportedTensor& t = unsupported_[it->second];
    fail(path(), ": tensor '", t.name, "' ", shape_str(t.shape), " has ggml type ", ggml_type_name(t.ggml_type),
         ", which dsinfer cannot load (supported: f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_K, q5_K, q6_K)");
  }
  return nullptr;
}

const TensorView& GgufFile::tensor(std::string_view name) const {
  const TensorView* t = find_tensor(name);
  if (!t) fail(path(), ": no tensor named '", name, "'");
  return *t;
}

}  // namespace dsinfer
