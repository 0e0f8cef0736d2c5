// Anthropic's Messages API layer without a server: request bodies translated into chat completions bodies
// (system blocks, tool_use / tool_result turns, tools, tool_choice, output_config; every bad body an
// ApiError naming its field, also under random mutation), chat chunks translated into Messages events and
// the message object, and Anthropic's error objects.

#include <gtest/gtest.h>


#include "mutated_bodies.h"
#include "server/messages_output.h"
#include "server/messages_request.h"

namespace dsinfer::server {
namespace {

using json = nlohmann::ordered_json;

RequestLimits limits() { return translator_limits(); }

json chat_of(const std::string& body, bool count = false) {
  return json::parse(parse_messages_request(body, limits(), count).chat_body);
}

ApiError error_of(const std::string& body, bool count = false) {
  try {
    parse_messages_request(body, limits(), count);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "");
}

TEST(MessagesRequest, TurnsBecomeChatMessages) {
  const json chat = chat_of(R"({"model": "m", "max_tokens": 9, "system": [{"type": "text", "text": "A."}, {"type": "text", "text": "B."}],
      "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": ""}, {"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "18 C"}]},
                                     {"type": "text", "text": "Thanks"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "time", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "14:05", "is_error": false}]}],
      "stop_sequences": ["END"], "temperature": 0.5, "top_k": 5, "stream": true})");
  EXPECT_EQ(chat["messages"], json::parse(R"([
      {"role": "system", "content": "A.\nB."},
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": "Checking.", "tool_calls": [
          {"id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "t1", "content": "18 C"},
      {"role": "user", "content": "Thanks"},
      {"role": "assistant", "content": null, "tool_calls": [
          {"id": "t2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "t2", "content": "14:05"}])"));
  EXPECT_EQ(chat["max_tokens"], 9);
  EXPECT_EQ(chat["stop"], json::array({"END"}));
  EXPECT_EQ(chat["temperature"], 0.5);
  EXPECT_EQ(chat["top_k"], 5);
  EXPECT_EQ(chat["stream"], true);
  EXPECT_TRUE(chat["stream_options"]["include_usage"]);
  EXPECT_EQ(chat["model"], "m");
}

TEST(MessagesRequest, ToolsChoicesAndFormats) {
  const json chat = chat_of(R"({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {"z": {}, "a": {}}}},
                {"type": "custom", "name": "g", "input_schema": {"type": "object"}}],
      "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true},
      "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}})");
  EXPECT_EQ(chat["tools"][0], json::parse(R"({"type": "function", "function": {"name": "f", "description": "d",
                                               "parameters": {"type": "object", "properties": {"z": {}, "a": {}}}}})"));
  EXPECT_EQ(chat["tools"][0]["function"]["parameters"]["properties"].begin().key(), "z");  // the client's order
  EXPECT_EQ(chat["tools"][1]["function"]["name"], "g");
  EXPECT_EQ(chat["tool_choice"], json::parse(R"({"type": "function", "function": {"name": "f"}})"));
  EXPECT_EQ(chat["parallel_tool_calls"], false);
  EXPECT_EQ(chat["response_format"]["json_schema"]["schema"], json::parse(R"({"type": "object"})"));
  auto choice = [](const char* tc) {
    return chat_of(std::string(R"({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": )") + tc + "}")["tool_choice"];
  };
  EXPECT_EQ(choice(R"({"type": "any"})"), "required");
  EXPECT_EQ(choice(R"({"type": "auto"})"), "auto");
  EXPECT_EQ(choice(R"({"type": "none"})"), "none");
  auto thinking = [](const char* th) {
    return chat_of(std::string(R"({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "thinking": )") + th + "}")["thinking"];
  };
  EXPECT_EQ(thinking(R"({"type": "enabled", "budget_tokens": 1024})"), json::parse(R"({"type": "enabled"})"));
  EXPECT_EQ(thinking(R"({"type": "adaptive"})"), json::parse(R"({"type": "enabled"})"));
  EXPECT_EQ(thinking(R"({"type": "disabled"})"), json::parse(R"({"type": "disabled"})"));
  // count_tokens needs no max_tokens and never streams
  const json count = chat_of(R"({"messages": [{"role": "user", "content": "x"}], "stream": true})", true);
  EXPECT_FALSE(count.contains("max_tokens"));
  EXPECT_FALSE(count.contains("stream_options"));
}

TEST(MessagesRequest, BadBodiesNameTheirField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"messages": [{"role": "user", "content": "x"}]})", "max_tokens"},
      {R"({"max_tokens": 0, "messages": [{"role": "user", "content": "x"}]})", "max_tokens"},
      {R"({"max_tokens": 2, "messages": []})", "messages"},
      {R"({"max_tokens": 2, "messages": [7]})", "messages[0]"},
      {R"({"max_tokens": 2, "messages": [{"role": "system", "content": "x"}]})", "messages[0].role"},
      {R"({"max_tokens": 2, "messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": [{"type": "image"}]}]})", "messages[0].content[0].type"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f"}]}]})", "messages[0].content[0].type"},
      {R"({"max_tokens": 2, "messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]})", "messages[0].content[0].id"},
      {R"({"max_tokens": 2, "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": 3}]}]})", "messages[0].content[0].input"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]})", "messages[0].content[0].tool_use_id"},
      {R"({"max_tokens": 2, "system": 5, "messages": [{"role": "user", "content": "x"}]})", "system"},
      {R"({"max_tokens": 2, "system": [{"type": "image"}], "messages": [{"role": "user", "content": "x"}]})", "system[0].type"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search_20250305", "name": "w"}]})", "tools[0].type"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "tools": [{"name": "f"}]})", "tools[0].input_schema"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"})", "tool_choice"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "tool"}})", "tool_choice.name"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "output_config": {"format": {"type": "xml"}}})", "output_config.format"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "stop_sequences": "END"})", "stop_sequences"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "mcp_servers": [{"url": "x"}]})", "mcp_servers"},
      {R"({"max_tokens": 2, "messages": [{"role": "user", "content": "x"}], "thinking": {"type": "deep"}})", "thinking"},
      {R"([1])", ""},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.what();
  }
  EXPECT_EQ(messages_error(ApiError(400, "m", "stop")).param, "stop_sequences");
  EXPECT_EQ(messages_error(ApiError(400, "m", "response_format")).param, "output_config.format");
}

TEST(MessagesRequest, MutatedBodiesOnlyEverGiveApiErrors) {
  const std::string valid = R"({"model": "m", "max_tokens": 5, "system": [{"type": "text", "text": "s"}], "messages": [
      {"role": "user", "content": [{"type": "text", "text": "hi"}]},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}],
      "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "auto"},
      "stop_sequences": ["x"], "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}})";
  ASSERT_EQ(error_of(valid).status, 0);
  const int accepted = accepted_mutations(valid, 11, 20000, [](const std::string& body, int i) {
    EXPECT_TRUE(json::parse(parse_messages_request(body, limits(), (i & 1) != 0).chat_body).is_object());
  });
  EXPECT_GT(accepted, 100);
}

TEST(MessagesRequest, ErrorsInAnthropicsShape) {
  const json e = anthropic_error_json(ApiError(400, "at most 4 stop sequences", "stop_sequences"));
  EXPECT_EQ(e, json::parse(R"({"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "stop_sequences: at most 4 stop sequences"}})"));
  EXPECT_EQ(anthropic_error_json(ApiError(400, "'max_tokens' is required", "max_tokens"))["error"]["message"], "'max_tokens' is required");
  EXPECT_EQ(anthropic_error_json(ApiError(401, "no"))["error"]["type"], "authentication_error");
  EXPECT_EQ(anthropic_error_json(ApiError(429, "busy"))["error"]["type"], "rate_limit_error");
  EXPECT_EQ(anthropic_error_json(ApiError(503, "down"))["error"]["type"], "overloaded_error");
  EXPECT_EQ(anthropic_error_json(ApiError(500, "bug"))["error"]["type"], "api_error");
}

json chunk(const json& delta, const json& finish = nullptr) {
  return {{"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

std::vector<std::string> types(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const json& e : events) out.push_back(e["type"]);
  return out;
}

const json kUsage = json::parse(R"({"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}})");

TEST(MessagesOutput, ThinkingTextAndToolUseBlocksInTurn) {
  MessagesOutput out("msg_1", "m", 10);
  std::vector<json> all = out.start();
  auto add = [&](const std::vector<json>& evs) { all.insert(all.end(), evs.begin(), evs.end()); };
  add(out.on_chunk(chunk({{"reasoning_content", "Hmm."}})));
  add(out.on_chunk(chunk({{"content", "Sure"}})));
  add(out.on_chunk(chunk({{"tool_calls", {{{"index", 0}, {"id", "call_abc"}, {"type", "function"},
                                            {"function", {{"name", "f"}, {"arguments", ""}}}}}}})));
  add(out.on_chunk(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "{\"x\":"}}}}}}})));
  add(out.on_chunk(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "1}"}}}}}}})));
  add(out.on_chunk(chunk(json::object(), "tool_calls")));
  add(out.finish(kUsage, ""));
  EXPECT_EQ(types(all), (std::vector<std::string>{
      "message_start", "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
      "message_delta", "message_stop"}));
  EXPECT_EQ(all[0]["message"]["usage"]["input_tokens"], 10);
  EXPECT_EQ(all[2]["delta"], json::parse(R"({"type": "thinking_delta", "thinking": "Hmm."})"));
  EXPECT_EQ(all[8]["delta"], json::parse(R"({"type": "input_json_delta", "partial_json": "{\"x\":"})"));
  EXPECT_EQ(all[7]["index"], 2);
  const json& m = out.message();
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_EQ(m["content"], json::parse(R"([{"type": "thinking", "thinking": "Hmm.", "signature": ""}, {"type": "text", "text": "Sure"},
      {"type": "tool_use", "id": "toolu_abc", "name": "f", "input": {"x": 1}}])"));
  // Anthropic counts input tokens without the cached ones.
  EXPECT_EQ(m["usage"], json::parse(R"({"input_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4,
                                        "output_tokens": 7})"));
}

TEST(MessagesOutput, StopReasons) {
  auto reason = [](const char* finish, const std::string& stop_sequence) {
    MessagesOutput out("msg_1", "m", 1);
    out.start();
    out.on_chunk(chunk({{"content", "x"}}));
    out.on_chunk(chunk(json::object(), finish));
    out.finish(kUsage, stop_sequence);
    return std::make_pair(out.message()["stop_reason"], out.message()["stop_sequence"]);
  };
  EXPECT_EQ(reason("stop", ""), std::make_pair(json("end_turn"), json(nullptr)));
  EXPECT_EQ(reason("stop", "END"), std::make_pair(json("stop_sequence"), json("END")));
  EXPECT_EQ(reason("length", ""), std::make_pair(json("max_tokens"), json(nullptr)));
  // A tool call cut by max_tokens keeps the input it can parse: none here.
  MessagesOutput cut("msg_1", "m", 1);
  cut.start();
  cut.on_chunk(chunk({{"tool_calls", {{{"index", 0}, {"id", "call_x"}, {"function", {{"name", "f"}, {"arguments", "{\"a\": 1"}}}}}}}));
  cut.on_chunk(chunk(json::object(), "length"));
  cut.finish(kUsage, "");
  EXPECT_EQ(cut.message()["content"][0]["input"], json::object());
  EXPECT_EQ(cut.message()["stop_reason"], "max_tokens");
}

}  // namespace
}  // namespace dsinfer::server
