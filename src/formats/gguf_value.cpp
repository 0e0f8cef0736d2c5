#include "formats/gguf_value.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "formats/gguf_codec.h"
#include "util/error.h"

namespace dsinfer {
namespace {

constexpr const char* kTypeNames[kGgufTypeCount] = {"uint8", "int8",  "uint16", "int16",  "uint32", "int32", "float32",
                                                    "bool",  "string", "array", "uint64", "int64",  "float64"};
constexpr size_t kScalarSizes[kGgufTypeCount] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

// Array counts are only bounded by the bytes left in a file of many GB; reserve at most this many elements
// up front (a ~130k-token vocabulary then grows twice) and let real elements grow the vector.
constexpr size_t kMaxReserve = 1 << 16;

bool valid_type(uint32_t t) { return t < kGgufTypeCount; }

// Reads one packed scalar of type t from p as the widest type of its family.
struct Scalar {
  bool is_signed = false, is_unsigned = false, is_float = false;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
};

Scalar load_scalar(GgufType t, const void* p) {
  Scalar s;
  auto get = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (t) {
    case GgufType::kUint8: s.is_unsigned = true, s.u = get(uint8_t{}); break;
    case GgufType::kUint16: s.is_unsigned = true, s.u = get(uint16_t{}); break;
    case GgufType::kUint32: s.is_unsigned = true, s.u = get(uint32_t{}); break;
    case GgufType::kUint64: s.is_unsigned = true, s.u = get(uint64_t{}); break;
    case GgufType::kInt8: s.is_signed = true, s.i = get(int8_t{}); break;
    case GgufType::kInt16: s.is_signed = true, s.i = get(int16_t{}); break;
    case GgufType::kInt32: s.is_signed = true, s.i = get(int32_t{}); break;
    case GgufType::kInt64: s.is_signed = true, s.i = get(int64_t{}); break;
    case GgufType::kFloat32: s.is_float = true, s.f = get(float{}); break;
    case GgufType::kFloat64: s.is_float = true, s.f = get(double{}); break;
    case GgufType::kBool: s.u = get(uint8_t{}); break;
    default: break;
  }
  return s;
}

std::string scalar_text(GgufType t, const void* p) {
  const Scalar s = load_scalar(t, p);
  if (t == GgufType::kBool) return s.u ? "true" : "false";
  if (s.is_unsigned) return std::to_string(s.u);
  if (s.is_signed) return std::to_string(s.i);
  std::ostringstream o;
  o.precision(t == GgufType::kFloat32 ? 9 : 17);
  o << s.f;
  return o.str();
}

std::string quoted(const std::string& s, size_t max_chars = 64) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20) out += cat("\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
    else out += static_cast<char>(c);
  }
  if (s.size() > max_chars) out += "...";
  return out + "\"";
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  const auto i = static_cast<uint32_t>(t);
  if (valid_type(i)) return kTypeNames[i];
  static thread_local std::string buf;
  buf = cat("type ", i);
  return buf.c_str();
}

size_t gguf_scalar_size(GgufType t) {
  const auto i = static_cast<uint32_t>(t);
  return valid_type(i) ? kScalarSizes[i] : 0;
}

bool gguf_type_is_integer(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kUint16: case GgufType::kInt16:
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kUint64: case GgufType::kInt64: return true;
    default: return false;
  }
}

GgufValue GgufValue::string(std::string v) {
  GgufValue out;
  out.type_ = GgufType::kString;
  out.str_ = std::move(v);
  return out;
}

GgufValue GgufValue::scalar_array(GgufType elem_type, const void* bytes, size_t count) {
  const size_t size = gguf_scalar_size(elem_type);
  if (size == 0) fail("GGUF scalar_array: ", gguf_type_name(elem_type), " is not a scalar type");
  GgufValue out;
  out.type_ = GgufType::kArray;
  out.array_type_ = elem_type;
  out.count_ = count;
  const auto* p = static_cast<const uint8_t*>(bytes);
  out.raw_.assign(p, p + count * size);
  return out;
}

GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue out;
  out.type_ = GgufType::kArray;
  out.array_type_ = GgufType::kString;
  out.count_ = v.size();
  out.strings_ = std::move(v);
  return out;
}

GgufValue GgufValue::array(GgufType elem_type, std::vector<GgufValue> elems) {
  for (size_t i = 0; i < elems.size(); ++i)
    if (elems[i].type() != elem_type)
      fail("GGUF array of ", gguf_type_name(elem_type), ": element ", i, " is ", gguf_type_name(elems[i].type()));
  if (elem_type == GgufType::kString) {
    std::vector<std::string> s;
    s.reserve(elems.size());
    for (auto& e : elems) s.push_back(std::move(e.str_));
    return string_array(std::move(s));
  }
  if (elem_type == GgufType::kArray) {
    GgufValue out;
    out.type_ = GgufType::kArray;
    out.array_type_ = GgufType::kArray;
    out.count_ = elems.size();
    out.values_ = std::move(elems);
    return out;
  }
  const size_t size = gguf_scalar_size(elem_type);
  if (size == 0) fail("GGUF array: invalid element type ", gguf_type_name(elem_type));
  std::vector<uint8_t> raw(elems.size() * size);
  for (size_t i = 0; i < elems.size(); ++i) std::memcpy(raw.data() + i * size, &elems[i].bits_, size);
  return scalar_array(elem_type, raw.data(), elems.size());
}

std::optional<uint64_t> GgufValue::as_uint() const {
  if (!gguf_type_is_integer(type_)) return std::nullopt;
  const Scalar s = load_scalar(type_, &bits_);
  if (s.is_signed) return s.i < 0 ? std::nullopt : std::optional<uint64_t>(static_cast<uint64_t>(s.i));
  return s.u;
}

std::optional<int64_t> GgufValue::as_int() const {
  if (!gguf_type_is_integer(type_)) return std::nullopt;
  const Scalar s = load_scalar(type_, &bits_);
  if (s.is_signed) return s.i;
  if (s.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return static_cast<int64_t>(s.u);
}

std::optional<double> GgufValue::as_float() const {
  if (type_ == GgufType::kFloat32 || type_ == GgufType::kFloat64) return load_scalar(type_, &bits_).f;
  if (!gguf_type_is_integer(type_)) return std::nullopt;
  const Scalar s = load_scalar(type_, &bits_);
  return s.is_signed ? static_cast<double>(s.i) : static_cast<double>(s.u);
}

std::optional<bool> GgufValue::as_bool() const {
  if (type_ != GgufType::kBool) return std::nullopt;
  return (bits_ & 0xff) != 0;
}

const std::string* GgufValue::as_string() const { return type_ == GgufType::kString ? &str_ : nullptr; }

GgufValue GgufValue::element(size_t i) const {
  if (!is_array() || i >= count_) fail("GGUF value: element ", i, " of a ", to_string(0), " does not exist");
  if (array_type_ == GgufType::kString) return string(strings_[i]);
  if (array_type_ == GgufType::kArray) return values_[i];
  GgufValue out;
  out.type_ = array_type_;
  const size_t size = gguf_scalar_size(array_type_);
  std::memcpy(&out.bits_, raw_.data() + i * size, size);
  return out;
}

std::string GgufValue::to_string(size_t max_elems) const {
  if (type_ == GgufType::kString) return quoted(str_);
  if (!is_array()) return scalar_text(type_, &bits_);
  std::string out = "[";
  const size_t shown = std::min(count_, max_elems);
  for (size_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    if (array_type_ == GgufType::kString) out += quoted(strings_[i]);
    else if (array_type_ == GgufType::kArray) out += values_[i].to_string(max_elems);
    else out += scalar_text(array_type_, raw_.data() + i * gguf_scalar_size(array_type_));
  }
  if (shown < count_) out += cat(shown ? ", " : "", "... (", count_, " ", gguf_type_name(array_type_), ")");
  return out + "]";
}

bool GgufValue::operator==(const GgufValue& o) const {
  if (type_ != o.type_) return false;
  if (type_ == GgufType::kString) return str_ == o.str_;
  if (!is_array()) return bits_ == o.bits_;
  return array_type_ == o.array_type_ && count_ == o.count_ && raw_ == o.raw_ && strings_ == o.strings_ &&
         values_ == o.values_;
}

// ---- codec ----

void gguf_put_string(std::vector<uint8_t>& out, const std::string& s) {
  gguf_put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

GgufValue GgufValueCodec::decode(ByteReader& r, GgufType t, int depth) {
  if (!valid_type(static_cast<uint32_t>(t))) fail("invalid value type ", static_cast<uint32_t>(t));
  if (t == GgufType::kString) return GgufValue::string(r.read_string("string"));
  if (t != GgufType::kArray) {
    GgufValue out;
    out.type_ = t;
    std::memcpy(&out.bits_, r.take(gguf_scalar_size(t), gguf_type_name(t)), gguf_scalar_size(t));
    return out;
  }
  if (depth >= kMaxDepth) fail("arrays nested more than ", kMaxDepth, " deep");
  const uint32_t et = r.read<uint32_t>("array element type");
  if (!valid_type(et)) fail("array with invalid element type ", et);
  const auto elem_type = static_cast<GgufType>(et);
  const uint64_t count = r.read<uint64_t>("array length");
  // The smallest encoding of one element bounds the count before we allocate anything for it.
  const uint64_t min_elem = elem_type == GgufType::kString  ? 8
                            : elem_type == GgufType::kArray ? 12
                                                            : gguf_scalar_size(elem_type);
  if (count > r.remaining() / min_elem)
    fail("array of ", count, " ", gguf_type_name(elem_type), " at offset ", r.pos(), " cannot fit in the ",
         r.remaining(), " bytes that remain");
  const auto n = static_cast<size_t>(count);
  GgufValue out;
  out.type_ = GgufType::kArray;
  out.array_type_ = elem_type;
  out.count_ = n;
  if (elem_type == GgufType::kString) {
    out.strings_.reserve(std::min<size_t>(n, kMaxReserve));
    for (size_t i = 0; i < n; ++i) out.strings_.push_back(r.read_string("array string"));
  } else if (elem_type == GgufType::kArray) {
    out.values_.reserve(std::min<size_t>(n, kMaxReserve));
    for (size_t i = 0; i < n; ++i) out.values_.push_back(decode(r, GgufType::kArray, depth + 1));
  } else {
    const uint8_t* p = r.take(n * min_elem, "array data");
    out.raw_.assign(p, p + n * min_elem);
  }
  return out;
}

void GgufValueCodec::encode(const GgufValue& v, std::vector<uint8_t>& out) {
  if (v.type_ == GgufType::kString) return gguf_put_string(out, v.str_);
  if (!v.is_array()) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v.bits_);
    out.insert(out.end(), p, p + gguf_scalar_size(v.type_));
    return;
  }
  gguf_put<uint32_t>(out, static_cast<uint32_t>(v.array_type_));
  gguf_put<uint64_t>(out, v.count_);
  if (v.array_type_ == GgufType::kString) {
    for (const auto& s : v.strings_) gguf_put_string(out, s);
  } else if (v.array_type_ == GgufType::kArray) {
    for (const auto& e : v.values_) encode(e, out);
  } else {
    out.insert(out.end(), v.raw_.begin(), v.raw_.end());
  }
}

}  // namespace dsinfer
