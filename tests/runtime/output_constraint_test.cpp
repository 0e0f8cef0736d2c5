// Constrained answers: the byte-level JSON recognizer (SchemaPrefix with the schema {"type": "object"}, as
// JSON mode uses it) against nlohmann's parser on generated and mutated documents (every prefix of a valid
// object is accepted, a complete one is complete, anything else is refused), and the JSON-mode and
// tool-call constraints' masks on a small vocabulary. Schemas proper: json_schema_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/output_constraint.h"
#include "runtime/json_schema.h"
#include "runtime/schema_prefix.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "../model/test_models.h"
#include "constraint_test_util.h"

namespace dsinfer {
namespace {

// Feeds the whole text: -1 if every byte was accepted, else the offset of the first refused byte.
int64_t first_refused(const std::string& text, bool* complete = nullptr) {
  SchemaPrefix p(JsonSchema::any_object());
  for (size_t i = 0; i < text.size(); ++i)
    if (!p.takes(text.substr(i, 1)) || !p.feed(text.substr(i, 1))) return static_cast<int64_t>(i);
  if (complete) *complete = p.complete();
  return -1;
}

bool accepts_complete(const std::string& text) {
  bool complete = false;
  return first_refused(text, &complete) < 0 && complete;
}

TEST(JsonMode, ValidObjectsAndEveryPrefixOfThem) {
  for (const std::string doc : {
           R"({})", R"({ })", R"({"a":1})", R"({"a": [1, -2.5e+3, 0, 0.125, -0, 1E9, true, false, null]})",
           R"({"k": {"n": {"m": []}}, "s": "x\"y\\z\/\b\f\n\r\t\u00e9\uD83D\uDE00", "u": "Grüße 🙂"})",
           "{\n  \"a\": [\n    {}\n  ]\n}"}) {
    EXPECT_TRUE(accepts_complete(doc)) << doc;
    for (size_t n = 0; n < doc.size(); ++n) {
      bool complete = true;
      EXPECT_LT(first_refused(doc.substr(0, n), &complete), 0) << doc.substr(0, n);
      EXPECT_FALSE(complete) << "complete only at the end: " << doc.substr(0, n);
    }
  }
}

TEST(JsonMode, RefusesWhereTheGrammarBreaks) {
  struct Case {
    std::string text;
    int64_t at;
  };
  for (const Case& c : std::vector<Case>{
           {"[]", 0}, {"\"a\"", 0}, {"1", 0}, {"x", 0}, {" {}", 0},            // the answer is an object
           {"{a", 1}, {"{\"a\" 1", 5}, {"{\"a\":}", 5}, {"{\"a\":1,}", 7},     // keys, colons, trailing commas
           {"{\"a\":[1,]}", 8}, {"{\"a\":[1 2]}", 8}, {"{\"a\":]", 5}, {"{\"a\":[}", 6},
           {"{\"a\":01}", 6}, {"{\"a\":-}", 6}, {"{\"a\":1.}", 7}, {"{\"a\":1e}", 7}, {"{\"a\":.5}", 5},
           {"{\"a\":1.5.2}", 8}, {"{\"a\":1e5e2}", 8}, {"{\"a\":+1}", 5},
           {"{\"a\":tru}", 8}, {"{\"a\":nul1}", 8}, {"{\"a\":True}", 5},
           {"{\"a\":\"x\ny\"}", 7}, {"{\"a\":\"\\x\"}", 7}, {"{\"a\":\"\\u12G4\"}", 10},
           {"{}}", 2}, {"{} ", 2}, {"{}{}", 2},                                // nothing after the object
           {"{\"a\":\"\xc3\"}", 7}, {"{\"a\":\"\xff\"}", 6}}) {                 // strings are UTF-8
    EXPECT_EQ(first_refused(c.text), c.at) << c.text;
  }
}

TEST(JsonMode, LimitsDepthNumbersAndWhitespaceRuns) {
  std::string deep = "{\"a\":";
  for (uint32_t i = 1; i < JsonSchema::kMaxDepth; ++i) deep += "[";
  EXPECT_LT(first_refused(deep), 0);
  EXPECT_EQ(first_refused(deep + "["), static_cast<int64_t>(deep.size()));
  // Whitespace: nothing, one space, or a newline and at most kMaxJsonIndent spaces or tabs.
  const std::string indent = "\n" + std::string(kMaxJsonIndent - 2, ' ') + "\t\t";
  EXPECT_TRUE(accepts_complete("{" + indent + "\"a\" :" + indent + "1\n}"));
  EXPECT_EQ(first_refused("{" + indent + " "), static_cast<int64_t>(indent.size()) + 1);
  EXPECT_EQ(first_refused("{  "), 2);
  EXPECT_EQ(first_refused("{\n\n"), 2);
  EXPECT_EQ(first_refused("{ \n"), 2);
  EXPECT_EQ(first_refused("{\r\n"), 1);
  EXPECT_EQ(first_refused("{\t"), 1);
  const std::string digits(SchemaPrefix::kMaxNumberBytes, '7');
  EXPECT_TRUE(accepts_complete("{\"a\":" + digits + "}"));
  EXPECT_EQ(first_refused("{\"a\":" + digits + "7"), 5 + SchemaPrefix::kMaxNumberBytes) << "a model looping on digits";
  EXPECT_EQ(first_refused("{\"a\":" + digits.substr(1) + ".5"), 5 + SchemaPrefix::kMaxNumberBytes - 1)
      << "never a number that cannot end within the limit";
  EXPECT_TRUE(accepts_complete("{\"a\":\"" + std::string(100, ' ') + "\"}")) << "spaces inside strings are text";
}

// Random objects, compact and indented, and random byte edits of them: the recognizer accepts a complete
// text exactly when nlohmann parses it as an object (ASCII edits only; the recognizer leaves UTF-8 to the
// detokenizer, nlohmann checks it).
// Every whitespace run outside strings is one json_space_takes allows.
bool spaces_as_generated(const std::string& text) {
  bool in_string = false, escape = false;
  uint8_t run = 0;
  for (char ch : text) {
    const auto c = static_cast<uint8_t>(ch);
    if (in_string) {
      in_string = escape || c != '"';
      escape = !escape && c == '\\';
    } else if (is_json_space(c)) {
      if (!json_space_takes(run, c)) return false;
      continue;
    } else {
      in_string = c == '"';
    }
    run = 0;
  }
  return true;
}

TEST(JsonMode, AgreesWithNlohmannOnGeneratedAndMutatedDocuments) {
  std::mt19937 rng(7);
  std::function<nlohmann::json(int)> value = [&](int depth) -> nlohmann::json {
    switch (rng() % (depth > 3 ? 5 : 7)) {
      case 0: return nullptr;
      case 1: return rng() % 2 == 0;
      case 2: return static_cast<int64_t>(rng() % 2001) - 1000;
      case 3: return std::ldexp(static_cast<double>(rng() % 100000) - 50000, -static_cast<int>(rng() % 20));
      case 4: {
        std::string s;
        for (int i = rng() % 6; i > 0; --i) s += "ab\"\\\n\t/ "[rng() % 8];
        return rng() % 4 == 0 ? s + "Grüße" : s;
      }
      case 5: {
        nlohmann::json a = nlohmann::json::array();
        for (int i = rng() % 4; i > 0; --i) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        nlohmann::json o = nlohmann::json::object();
        for (int i = rng() % 4; i > 0; --i) o[std::string(1, "kxyz"[rng() % 4])] = value(depth + 1);
        return o;
      }
    }
  };
  int agreed_valid = 0, agreed_invalid = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    nlohmann::json o = nlohmann::json::object();
    for (int i = rng() % 5; i > 0; --i) o[std::string(1, "abcd"[rng() % 4])] = value(1);
    std::string text = o.dump(iter % 2 ? 2 : -1);
    ASSERT_TRUE(accepts_complete(text)) << text;
    for (int edits = rng() % 3; edits > 0 && !text.empty(); --edits) {
      const size_t at = rng() % text.size();
      // (no 'e' / 'E': an edit could write an exponent past double's range, valid JSON that nlohmann refuses)
      const char c = "{}[],:\"\\ 0123456789.-+trufalsn\nx"[rng() % 33];
      switch (rng() % 3) {
        case 0: text[at] = c; break;
        case 1: text.insert(text.begin() + at, c); break;
        default: text.erase(at, 1); break;
      }
    }
    if (utf8_valid_length(text) != text.size()) continue;  // an edit split "ü" (the detokenizer's business)
    bool valid = nlohmann::json::accept(text) && spaces_as_generated(text);
    if (valid) valid = nlohmann::json::parse(text).is_object() && text[0] == '{';  // (no whitespace before it)
    EXPECT_EQ(accepts_complete(text), valid) << text;
    (valid ? agreed_valid : agreed_invalid) += 1;
  }
  EXPECT_GT(agreed_invalid, 500);  // the edits did break documents
  EXPECT_GT(agreed_valid, 1000);
}

using testing::allowed;
using testing::vocab_of;

TEST(JsonSchemaConstraint, JsonModeMasksTokensThatCannotContinueAndEndsWhenComplete) {
  const std::vector<std::string> vocab = {"{", "}", "\"", "key", "\":", " 1", "\"x\\", "n", "}\n", "<ctl>", "[", ",", "a\"b"};
  JsonSchemaConstraint c(vocab_of(vocab, {"<ctl>"}), JsonSchema::any_object());
  EXPECT_EQ(allowed(c, vocab), "{|");
  EXPECT_TRUE(c.accept(0));
  EXPECT_EQ(allowed(c, vocab), "}|\"|\":|\"x\\|");  // a key (its first bytes) or the end (exactly at '}')
  EXPECT_FALSE(c.accept(3)) << "'key' is not a key without its quote";
  EXPECT_TRUE(c.accept(2));
  EXPECT_EQ(allowed(c, vocab), "{|}|\"|key|\":| 1|n|[|,|") << "in a key: its text, or its end then a colon";
  EXPECT_TRUE(c.accept(3));
  EXPECT_TRUE(c.accept(4));
  EXPECT_TRUE(c.accept(5));
  EXPECT_FALSE(c.complete());
  EXPECT_FALSE(c.accept(8)) << "no token runs past the object's end";
  EXPECT_TRUE(c.accept(1));
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(allowed(c, vocab), "");
}

// The call markup of the tool-call tests: <B><C>function<S>NAME\n```json\n{args}\n```<E> ... <BE>, one call of get.
std::shared_ptr<ToolCallPattern> get_call_pattern() {
  auto pattern = std::make_shared<ToolCallPattern>();
  pattern->open = "<B><C>function<S>";
  pattern->heads = {"get\n```json\n"};
  pattern->close = "\n```<E>";
  pattern->end = "<BE>";
  return pattern;
}

TEST(ToolCallConstraint, ForcesTheMarkupANameFromTheSetAndJsonArguments) {
  auto pattern = get_call_pattern();
  pattern->heads.push_back("get_time\n```json\n");
  pattern->again = "<C>function<S>";
  const std::vector<std::string> vocab = {"<B>", "<C>", "function", "<S>", "get", "_time", "\n```json\n", "{", "}", "\n```",
                                          "<E>", "<BE>", "hello", "func", "tion", "\n", "```", "json", "}\n"};
  ToolCallConstraint c(vocab_of(vocab, {"<B>", "<C>", "<S>", "<E>", "<BE>"}), pattern);
  // Feeds tokens (by text) to a constraint; false at the first it refuses.
  auto take = [](OutputConstraint& k, const std::vector<std::string>& v, std::initializer_list<const char*> tokens) {
    for (const char* t : tokens)
      if (!k.accept(static_cast<int32_t>(std::find(v.begin(), v.end(), t) - v.begin()))) return false;
    return true;
  };
  EXPECT_EQ(allowed(c, vocab), "<B>|");
  EXPECT_TRUE(take(c, vocab, {"<B>", "<C>"}));
  EXPECT_EQ(allowed(c, vocab), "function|func|") << "the literal in any tokenization";
  EXPECT_TRUE(take(c, vocab, {"func", "tion", "<S>"}));
  EXPECT_EQ(allowed(c, vocab), "get|") << "only names from the set";
  EXPECT_TRUE(take(c, vocab, {"get"}));
  EXPECT_EQ(allowed(c, vocab), "_time|\n```json\n|\n```|\n|");
  EXPECT_TRUE(take(c, vocab, {"_time"}));
  EXPECT_FALSE(take(c, vocab, {"hello"}));
  EXPECT_TRUE(take(c, vocab, {"\n```json\n"}));
  EXPECT_EQ(allowed(c, vocab), "{|") << "the arguments are a JSON object";
  EXPECT_TRUE(take(c, vocab, {"{"}));
  EXPECT_FALSE(take(c, vocab, {"}\n"})) << "a token never runs past the arguments";
  EXPECT_TRUE(take(c, vocab, {"}"}));
  EXPECT_EQ(allowed(c, vocab), "\n```|\n|");
  EXPECT_TRUE(take(c, vocab, {"\n", "```", "<E>"}));
  EXPECT_EQ(allowed(c, vocab), "<C>|<BE>|") << "another call, or the end";
  EXPECT_TRUE(take(c, vocab, {"<C>", "function", "<S>", "get", "\n```json\n", "{", "}", "\n```", "<E>"}));
  EXPECT_FALSE(c.complete());
  EXPECT_TRUE(take(c, vocab, {"<BE>"}));
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(allowed(c, vocab), "");

  // Only literals that start with what was matched count: after "get_time\n" the 'e' at the same offset
  // in "get_weather\n…" must not be offered.
  auto three = std::make_shared<ToolCallPattern>(*pattern);
  three->heads.push_back("get_weather\n```json\n");
  std::vector<std::string> vocab3 = vocab;
  vocab3.push_back("e");
  ToolCallConstraint w(vocab_of(vocab3, {}), three);
  ASSERT_TRUE(take(w, vocab3, {"<B>", "<C>", "function", "<S>", "get", "_time", "\n"}));
  EXPECT_EQ(allowed(w, vocab3), "```|");

  pattern->again.clear();  // a named function: one call
  ToolCallConstraint one(vocab_of(vocab, {}), pattern);
  ASSERT_TRUE(take(one, vocab, {"<B>", "<C>", "function", "<S>", "get", "\n```json\n", "{", "}", "\n```", "<E>"}));
  EXPECT_EQ(allowed(one, vocab), "<BE>|");
}

TEST(ToolCallConstraint, ArgumentsFollowTheFunctionsParameters) {
  auto pattern = get_call_pattern();
  pattern->arguments = {JsonSchema::compile(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"city": {"enum": ["Paris"]}}, "required": ["city"], "additionalProperties": false})"))};
  const std::vector<std::string> vocab = {"<B>", "<C>", "function", "<S>", "get", "\n```json\n", "{", "}", "\"city\"", ":",
                                          "\"Paris\"", "\"Rome\"", "\n```", "<E>", "<BE>", "{}"};
  ToolCallConstraint c(vocab_of(vocab, {"<B>", "<C>", "<S>", "<E>", "<BE>"}), pattern);
  for (int id : {0, 1, 2, 3, 4, 5}) ASSERT_TRUE(c.accept(id));
  EXPECT_EQ(allowed(c, vocab), "{|") << "not {} either: the city is required";
  ASSERT_TRUE(c.accept(6));
  EXPECT_EQ(allowed(c, vocab), "\"city\"|");
  ASSERT_TRUE(c.accept(8));
  ASSERT_TRUE(c.accept(9));
  EXPECT_EQ(allowed(c, vocab), "\"Paris\"|");
  ASSERT_TRUE(c.accept(10));
  EXPECT_EQ(allowed(c, vocab), "}|");
  ASSERT_TRUE(c.accept(7));
  EXPECT_EQ(allowed(c, vocab), "\n```|");
}

TEST(ReasoningThenJsonConstraint, FreeReasoningThenTheMarkerThenJson) {
  const std::vector<std::string> vocab = {"hi", " {x}", "<", "/think", ">", "\n\n", "{", "}", "</think>\n{", "<ctl>", "\"a\"", "</think>"};
  ReasoningThenJsonConstraint c(vocab_of(vocab, {"<ctl>"}), JsonSchema::any_object());
  EXPECT_EQ(allowed(c, vocab), "hi| {x}|<|/think|>|\n\n|{|}|</think>\n{|\"a\"|</think>|") << "reasoning: any text, no added token";
  for (int id : {0, 1, 2, 3}) ASSERT_TRUE(c.accept(id));
  EXPECT_FALSE(c.complete());
  EXPECT_EQ(allowed(c, vocab), "hi| {x}|<|/think|>|\n\n|{|}|</think>\n{|\"a\"|</think>|");
  ASSERT_TRUE(c.accept(4));  // "</think>" across three tokens
  EXPECT_EQ(allowed(c, vocab), "\n\n|{|") << "then whitespace or the object";
  ASSERT_TRUE(c.accept(5));
  ASSERT_TRUE(c.accept(6));
  EXPECT_EQ(allowed(c, vocab), "}|\"a\"|");
  ASSERT_TRUE(c.accept(7));
  EXPECT_TRUE(c.complete());
  // The marker and the object's first byte in one token.
  ReasoningThenJsonConstraint d(vocab_of(vocab, {"<ctl>"}), JsonSchema::any_object());
  ASSERT_TRUE(d.accept(0));
  ASSERT_TRUE(d.accept(8));
  EXPECT_EQ(allowed(d, vocab), "}|\"a\"|");
}

TEST(TriggeredConstraint, FreeTextUntilTheTriggerThenTheCallMarkup) {
  auto pattern = get_call_pattern();
  const std::vector<std::string> vocab = {"hello", "<B>", "<C>", "function", "<S>", "get", "\n```json\n", "{", "}", "\n```", "<E>", "<BE>"};
  const auto v = vocab_of(vocab, {"<B>", "<C>", "<S>", "<E>", "<BE>"});
  TriggeredConstraint c(v, 1, std::make_unique<ToolCallConstraint>(v, pattern));
  EXPECT_EQ(allowed(c, vocab), "hello|<B>|<C>|function|<S>|get|\n```json\n|{|}|\n```|<E>|<BE>|") << "text: anything";
  ASSERT_TRUE(c.accept(0));
  ASSERT_TRUE(c.accept(7));
  EXPECT_FALSE(c.complete());
  ASSERT_TRUE(c.accept(1));  // the calls begin
  EXPECT_EQ(allowed(c, vocab), "<C>|");
  for (int id : {2, 3, 4, 5, 6, 7, 8, 9, 10}) ASSERT_TRUE(c.accept(id));
  EXPECT_EQ(allowed(c, vocab), "<BE>|");
  ASSERT_TRUE(c.accept(11));
  EXPECT_TRUE(c.complete());
}

TEST(ToolCallConstraint, MarkupThatIsAnAddedTokenIsSpelledByThatTokenOnly) {
  auto pattern = std::make_shared<ToolCallPattern>();
  pattern->open = "<B>f<S>";
  pattern->heads = {"get\n"};
  pattern->close = "\n<E>";
  pattern->end = "<BE>";
  const std::vector<std::string> vocab = {"<B>", "<", "B>", "f", "f<", "<S>", "get\n", "{", "}", "\n", "<E>", "<BE>", "<B", "E>"};
  ToolCallConstraint c(vocab_of(vocab, {"<B>", "<S>", "<E>", "<BE>"}), pattern);
  EXPECT_EQ(allowed(c, vocab), "<B>|") << "not '<' then 'B>'";
  ASSERT_TRUE(c.accept(0));
  EXPECT_EQ(allowed(c, vocab), "f|") << "'f' is plain markup; 'f<' would begin <S> with a piece";
  for (int id : {3, 5, 6, 7, 8, 9, 10}) ASSERT_TRUE(c.accept(id));
  EXPECT_EQ(allowed(c, vocab), "<BE>|");
}

// GGUF vocabularies pad up to the model's rows with UNUSED tokens ("[PAD128815]", as llama.cpp's converter
// and dsinfer synth write them): they have no bytes for the constraints and never come.
TEST(ConstraintVocab, PaddingTokensOfAGgufVocabularyNeverCome) {
  SynthOptions o;
  o.tokenizer = std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3";
  const std::string path = testing::synth_with("tiny-v3", "tiny-v3-vocab.gguf", o);
  const auto tok = load_tokenizer(path);
  ASSERT_TRUE(tok);
  int32_t pad = -1;
  for (int32_t id = tok->n_vocab() - 1; id >= 0 && pad < 0; --id)
    if (tok->is_unused(id)) pad = id;
  ASSERT_GE(pad, 0) << "the tiny model's vocabulary is padded to its embedding rows";
  EXPECT_TRUE(tok->token_bytes(pad).starts_with("[PAD"));
  EXPECT_FALSE(tok->is_unused(tok->find_token("{").value()));
  const auto vocab = ConstraintVocab::from(*tok);
  EXPECT_TRUE(vocab->bytes[pad].empty());
  JsonSchemaConstraint c(vocab, JsonSchema::any_object());
  ASSERT_TRUE(c.accept(tok->find_token("{\"").value()));  // inside a key: nearly any text may come, not padding
  std::vector<float> logits(static_cast<size_t>(tok->n_vocab()), 0.0f);
  EXPECT_GT(c.mask(logits.data(), tok->n_vocab()), 100000);
  EXPECT_TRUE(std::isinf(logits[pad]));
}

}  // namespace
}  // namespace dsinfer
