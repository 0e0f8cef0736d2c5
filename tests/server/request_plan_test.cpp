// Planning a request with the real DeepSeek-V3 tokenizer: the prompt tokens are the rendered template's
// (tools described in the system message), the token budget follows the context, and what the answer is
// held to follows tool_choice and response_format; every refusal is an ApiError naming its parameter.

#include <gtest/gtest.h>

#include <memory>

#include "server/request_plan.h"
#include "tokenizer/tokenizer.h"

namespace dsinfer::server {
namespace {

const Tokenizer& v3_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = load_tokenizer(std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3/tokenizer.json");
  return *tok;
}

struct Planner {
  RequestLimits limits;
  PlanContext ctx{limits, v3_tokenizer(), ChatFormat::kDeepSeekV3, "<｜begin▁of▁sentence｜>", 256};

  RequestPlan plan(const std::string& body, bool chat = true) const { return plan_request(ctx, body, chat); }
  // The ApiError a body gets (status 0: planned).
  ApiError refusal(const std::string& body, bool chat = true) const {
    try {
      plan(body, chat);
    } catch (const ApiError& e) {
      return e;
    }
    return ApiError(0, "");
  }
};

const char* kTools = R"("tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])";

TEST(RequestPlan, ChatPromptIsTheRenderedTemplateWithTheToolsDescribed) {
  const Planner p;
  const RequestPlan plan = p.plan(std::string(R"({"messages": [{"role": "user", "content": "Hi"}], )") + kTools + "}");
  ASSERT_EQ(plan.prompts.size(), 1u);
  const std::string text = v3_tokenizer().decode(plan.prompts[0]);
  EXPECT_TRUE(text.starts_with("<｜begin▁of▁sentence｜>")) << text;
  EXPECT_NE(text.find("get_weather"), std::string::npos) << text;  // the system message describes the tool
  EXPECT_TRUE(text.ends_with("<｜User｜>Hi<｜Assistant｜>")) << text;
  EXPECT_EQ(plan.max_tokens, std::vector<int64_t>{256 - static_cast<int64_t>(plan.prompts[0].size())});
  EXPECT_TRUE(plan.parse_opts.parse_tool_calls);
  EXPECT_FALSE(plan.parse_opts.starts_in_reasoning);
  // tool_choice "auto": calls are held to the markup once the model writes <｜tool▁calls▁begin｜>.
  ASSERT_NE(plan.calls, nullptr);
  EXPECT_EQ(plan.calls_trigger, *v3_tokenizer().find_token("<｜tool▁calls▁begin｜>"));
  EXPECT_EQ(plan.calls->heads.size(), 1u);
  EXPECT_EQ(plan.schema, nullptr);
}

TEST(RequestPlan, ToolChoiceAndResponseFormatDecideWhatTheAnswerIsHeldTo) {
  const Planner p;
  const std::string user = R"("messages": [{"role": "user", "content": "Hi"}])";
  const RequestPlan forced = p.plan("{" + user + ", " + kTools + R"(, "tool_choice": "required"})");
  ASSERT_NE(forced.calls, nullptr);
  EXPECT_EQ(forced.calls_trigger, -1);  // from the first token on

  const RequestPlan none = p.plan("{" + user + ", " + kTools + R"(, "tool_choice": "none"})");
  EXPECT_EQ(none.calls, nullptr);
  EXPECT_FALSE(none.parse_opts.parse_tool_calls);
  EXPECT_EQ(v3_tokenizer().decode(none.prompts[0]).find("get_weather"), std::string::npos);

  const RequestPlan json_mode = p.plan("{" + user + R"(, "response_format": {"type": "json_object"}})");
  ASSERT_NE(json_mode.schema, nullptr);
  const RequestPlan schema = p.plan("{" + user + R"(, "response_format": {"type": "json_schema", "json_schema":
      {"name": "r", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}})");
  ASSERT_NE(schema.schema, nullptr);
  EXPECT_NE(schema.schema, json_mode.schema);

  const ApiError both = p.refusal("{" + user + ", " + kTools + R"(, "tool_choice": "required", "response_format": {"type": "json_object"}})");
  EXPECT_EQ(both.status, 400);
  EXPECT_EQ(both.param, "response_format");
  const ApiError bad_schema = p.refusal("{" + user + R"(, "response_format": {"type": "json_schema", "json_schema":
      {"name": "r", "schema": {"type": "object", "properties": {"a": {"type": "string", "format": "iri"}}}}}})");
  EXPECT_EQ(bad_schema.status, 400);
  EXPECT_EQ(bad_schema.param, "response_format");
  EXPECT_NE(std::string(bad_schema.what()).find("iri"), std::string::npos) << bad_schema.what();
}

TEST(RequestPlan, ReasoningFormatStartsInThinkingAndRefusesForcedCalls) {
  Planner p;
  p.ctx.format = ChatFormat::kDeepSeekR1;
  const std::string user = R"("messages": [{"role": "user", "content": "Hi"}])";
  const RequestPlan plan = p.plan("{" + user + "}");
  EXPECT_TRUE(plan.parse_opts.starts_in_reasoning);
  const ApiError forced = p.refusal("{" + user + ", " + kTools + R"(, "tool_choice": "required"})");
  EXPECT_EQ(forced.status, 400);
  EXPECT_EQ(forced.param, "tool_choice");
}

TEST(RequestPlan, HybridFormatThinksOnlyWhenAsked) {
  Planner p;
  p.ctx.format = ChatFormat::kDeepSeekV31;
  const std::string user = R"("messages": [{"role": "user", "content": "Hi"}])";
  auto text = [&](const RequestPlan& plan) { return v3_tokenizer().decode(plan.prompts[0]); };
  const RequestPlan off = p.plan("{" + user + "}");
  EXPECT_TRUE(text(off).ends_with("<｜User｜>Hi<｜Assistant｜></think>")) << text(off);
  EXPECT_FALSE(off.parse_opts.starts_in_reasoning);
  // Every way clients ask for thinking: vLLM's / SGLang's chat_template_kwargs, DeepSeek's API, reasoning_effort.
  for (const char* ask : {R"("chat_template_kwargs": {"thinking": true})", R"("chat_template_kwargs": {"enable_thinking": true})",
                          R"("thinking": {"type": "enabled"})", R"("reasoning_effort": "high")"}) {
    const RequestPlan on = p.plan("{" + user + ", " + ask + "}");
    EXPECT_TRUE(text(on).ends_with("<｜Assistant｜><think>")) << ask;
    EXPECT_TRUE(on.parse_opts.starts_in_reasoning) << ask;
  }
  for (const char* no : {R"("chat_template_kwargs": {"thinking": false})", R"("thinking": {"type": "disabled"})",
                         R"("reasoning_effort": "minimal")", R"("reasoning_effort": "high", "chat_template_kwargs": {"thinking": false})"})
    EXPECT_FALSE(p.plan("{" + user + ", " + no + "}").parse_opts.starts_in_reasoning) << no;
  // Tools in V3.1's own prompt and call form; forced calls only without thinking.
  const RequestPlan forced = p.plan("{" + user + ", " + kTools + R"(, "tool_choice": "required"})");
  EXPECT_NE(text(forced).find("You have access to the following tools:"), std::string::npos);
  ASSERT_NE(forced.calls, nullptr);
  EXPECT_EQ(forced.calls->heads, std::vector<std::string>{"get_weather<｜tool▁sep｜>"});
  EXPECT_EQ(p.refusal("{" + user + ", " + kTools + R"(, "tool_choice": "required", "thinking": {"type": "enabled"}})").param,
            "tool_choice");
  for (const char* bad : {R"("thinking": true)", R"("thinking": {"type": "maybe"})", R"("reasoning_effort": "extreme")",
                          R"("chat_template_kwargs": {"thinking": "yes"})", R"("chat_template_kwargs": 1)"}) {
    const ApiError e = p.refusal("{" + user + ", " + bad + "}");
    EXPECT_EQ(e.status, 400) << bad;
  }
  // The other formats take the switch and change nothing.
  p.ctx.format = ChatFormat::kDeepSeekV3;
  EXPECT_TRUE(text(p.plan("{" + user + R"(, "thinking": {"type": "enabled"}})")).ends_with("<｜Assistant｜>"));
}

TEST(RequestPlan, PrefixCompletionContinuesTheLastMessage) {
  Planner p;
  auto text = [&](const RequestPlan& plan) { return v3_tokenizer().decode(plan.prompts[0]); };
  const std::string turns = R"({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure, here is")";
  for (const std::string& body : {"{\"messages\": [" + turns + R"(, "prefix": true}]})",
                                  "{\"messages\": [" + turns + R"(}], "continue_final_message": true})"}) {
    const RequestPlan plan = p.plan(body);
    EXPECT_TRUE(text(plan).ends_with("<｜User｜>Hi<｜Assistant｜>Sure, here is")) << text(plan);  // no end of sentence
    EXPECT_FALSE(plan.parse_opts.starts_in_reasoning);
  }
  // V3.1 with thinking: the prefix is inside the open think block, so the answer goes on as reasoning.
  p.ctx.format = ChatFormat::kDeepSeekV31;
  const RequestPlan think = p.plan("{\"messages\": [" + turns + R"(, "prefix": true}], "thinking": {"type": "enabled"}})");
  EXPECT_TRUE(text(think).ends_with("<｜Assistant｜><think>Sure, here is")) << text(think);
  EXPECT_TRUE(think.parse_opts.starts_in_reasoning);
  const RequestPlan plain = p.plan("{\"messages\": [" + turns + R"(, "prefix": true}]})");
  EXPECT_TRUE(text(plain).ends_with("<｜Assistant｜></think>Sure, here is")) << text(plain);
  EXPECT_FALSE(plain.parse_opts.starts_in_reasoning);
  // Only the last message, an assistant's text; not with answers that must start otherwise.
  const std::pair<std::string, const char*> refused[] = {
      {R"({"messages": [{"role": "user", "content": "Hi", "prefix": true}]})", "messages"},
      {R"({"messages": [{"role": "assistant", "content": "a", "prefix": true}, {"role": "user", "content": "Hi"}]})", "messages"},
      {R"({"messages": [{"role": "user", "content": "Hi"}], "continue_final_message": true})", "continue_final_message"},
      {"{\"messages\": [" + turns + R"(, "prefix": true}], "response_format": {"type": "json_object"}})", "response_format"},
      {"{\"messages\": [" + turns + R"(, "prefix": true}], )" + std::string(kTools) + R"(, "tool_choice": "required"})", "tool_choice"},
  };
  for (const auto& [body, param] : refused) {
    const ApiError e = p.refusal(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.what();
  }
}

TEST(RequestPlan, TokenBudgetFollowsTheContext) {
  const Planner p;  // 256 tokens
  const RequestPlan completion = p.plan(R"({"prompt": "Hello there"})", false);
  EXPECT_EQ(completion.max_tokens, std::vector<int64_t>{16});  // the completions default
  const RequestPlan two = p.plan(R"({"prompt": [[4, 5], [1, 2, 3]], "max_tokens": 5, "echo": true})", false);
  ASSERT_EQ(two.prompts.size(), 2u);
  EXPECT_EQ(two.prompts[1], (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(two.max_tokens, (std::vector<int64_t>{5, 5}));
  EXPECT_TRUE(two.echo);

  const ApiError over = p.refusal(R"({"prompt": [1, 2, 3], "max_tokens": 254})", false);
  EXPECT_EQ(over.status, 400);
  EXPECT_EQ(over.param, "max_tokens");
  EXPECT_EQ(over.code, "context_length_exceeded");
  std::string long_prompt = "[";
  for (int i = 0; i < 256; ++i) long_prompt += (i ? ",7" : "7");
  const ApiError prompt = p.refusal(R"({"prompt": )" + long_prompt + "]}", false);
  EXPECT_EQ(prompt.param, "prompt");
  EXPECT_EQ(prompt.code, "context_length_exceeded");
  EXPECT_EQ(p.refusal(R"({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 255})").param, "max_tokens");
}

TEST(RequestPlan, TokenIdsMustBeInTheVocabulary) {
  const Planner p;
  const int32_t n = v3_tokenizer().n_vocab();
  const ApiError prompt = p.refusal(R"({"prompt": [1, )" + std::to_string(n) + "]}", false);
  EXPECT_EQ(prompt.status, 400);
  EXPECT_EQ(prompt.param, "prompt");
  const ApiError bias = p.refusal(R"({"prompt": "a", "logit_bias": {")" + std::to_string(n) + R"(": 1}})", false);
  EXPECT_EQ(bias.status, 400);
  EXPECT_EQ(bias.param, "logit_bias");
  EXPECT_EQ(p.refusal(R"({"prompt": "a", "logit_bias": {")" + std::to_string(n - 1) + R"(": 1}})", false).status, 0);
}

TEST(RequestPlan, SuffixMakesTheFillInTheMiddlePrompt) {
  const Planner p;
  const Tokenizer& tok = v3_tokenizer();
  const RequestPlan plan = p.plan(R"({"prompt": "def f(", "suffix": "    return x\n"})", false);
  const std::vector<int32_t>& ids = plan.prompts[0];
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids[0], tok.bos_id());
  EXPECT_EQ(ids[1], *tok.find_token("<｜fim▁begin｜>"));
  EXPECT_EQ(ids.back(), *tok.find_token("<｜fim▁end｜>"));
  EXPECT_EQ(tok.decode(ids), "<｜begin▁of▁sentence｜><｜fim▁begin｜>def f(<｜fim▁hole｜>    return x\n<｜fim▁end｜>");
}

}  // namespace
}  // namespace dsinfer::server
