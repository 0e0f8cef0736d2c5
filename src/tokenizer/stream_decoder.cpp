// UTF-8-safe streaming detokenizer. See stream_decoder.h.

#include "tokenizer/stream_decoder.h"

#include "tokenizer/tokenizer.h"

namespace dsinfer {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the UTF-8 sequence starting at s[0]: n > 0 complete, 0 incomplete (valid so far but cut
// off), -k invalid, where k is the "maximal subpart" (Unicode ch. 3) that one U+FFFD replaces.
int utf8_sequence(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return -1;
  }
  for (int k = 1; k < need; ++k) {
    if (size_t(k) >= s.size()) return 0;
    const auto b = static_cast<unsigned char>(s[size_t(k)]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -k;
  }
  return need;
}

}  // namespace

size_t utf8_take_complete(std::string_view bytes, bool final, std::string& out) {
  size_t i = 0;
  while (i < bytes.size()) {
    int n = utf8_sequence(bytes.substr(i));
    if (n == 0) {
      if (!final) break;
      out += kReplacement;
      return bytes.size();
    }
    if (n < 0) {
      out += kReplacement;
      i += size_t(-n);
      continue;
    }
    out.append(bytes.substr(i, size_t(n)));
    i += size_t(n);
  }
  return i;
}

size_t utf8_valid_length(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    // ASCII runs are the common case.
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    int n = utf8_sequence(bytes.substr(i));
    if (n <= 0) break;
    i += size_t(n);
  }
  return i;
}

std::string utf8_sanitize(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  utf8_take_complete(bytes, true, out);
  return out;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return {};
  pending_ += tokenizer_.token_bytes(id);
  std::string out;
  size_t used = utf8_take_complete(pending_, false, out);
  pending_.erase(0, used);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  utf8_take_complete(pending_, true, out);
  pending_.clear();
  return out;
}

}  // namespace dsinfer
