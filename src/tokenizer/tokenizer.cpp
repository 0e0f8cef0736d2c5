// Tokenizer: added-token splitting, pre-tokenization and BPE put together; the model loader.

#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <filesystem>

#include "formats/gguf.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {

// A byte trie of added-token texts, for leftmost-longest matching like Hugging Face's added-token
// splitter (aho-corasick, LeftmostLongest).
struct Tokenizer::Trie {
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;  // byte -> node
    int32_t token = -1;
    bool special = false;
  };
  std::vector<Node> nodes{1};
  std::array<bool, 256> first{};  // bytes a token can start with
  bool empty = true;

  void add(const AddedToken& t) {
    int32_t node = 0;
    for (unsigned char b : t.content) {
      int32_t child = find(node, b);
      if (child < 0) {
        child = int32_t(nodes.size());
        nodes[size_t(node)].next.emplace_back(b, child);
        nodes.emplace_back();
      }
      node = child;
    }
    // A text listed twice keeps its first id, as Hugging Face's vocabulary lookup does.
    if (nodes[size_t(node)].token < 0) {
      nodes[size_t(node)].token = t.id;
      nodes[size_t(node)].special = t.special;
    }
    first[static_cast<unsigned char>(t.content[0])] = true;
    empty = false;
  }
  int32_t find(int32_t node, uint8_t b) const {
    for (const auto& [byte, child] : nodes[size_t(node)].next)
      if (byte == b) return child;
    return -1;
  }
};

Tokenizer::Tokenizer(VocabData vocab) : vocab_(std::move(vocab)) {
  const size_t n = vocab_.tokens.size();
  if (n == 0) fail(vocab_.source, ": the vocabulary is empty");
  token_bytes_.resize(n);
  special_.assign(n, 0);
  added_.assign(n, 0);
  unused_.assign(n, 0);
  for (int32_t id : vocab_.unused)
    if (id >= 0 && size_t(id) < n) unused_[size_t(id)] = 1;
  for (size_t i = 0; i < n; ++i) token_bytes_[i] = byte_level_decode(vocab_.tokens[i]);
  trie_raw_ = std::make_unique<Trie>();
  trie_normalized_ = std::make_unique<Trie>();
  for (const AddedToken& t : vocab_.added) {
    if (t.id < 0 || size_t(t.id) >= n) fail(vocab_.source, ": added token '", t.content, "' has id ", t.id, " out of range");
    token_bytes_[size_t(t.id)] = t.content;
    special_[size_t(t.id)] = t.special;
    added_[size_t(t.id)] = 1;
    (t.normalized ? trie_normalized_ : trie_raw_)->add(t);
  }
  for (int32_t id : {vocab_.bos_id, vocab_.eos_id})
    if (id >= int32_t(n)) fail(vocab_.source, ": BOS/EOS id ", id, " is out of range (", n, " tokens)");
  pre_ = std::make_unique<PreTokenizer>(vocab_.pre_patterns);
  bpe_ = std::make_unique<BpeModel>(vocab_);
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::split_added(std::string_view text, const Trie& trie, bool parse_special,
                            std::vector<Segment>& segs) const {
  if (trie.empty) return;
  std::vector<Segment> out;
  out.reserve(segs.size());
  for (const Segment& seg : segs) {
    if (seg.token >= 0) {
      out.push_back(seg);
      continue;
    }
    size_t plain = seg.begin;
    size_t i = seg.begin;
    while (i < seg.end) {
      if (!trie.first[static_cast<unsigned char>(text[i])]) {
        ++i;
        continue;
      }
      int32_t node = 0, best = -1;
      size_t best_end = 0;
      for (size_t j = i; j < seg.end; ++j) {
        node = trie.find(node, static_cast<unsigned char>(text[j]));
        if (node < 0) break;
        const Trie::Node& nd = trie.nodes[size_t(node)];
        if (nd.token >= 0 && (parse_special || !nd.special)) {
          best = nd.token;
          best_end = j + 1;
        }
      }
      if (best < 0) {
        ++i;
        continue;
      }
      if (i > plain) out.push_back({plain, i, -1});
      out.push_back({i, best_end, best});
      i = plain = best_end;
    }
    if (plain < seg.end) out.push_back({plain, seg.end, -1});
  }
  segs.swap(out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  if (options.add_bos.value_or(vocab_.add_bos) && vocab_.bos_id >= 0) ids.push_back(vocab_.bos_id);
  std::vector<Segment> segs{{0, text.size(), -1}};
  split_added(text, *trie_raw_, options.parse_special, segs);
  split_added(text, *trie_normalized_, options.parse_special, segs);
  std::vector<TextSpan> pieces;
  for (const Segment& seg : segs) {
    if (seg.token >= 0) {
      ids.push_back(seg.token);
      continue;
    }
    std::string_view part = text.substr(seg.begin, seg.end - seg.begin);
    pieces.clear();
    pre_->split(part, pieces);
    for (const TextSpan& p : pieces) bpe_->encode_piece(part.substr(p.begin, p.end - p.begin), ids);
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    out += token_bytes(id);
  }
  return out;
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= n_vocab()) fail(vocab_.source, ": token id ", id, " is out of range [0, ", n_vocab(), ")");
  return token_bytes_[size_t(id)];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  token_bytes(id);  // range check
  return vocab_.tokens[size_t(id)];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < n_vocab() && special_[size_t(id)];
}

bool Tokenizer::is_added(int32_t id) const { return id >= 0 && id < n_vocab() && added_[size_t(id)]; }

bool Tokenizer::is_unused(int32_t id) const { return id >= 0 && id < n_vocab() && unused_[size_t(id)]; }

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  for (const AddedToken& t : vocab_.added)
    if (t.content == text) return t.id;
  for (size_t i = 0; i < vocab_.tokens.size(); ++i)
    if (vocab_.tokens[i] == text) return int32_t(i);
  return std::nullopt;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path) {
  namespace fs = std::filesystem;
  if (is_directory(model_path)) {
    std::string json_path = (fs::path(model_path) / "tokenizer.json").string();
    if (!file_exists(json_path)) return nullptr;
    return std::make_unique<Tokenizer>(vocab_from_tokenizer_json(json_path));
  }
  if (!file_exists(model_path)) fail(model_path, ": no such file or directory");
  if (fs::path(model_path).extension() == ".json") return std::make_unique<Tokenizer>(vocab_from_tokenizer_json(model_path));
  auto gguf = GgufFile::open(model_path);
  if (!gguf->find("tokenizer.ggml.tokens")) return nullptr;
  return std::make_unique<Tokenizer>(vocab_from_gguf(*gguf, model_path));
}

}  // namespace dsinfer
