// The streaming output parser: fixed expectations for whole answers, then the same answers fed in every
// possible two-piece split, byte by byte, and token by token (DeepSeek-V3 tokenizer) must give the same
// result.

#include "tokenizer/output_parser.h"

#include <gtest/gtest.h>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace dsinfer {
namespace {

struct Result {
  std::string content, reasoning;
  std::vector<std::pair<std::string, std::string>> calls;
  bool operator==(const Result&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  os << "{content='" << r.content << "' reasoning='" << r.reasoning << "' calls=[";
  for (const auto& [n, a] : r.calls) os << n << "(" << a << ") ";
  return os << "]}";
}

// Feeds the pieces and checks that the deltas add up to the parser's totals.
Result parse(const std::vector<std::string>& pieces, ChatOutputOptions opt) {
  ChatOutputParser p(opt);
  Result sum;
  int next_index = 0;
  auto add = [&](const ChatDelta& d) {
    sum.content += d.content;
    sum.reasoning += d.reasoning;
    for (const ToolCallUpdate& u : d.tool_calls) {
      EXPECT_EQ(u.index, next_index++);
      sum.calls.emplace_back(u.call.name, u.call.arguments);
    }
  };
  for (const std::string& piece : pieces) add(p.feed(piece));
  add(p.finish());
  Result total{p.content(), p.reasoning(), {}};
  for (const ParsedToolCall& c : p.tool_calls()) total.calls.emplace_back(c.name, c.arguments);
  EXPECT_EQ(sum, total);
  return total;
}

struct Case {
  const char* name;
  std::string text;
  ChatOutputOptions opt;
  Result expected;
};

const std::string kCall1 =
    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>";
const std::string kCall2 =
    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"tz\": \"CET\"}\n```<｜tool▁call▁end｜>";

std::vector<Case> cases() {
  ChatOutputOptions r1{.starts_in_reasoning = true};
  ChatOutputOptions plain{.parse_reasoning = false};
  return {
      {"plain text", "Hello, 世界! 👋🏽 How are you?", {}, {"Hello, 世界! 👋🏽 How are you?", "", {}}},
      {"think at start", "<think>\nLet me think about 中文.\n</think>\n\nThe answer is 42.", {},
       {"The answer is 42.", "\nLet me think about 中文.\n", {}}},
      {"prompt opened think", "Reasoning here…\n</think>\n\n**Answer**: yes", r1, {"**Answer**: yes", "Reasoning here…\n", {}}},
      {"never closed", "still thinking <th", r1, {"", "still thinking <th", {}}},
      {"think not at start", "Text <think>not reasoning</think>", {}, {"Text <think>not reasoning</think>", "", {}}},
      {"reasoning off", "<think>x</think>y", plain, {"<think>x</think>y", "", {}}},
      {"one call", "<｜tool▁calls▁begin｜>" + kCall1 + "<｜tool▁calls▁end｜>", {},
       {"", "", {{"get_weather", "{\"city\": \"Paris\"}"}}}},
      {"two calls after text and reasoning",
       "<think>Need tools.</think>Let me check.<｜tool▁calls▁begin｜>" + kCall1 + "\n" + kCall2 + "<｜tool▁calls▁end｜>",
       {},
       {"Let me check.", "Need tools.", {{"get_weather", "{\"city\": \"Paris\"}"}, {"get_time", "{\"tz\": \"CET\"}"}}}},
      {"V3.1 form",
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>{\"q\": \"dsinfer\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
       {}, {"", "", {{"search", "{\"q\": \"dsinfer\"}"}}}},
      {"bad json degrades",
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{oops\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
       {}, {"<｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{oops\n```<｜tool▁call▁end｜>", "", {}}},
      {"no separator degrades", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>junk<｜tool▁call▁end｜>", {},
       {"<｜tool▁call▁begin｜>junk<｜tool▁call▁end｜>", "", {}}},
      {"cut off inside a call", "<｜tool▁calls▁begin｜>" + kCall1 + "<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```js", {},
       {"<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```js", "", {{"get_weather", "{\"city\": \"Paris\"}"}}}},
      {"garbage between calls", "<｜tool▁calls▁begin｜>" + kCall1 + " and then " + kCall2, {},
       // The text after the first call is not markup: from there on everything is content, including the
       // second call, whose markers are then outside a calls block.
       {" and then " + kCall2, "", {{"get_weather", "{\"city\": \"Paris\"}"}}}},
      {"partial markers are text", "a <｜tool▁calls b </thi <thin", {}, {"a <｜tool▁calls b </thi <thin", "", {}}},
      {"tools off", "<｜tool▁calls▁begin｜>" + kCall1, ChatOutputOptions{.parse_tool_calls = false},
       {"<｜tool▁calls▁begin｜>" + kCall1, "", {}}},
      {"empty", "", {}, {"", "", {}}},
      {"only whitespace", "  \n", {}, {"  \n", "", {}}},
  };
}

std::vector<std::string> bytes_of(const std::string& s) {
  std::vector<std::string> out;
  for (char ch : s) out.emplace_back(1, ch);
  return out;
}

TEST(OutputParser, WholeAnswers) {
  for (const Case& c : cases()) EXPECT_EQ(parse({c.text}, c.opt), c.expected) << c.name;
}

TEST(OutputParser, EverySplitPointGivesTheSameResult) {
  for (const Case& c : cases()) {
    const Result want = c.expected;
    for (size_t k = 0; k <= c.text.size(); ++k)
      ASSERT_EQ(parse({c.text.substr(0, k), c.text.substr(k)}, c.opt), want) << c.name << ", split at " << k;
    EXPECT_EQ(parse(bytes_of(c.text), c.opt), want) << c.name << ", byte by byte";
  }
}

TEST(OutputParser, TokenByToken) {
  auto tok = load_tokenizer(std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3/tokenizer.json");
  ASSERT_TRUE(tok);
  for (const Case& c : cases()) {
    std::vector<int32_t> ids = tok->encode(c.text, {.add_bos = false});
    // As the server streams: each token through the UTF-8-safe detokenizer.
    StreamDecoder dec(*tok);
    std::vector<std::string> pieces;
    for (int32_t id : ids) pieces.push_back(dec.push(id));
    pieces.push_back(dec.flush());
    EXPECT_EQ(parse(pieces, c.opt), c.expected) << c.name << ", token by token";
    // Raw token bytes, which may cut UTF-8 characters.
    pieces.clear();
    for (int32_t id : ids) pieces.push_back(tok->token_bytes(id));
    EXPECT_EQ(parse(pieces, c.opt), c.expected) << c.name << ", raw token bytes";
  }
}

TEST(OutputParser, DeltasNeverSplitUtf8) {
  ChatOutputParser p;
  std::string all;
  for (char ch : std::string("<think>思考</think>答え🙂")) {
    ChatDelta d = p.feed(std::string(1, ch));
    EXPECT_EQ(utf8_sanitize(d.content), d.content);
    EXPECT_EQ(utf8_sanitize(d.reasoning), d.reasoning);
  }
  EXPECT_EQ(p.content(), "答え🙂");
  EXPECT_EQ(p.reasoning(), "思考");
}

TEST(ToolCallBody, Forms) {
  ParsedToolCall c;
  EXPECT_TRUE(parse_tool_call_body("function<｜tool▁sep｜>f\n```json\n{\"a\": [1, 2]}\n```", c));
  EXPECT_EQ(c.name, "f");
  EXPECT_EQ(c.arguments, "{\"a\": [1, 2]}");
  EXPECT_TRUE(parse_tool_call_body("f<｜tool▁sep｜>", c));  // no arguments: {}
  EXPECT_EQ(c.arguments, "{}");
  EXPECT_FALSE(parse_tool_call_body("function<｜tool▁sep｜>f\n```json\n{}", c));  // unclosed fence
  EXPECT_FALSE(parse_tool_call_body("<｜tool▁sep｜>{}", c));                      // no name
  EXPECT_FALSE(parse_tool_call_body("two words<｜tool▁sep｜>{}", c));
}

}  // namespace
}  // namespace dsinfer
