#include "runtime/json_prefix.h"

namespace dsinfer {
namespace {

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

constexpr std::string_view kLiterals[3] = {"true", "false", "null"};

}  // namespace

bool JsonPrefix::push(bool object) {
  if (depth_ == kMaxDepth) return false;
  const uint64_t bit = uint64_t{1} << (depth_ % 64);
  if (object) {
    objects_[depth_ / 64] |= bit;
  } else {
    objects_[depth_ / 64] &= ~bit;
  }
  ++depth_;
  mode_ = object ? Mode::kObjectFirst : Mode::kArrayFirst;
  return true;
}

bool JsonPrefix::close(bool object) {
  if (depth_ == 0 || top_is_object() != object) return false;
  --depth_;
  if (depth_ == 0) {
    mode_ = Mode::kDone;
  } else {
    end_value();
  }
  return true;
}

void JsonPrefix::end_value() { mode_ = Mode::kAfter; }

bool JsonPrefix::value_start(uint8_t c) {
  switch (c) {
    case '{': return push(true);
    case '[': return push(false);
    case '"':
      key_ = false;
      mode_ = Mode::kString;
      return true;
    case '-':
      mode_ = Mode::kNumber;
      num_ = kMinus;
      return true;
    case 't':
    case 'f':
    case 'n':
      mode_ = Mode::kLiteral;
      literal_ = c == 't' ? 0 : c == 'f' ? 1 : 2;
      count_ = 1;
      return true;
    default:
      if (!is_digit(c)) return false;
      mode_ = Mode::kNumber;
      num_ = c == '0' ? kZero : kInt;
      return true;
  }
}

bool JsonPrefix::feed(uint8_t c) {
  // Whitespace between tokens (never inside strings, numbers or literals), as json_space_takes allows.
  // Not before the object either: an answer in JSON mode starts with its '{'.
  if (mode_ != Mode::kStart && mode_ != Mode::kString && mode_ != Mode::kEscape && mode_ != Mode::kUnicode &&
      mode_ != Mode::kNumber && mode_ != Mode::kLiteral) {
    if (is_json_space(c)) return json_space_takes(spaces_, c);
    spaces_ = 0;
  }
  switch (mode_) {
    case Mode::kStart: return c == '{' && push(true);
    case Mode::kValue: return value_start(c);
    case Mode::kArrayFirst: return c == ']' ? close(false) : value_start(c);
    case Mode::kObjectFirst:
      if (c == '}') return close(true);
      [[fallthrough]];
    case Mode::kKey:
      if (c != '"') return false;
      key_ = true;
      mode_ = Mode::kString;
      return true;
    case Mode::kColon:
      if (c != ':') return false;
      mode_ = Mode::kValue;
      return true;
    case Mode::kAfter:
      if (c == ',') {
        mode_ = top_is_object() ? Mode::kKey : Mode::kValue;
        return true;
      }
      if (c == '}' || c == ']') return close(c == '}');
      return false;
    case Mode::kString:
      if (c == '"') {
        if (key_) {
          mode_ = Mode::kColon;
        } else {
          end_value();
        }
        return true;
      }
      if (c == '\\') {
        mode_ = Mode::kEscape;
        return true;
      }
      return c >= 0x20;  // (bytes of multi-byte UTF-8 characters pass; control characters must be escaped)
    case Mode::kEscape:
      if (c == 'u') {
        mode_ = Mode::kUnicode;
        count_ = 4;
        return true;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
        mode_ = Mode::kString;
        return true;
      }
      return false;
    case Mode::kUnicode:
      if (!is_hex(c)) return false;
      if (--count_ == 0) mode_ = Mode::kString;
      return true;
    case Mode::kLiteral: {
      const std::string_view lit = kLiterals[literal_];
      if (c != static_cast<uint8_t>(lit[count_])) return false;
      if (++count_ == lit.size()) end_value();
      return true;
    }
    case Mode::kNumber: {
      switch (num_) {
        case kMinus:
          if (!is_digit(c)) return false;
          num_ = c == '0' ? kZero : kInt;
          return true;
        case kDot:
          if (!is_digit(c)) return false;
          num_ = kFrac;
          return true;
        case kE:
          if (c == '+' || c == '-') {
            num_ = kESign;
            return true;
          }
          [[fallthrough]];
        case kESign:
          if (!is_digit(c)) return false;
          num_ = kExp;
          return true;
        case kInt:
        case kFrac:
        case kExp:
          if (is_digit(c)) return true;
          [[fallthrough]];
        case kZero:
          if (c == '.' && (num_ == kZero || num_ == kInt)) {
            num_ = kDot;
            return true;
          }
          if ((c == 'e' || c == 'E') && num_ != kExp) {
            num_ = kE;
            return true;
          }
          // The number is complete: this byte follows it.
          end_value();
          return feed(c);
      }
      return false;
    }
    case Mode::kDone: return false;  // (whitespace after the object was taken above)
  }
  return false;
}

}  // namespace dsinfer
