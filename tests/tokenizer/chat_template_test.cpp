// Chat rendering against the Jinja templates rendered by Python jinja2 the way transformers does
// (tests/tokenizer/golden/chat_templates.json, made by tools/reference/make_tokenizer_goldens.py).

#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer {
namespace {

using nlohmann::json;

std::string asset(const std::string& rel) { return read_text_file(std::string(DSINFER_ASSETS) + "/" + rel); }

TEST(ChatTemplate, MatchesJinja) {
  json g = json::parse(read_text_file(std::string(DSINFER_TEST_DATA) + "/tokenizer/golden/chat_templates.json"));
  int n = 0;
  for (const json& c : g["cases"]) {
    const ChatFormat format = chat_format_from_name(c["format"].get<std::string>()).value();
    ChatRenderOptions opt;
    opt.thinking = c.value("thinking", false);
    opt.bos_token = g["bos_token"];
    opt.add_generation_prompt = c["add_generation_prompt"];
    opt.tools = c["tools"];
    std::vector<ChatMessage> messages = chat_messages_from_json(c["messages"]);
    std::string label = cat(c["format"].get<std::string>(), "/", c["name"].get<std::string>(),
                            c["add_generation_prompt"].get<bool>() ? " +gen" : "", opt.thinking ? " +thinking" : "");
    if (!c["error"].is_null()) {
      EXPECT_THROW(render_chat(format, messages, opt), Error) << label;
    } else {
      EXPECT_EQ(render_chat(format, messages, opt), c["rendered"].get<std::string>()) << label;
    }
    ++n;
  }
  EXPECT_GE(n, 160);
}

TEST(ChatTemplate, DetectsFormat) {
  bool known = false;
  EXPECT_EQ(detect_chat_format(asset("chat-templates/deepseek-v3.jinja"), &known), ChatFormat::kDeepSeekV3);
  EXPECT_TRUE(known);
  EXPECT_EQ(detect_chat_format(asset("chat-templates/deepseek-r1.jinja"), &known), ChatFormat::kDeepSeekR1);
  EXPECT_TRUE(known);
  EXPECT_EQ(detect_chat_format(asset("chat-templates/deepseek-v3.1.jinja"), &known), ChatFormat::kDeepSeekV31);
  EXPECT_TRUE(known);
  for (ChatFormat f : {ChatFormat::kDeepSeekV3, ChatFormat::kDeepSeekR1, ChatFormat::kDeepSeekV31})
    EXPECT_EQ(chat_format_from_name(chat_format_name(f)), f);
  EXPECT_FALSE(chat_format_from_name("chatml"));
  auto tok = load_tokenizer(std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3/tokenizer.json");
  EXPECT_EQ(detect_chat_format(tok->chat_template(), &known), ChatFormat::kDeepSeekV3);
  EXPECT_TRUE(known);
  EXPECT_EQ(detect_chat_format("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}", &known),
            ChatFormat::kDeepSeekV3);
  EXPECT_FALSE(known);
  EXPECT_EQ(detect_chat_format("", &known), ChatFormat::kDeepSeekV3);
  EXPECT_FALSE(known);
}

TEST(ChatTemplate, AnswerStartsInReasoningOnlyInsideAnOpenThinkBlock) {
  EXPECT_TRUE(answer_starts_in_reasoning("<｜User｜>Hi<｜Assistant｜><think>\n"));     // R1
  EXPECT_TRUE(answer_starts_in_reasoning("<｜User｜>Hi<｜Assistant｜><think>"));       // V3.1, thinking
  EXPECT_TRUE(answer_starts_in_reasoning("<｜Assistant｜><think>Let me see"));         // a prefix inside it
  EXPECT_FALSE(answer_starts_in_reasoning("<｜User｜>Hi<｜Assistant｜></think>"));     // V3.1, no thinking
  EXPECT_FALSE(answer_starts_in_reasoning("<｜User｜>Hi<｜Assistant｜>"));             // V3
  EXPECT_FALSE(answer_starts_in_reasoning("<｜Assistant｜><think>a</think>b"));        // closed in the prefix
  // Only the last turn counts.
  EXPECT_FALSE(answer_starts_in_reasoning("<｜Assistant｜><think>x<｜User｜>Hi<｜Assistant｜>"));
  EXPECT_FALSE(answer_starts_in_reasoning("<think>"));
}

TEST(ChatTemplate, GenerationPrompts) {
  std::vector<ChatMessage> m(1);
  m[0].role = "user";
  m[0].content = "Hi";
  EXPECT_EQ(render_chat(ChatFormat::kDeepSeekV3, m), "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>");
  EXPECT_EQ(render_chat(ChatFormat::kDeepSeekR1, m), "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n");
}

TEST(ChatTemplate, BadMessagesAreErrors) {
  EXPECT_THROW(chat_messages_from_json(json::object()), Error);
  EXPECT_THROW(chat_messages_from_json(json::parse(R"([{"content": "no role"}])")), Error);
  EXPECT_THROW(chat_messages_from_json(json::parse(R"([{"role": "user", "content": 5}])")), Error);
  EXPECT_THROW(chat_messages_from_json(json::parse(R"([{"role": "assistant", "tool_calls": [{"function": {}}]}])")),
               Error);
  // A user message without content: Jinja fails on 'text' + None, so do we.
  auto m = chat_messages_from_json(json::parse(R"([{"role": "user", "content": null}])"));
  EXPECT_THROW(render_chat(ChatFormat::kDeepSeekV3, m), Error);
  // Text parts are joined; object arguments are serialized.
  m = chat_messages_from_json(json::parse(R"([{"role": "user", "content": [{"type": "text", "text": "a"},
      {"type": "text", "text": "b"}]}, {"role": "assistant", "content": null, "tool_calls": [{"id": "x",
      "type": "function", "function": {"name": "f", "arguments": {"k": 1}}}]}])"));
  EXPECT_EQ(*m[0].content, "ab");
  EXPECT_EQ((*m[1].tool_calls)[0].arguments, R"({"k":1})");
}

}  // namespace
}  // namespace dsinfer
