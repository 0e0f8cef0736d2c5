#pragma once
// One GGUF metadata value: a scalar, a string, or an array of one element type (arrays may nest).
// Arrays are stored compactly because tokenizer vocabularies are arrays of ~130k entries: scalar arrays
// as their packed little-endian bytes, string arrays as std::strings, only nested arrays as GgufValues.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace dsinfer {

// Type ids as written in GGUF files (gguf.h enum gguf_type).
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
constexpr uint32_t kGgufTypeCount = 13;

const char* gguf_type_name(GgufType t);  // "uint8", "string", "array", ...; "type N" when out of range
size_t gguf_scalar_size(GgufType t);     // bytes of one scalar; 0 for string and array
bool gguf_type_is_integer(GgufType t);   // uint8..int64 (not bool)

class GgufValue {
 public:
  GgufValue() = default;  // uint8 0

  static GgufValue uint8(uint8_t v) { return scalar(GgufType::kUint8, v); }
  static GgufValue int8(int8_t v) { return scalar(GgufType::kInt8, v); }
  static GgufValue uint16(uint16_t v) { return scalar(GgufType::kUint16, v); }
  static GgufValue int16(int16_t v) { return scalar(GgufType::kInt16, v); }
  static GgufValue uint32(uint32_t v) { return scalar(GgufType::kUint32, v); }
  static GgufValue int32(int32_t v) { return scalar(GgufType::kInt32, v); }
  static GgufValue uint64(uint64_t v) { return scalar(GgufType::kUint64, v); }
  static GgufValue int64(int64_t v) { return scalar(GgufType::kInt64, v); }
  static GgufValue float32(float v) { return scalar(GgufType::kFloat32, v); }
  static GgufValue float64(double v) { return scalar(GgufType::kFloat64, v); }
  static GgufValue boolean(bool v) { return scalar(GgufType::kBool, static_cast<uint8_t>(v ? 1 : 0)); }
  static GgufValue string(std::string v);

  // An array of `count` scalars of type elem_type, packed little-endian at `bytes`.
  static GgufValue scalar_array(GgufType elem_type, const void* bytes, size_t count);
  // A typed convenience: T is one of uint8_t..int64_t, float, double (bool arrays: scalar_array).
  template <class T>
  static GgufValue array_of(const std::vector<T>& v) {
    return scalar_array(type_of<T>(), v.data(), v.size());
  }
  static GgufValue string_array(std::vector<std::string> v);
  // Any array, given as values that all have type elem_type (nested arrays: elem_type kArray).
  // Throws Error if an element has another type.
  static GgufValue array(GgufType elem_type, std::vector<GgufValue> elems);

  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::kArray; }

  // Scalars. Each returns nullopt when the value has another type or does not fit.
  std::optional<uint64_t> as_uint() const;  // any integer type holding a non-negative value
  std::optional<int64_t> as_int() const;    // any integer type holding a value that fits int64
  std::optional<double> as_float() const;   // float32, float64 or any integer type
  std::optional<bool> as_bool() const;      // bool only
  const std::string* as_string() const;     // nullptr unless a string

  // Arrays (meaningless for scalars: size 0).
  GgufType array_type() const { return array_type_; }
  size_t array_size() const { return count_; }
  const uint8_t* array_bytes() const { return raw_.data(); }  // scalar arrays: packed elements
  const std::vector<std::string>& array_strings() const { return strings_; }  // string arrays
  const std::vector<GgufValue>& array_values() const { return values_; }    // arrays of arrays
  GgufValue element(size_t i) const;  // element i as a value, any element type

  // Human-readable, arrays shortened to max_elems elements: `[1, 2, 3, ... (100 total)]`.
  std::string to_string(size_t max_elems = 8) const;

  bool operator==(const GgufValue& o) const;

  template <class T>
  static constexpr GgufType type_of() {
    if constexpr (std::is_same_v<T, uint8_t>) return GgufType::kUint8;
    else if constexpr (std::is_same_v<T, int8_t>) return GgufType::kInt8;
    else if constexpr (std::is_same_v<T, uint16_t>) return GgufType::kUint16;
    else if constexpr (std::is_same_v<T, int16_t>) return GgufType::kInt16;
    else if constexpr (std::is_same_v<T, uint32_t>) return GgufType::kUint32;
    else if constexpr (std::is_same_v<T, int32_t>) return GgufType::kInt32;
    else if constexpr (std::is_same_v<T, uint64_t>) return GgufType::kUint64;
    else if constexpr (std::is_same_v<T, int64_t>) return GgufType::kInt64;
    else if constexpr (std::is_same_v<T, float>) return GgufType::kFloat32;
    else {
      static_assert(std::is_same_v<T, double>, "no GGUF scalar type for T");
      return GgufType::kFloat64;
    }
  }

 private:
  template <class T>
  static GgufValue scalar(GgufType t, T v) {
    static_assert(sizeof(T) <= 8);
    GgufValue out;
    out.type_ = t;
    std::memcpy(&out.bits_, &v, sizeof(T));
    return out;
  }

  GgufType type_ = GgufType::kUint8;
  GgufType array_type_ = GgufType::kUint8;
  uint64_t bits_ = 0;  // scalar payload: the value's bytes, zero-extended (host order = little-endian)
  size_t count_ = 0;   // array length
  std::string str_;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strings_;
  std::vector<GgufValue> values_;

  friend class GgufValueCodec;
};

}  // namespace dsinfer
