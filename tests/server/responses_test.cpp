// The Responses API layer without a server: request bodies translated into chat completions bodies (items,
// instructions, tools, formats, continued conversations; every bad body an ApiError naming its field, also
// under random mutation), chat chunks translated into Responses events and the response object, and the
// bounded response store.

#include <gtest/gtest.h>

#include <tuple>

#include "mutated_bodies.h"
#include "server/response_store.h"
#include "server/responses_output.h"
#include "server/responses_request.h"

namespace dsinfer::server {
namespace {

using json = nlohmann::ordered_json;

RequestLimits limits() { return translator_limits(); }

json chat_of(const std::string& body, const ResponseStore& store = ResponseStore()) {
  return json::parse(parse_responses_request(body, limits(), store).chat_body);
}

ApiError error_of(const std::string& body, const ResponseStore& store = ResponseStore()) {
  try {
    parse_responses_request(body, limits(), store);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "");
}

TEST(ResponsesRequest, AStringInputIsOneUserMessageAfterTheInstructions) {
  const json chat = chat_of(R"({"model": "m", "input": "Hi", "instructions": "Be brief.", "max_output_tokens": 7,
                                "temperature": 0.5, "top_p": 0.9, "seed": 3})");
  EXPECT_EQ(chat["messages"], json::parse(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])"));
  EXPECT_EQ(chat["max_completion_tokens"], 7);
  EXPECT_EQ(chat["temperature"], 0.5);
  EXPECT_EQ(chat["top_p"], 0.9);
  EXPECT_EQ(chat["seed"], 3);
  EXPECT_EQ(chat["model"], "m");
  EXPECT_EQ(chat["stream"], false);
  EXPECT_FALSE(chat.contains("stream_options"));
  EXPECT_TRUE(chat_of(R"({"input": "Hi", "stream": true})")["stream_options"]["include_usage"]);
}

TEST(ResponsesRequest, ItemsBecomeChatMessages) {
  const json chat = chat_of(R"({"input": [
      {"role": "developer", "content": "Rules."},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather "}, {"type": "input_text", "text": "in Paris?"}]},
      {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "hmm"}]},
      {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
      {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
      {"type": "function_call", "call_id": "c2", "name": "time", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c1", "output": "18 C"},
      {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "14:05"}]},
      {"type": "function_call", "call_id": "c3", "name": "time", "arguments": "{}"}]})");
  EXPECT_EQ(chat["messages"], json::parse(R"([
      {"role": "system", "content": "Rules."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "Checking.", "tool_calls": [
          {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
          {"id": "c2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "18 C"},
      {"role": "tool", "tool_call_id": "c2", "content": "14:05"},
      {"role": "assistant", "content": null, "tool_calls": [
          {"id": "c3", "type": "function", "function": {"name": "time", "arguments": "{}"}}]}])"));
}

TEST(ResponsesRequest, ToolsFormatsAndChoicesInTheChatForm) {
  const json chat = chat_of(R"({"input": "x",
      "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}],
      "tool_choice": {"type": "function", "name": "f"}, "parallel_tool_calls": false,
      "text": {"format": {"type": "json_schema", "name": "out", "strict": true,
                          "schema": {"type": "object", "properties": {"z": {}, "a": {}}}}}})");
  EXPECT_EQ(chat["tools"], json::parse(R"([{"type": "function", "function": {"name": "f", "description": "d",
                                            "parameters": {"type": "object"}, "strict": true}}])"));
  EXPECT_EQ(chat["tool_choice"], json::parse(R"({"type": "function", "function": {"name": "f"}})"));
  EXPECT_EQ(chat["parallel_tool_calls"], false);
  // The schema keeps the client's property order (the answer is written in it).
  const json& schema = chat["response_format"]["json_schema"]["schema"];
  EXPECT_EQ(schema["properties"].begin().key(), "z");
  EXPECT_EQ(chat["response_format"]["json_schema"]["name"], "out");
  EXPECT_EQ(chat_of(R"({"input": "x", "text": {"format": {"type": "json_object"}}})")["response_format"]["type"], "json_object");
  EXPECT_FALSE(chat_of(R"({"input": "x", "text": {"format": {"type": "text"}}})").contains("response_format"));
  EXPECT_EQ(chat_of(R"({"input": "x", "tool_choice": "required", "tools": []})")["tool_choice"], "required");
  const json lp = chat_of(R"({"input": "x", "include": ["message.output_text.logprobs"], "top_logprobs": 3})");
  EXPECT_EQ(lp["logprobs"], true);
  EXPECT_EQ(lp["top_logprobs"], 3);
  EXPECT_EQ(chat_of(R"({"input": "x", "reasoning": {"effort": "high"}})")["reasoning_effort"], "high");  // (V3.1 thinks)
}

TEST(ResponsesRequest, SettingsAreRepeatedWithTheirDefaults) {
  const auto r = parse_responses_request(R"({"input": "x", "metadata": {"k": "v"}, "store": false})", limits(), ResponseStore());
  EXPECT_FALSE(r.store);
  EXPECT_EQ(r.settings["tool_choice"], "auto");
  EXPECT_EQ(r.settings["tools"], json::array());
  EXPECT_EQ(r.settings["temperature"], 1.0);
  EXPECT_EQ(r.settings["text"]["format"]["type"], "text");
  EXPECT_EQ(r.settings["metadata"]["k"], "v");
  EXPECT_TRUE(r.settings["model"].is_null());
  EXPECT_TRUE(r.settings["previous_response_id"].is_null());
  ASSERT_EQ(r.conversation.size(), 1u);
  json item = r.conversation[0];
  item.erase("id");
  EXPECT_EQ(item, json::parse(R"({"type": "message", "role": "user", "content": "x"})"));
}

TEST(ResponsesRequest, PreviousResponseIdContinuesItsConversation) {
  ResponseStore store;
  store.put("resp_1", StoredResponse{json::object(), json::parse(R"([{"role": "user", "content": "Hi"},
      {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]}])")});
  const auto r = parse_responses_request(R"({"input": "More", "previous_response_id": "resp_1", "instructions": "New."})",
                                         limits(), store);
  EXPECT_EQ(json::parse(r.chat_body)["messages"], json::parse(R"([{"role": "system", "content": "New."},
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "More"}])"));
  EXPECT_EQ(r.conversation.size(), 3u);  // the instructions are this request's only
  EXPECT_EQ(r.settings["previous_response_id"], "resp_1");
  const ApiError e = error_of(R"({"input": "x", "previous_response_id": "resp_2"})", store);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "previous_response_id");
  EXPECT_EQ(e.code, "previous_response_not_found");
}

TEST(ResponsesRequest, AutoTruncationDropsTheFewestWholeTurns) {
  ResponsesRequest r = parse_responses_request(R"({"instructions": "Rules.", "input": [
      {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
      {"role": "user", "content": "u2"}, {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c", "output": "o"}, {"role": "assistant", "content": "a2"},
      {"role": "user", "content": "u3"}, {"role": "assistant", "content": "a3"},
      {"role": "user", "content": "u4"}]})", limits(), ResponseStore());
  auto messages = [](const std::string& body) { return json::parse(body)["messages"]; };
  for (size_t max_messages : {12u, 9u, 8u, 5u, 3u}) {
    ResponsesRequest t = r;
    int calls = 0;
    const bool ok = truncate_to_fit(t, [&](const std::string& body) {
      ++calls;
      return messages(body).size() <= max_messages;
    });
    EXPECT_LE(calls, 4);  // bisection over the 3 later turn starts, after the first try
    ASSERT_TRUE(ok) << max_messages;
    const json m = messages(t.chat_body);
    EXPECT_LE(m.size(), max_messages);
    EXPECT_EQ(m[0], json({{"role", "system"}, {"content", "Rules."}}));  // the instructions stay
    EXPECT_EQ(m[1]["role"], "user");                                   // a whole turn first
    EXPECT_EQ(m.back()["content"], "u4");
  }
  // The fewest dropped: from u2 on are 8 messages with the system one (u2, the call, its output, a2, u3, a3, u4).
  ResponsesRequest t = r;
  truncate_to_fit(t, [&](const std::string& body) { return messages(body).size() <= 8; });
  EXPECT_EQ(messages(t.chat_body)[1]["content"], "u2");
  EXPECT_EQ(t.conversation.size(), 7u);
  EXPECT_EQ(t.input_begin, 0u);
  ResponsesRequest last = r;
  EXPECT_FALSE(truncate_to_fit(last, [&](const std::string& body) { return messages(body).size() <= 1; }));
  EXPECT_EQ(last.chat_body, r.chat_body);  // unchanged
}

TEST(ResponsesRequest, BadBodiesNameTheirField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({})", "input"},
      {R"({"input": 5})", "input"},
      {R"({"input": []})", "input"},
      {R"({"input": [7]})", "input[0]"},
      {R"({"input": [{"role": "tool", "content": "x"}]})", "input[0].role"},
      {R"({"input": [{"role": "user"}]})", "input[0].content"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_image"}]}]})", "input[0].content[0].type"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_text"}]}]})", "input[0].content[0].text"},
      {R"({"input": [{"type": "function_call", "call_id": "c", "name": "f"}]})", "input[0].arguments"},
      {R"({"input": [{"type": "function_call_output", "call_id": "c"}]})", "input[0].output"},
      {R"({"input": [{"type": "item_reference", "id": "x"}]})", "input[0].type"},
      {R"({"input": "x", "tools": {}})", "tools"},
      {R"({"input": "x", "tools": [{"type": "file_search"}]})", "tools[0].type"},
      {R"({"input": "x", "tools": [{"type": "function", "name": ""}]})", "tools[0].name"},
      {R"({"input": "x", "tools": [{"type": "function", "name": "f", "parameters": 1}]})", "tools[0].parameters"},
      {R"({"input": "x", "tool_choice": {"type": "mcp"}})", "tool_choice"},
      {R"({"input": "x", "text": {"format": {"type": "xml"}}})", "text.format.type"},
      {R"({"input": "x", "text": {"format": {"type": "json_schema"}}})", "text.format.name"},
      {R"({"input": "x", "max_output_tokens": 0})", "max_output_tokens"},
      {R"({"input": "x", "max_output_tokens": 1001})", "max_output_tokens"},
      {R"({"input": "x", "background": true})", "background"},
      {R"({"input": "x", "conversation": "conv_1"})", "conversation"},
      {R"({"input": "x", "truncation": "sometimes"})", "truncation"},
      {R"({"input": "x", "metadata": {"k": 1}})", "metadata"},
      {R"({"input": "x", "include": "all"})", "include"},
      {R"({"input": "x", "store": "yes"})", "store"},
      {R"([1])", ""},
      {R"({"input": )", ""},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.what();
    EXPECT_STRNE(e.what(), "") << body;
  }
  json many = {{"input", json::array()}};
  for (int i = 0; i < 13; ++i) many["input"].push_back({{"role", "user"}, {"content", "x"}});
  EXPECT_EQ(error_of(many.dump()).param, "input");  // more items than max_messages
  EXPECT_EQ(responses_error(ApiError(400, "m", "messages")).param, "input");
  EXPECT_EQ(responses_error(ApiError(400, "m", "response_format")).param, "text.format");
  EXPECT_EQ(responses_error(ApiError(400, "m", "max_completion_tokens")).param, "max_output_tokens");
  EXPECT_EQ(responses_error(ApiError(400, "m", "seed")).param, "seed");
}

TEST(ResponsesRequest, MutatedBodiesOnlyEverGiveApiErrors) {
  const std::string valid = R"({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
      {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c", "output": "ok"}],
      "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}], "tool_choice": "auto",
      "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}}, "max_output_tokens": 5,
      "instructions": "i", "metadata": {"a": "b"}, "include": ["reasoning.encrypted_content"], "top_logprobs": 2})";
  ASSERT_EQ(error_of(valid).status, 0);
  const int accepted = accepted_mutations(valid, 7, 20000, [](const std::string& body, int) {
    EXPECT_TRUE(json::parse(parse_responses_request(body, limits(), ResponseStore()).chat_body).is_object());
  });
  EXPECT_GT(accepted, 100);
}

// Chat chunks as Generation writes them.
json chunk(const json& delta, const json& finish = nullptr, const json& logprobs = nullptr) {
  return {{"id", "chatcmpl-1"}, {"object", "chat.completion.chunk"},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"logprobs", logprobs}, {"finish_reason", finish}}})}};
}

std::vector<std::string> types(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const json& e : events) out.push_back(e["type"]);
  return out;
}

const json kUsage = json::parse(R"({"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}})");

TEST(ResponsesOutput, ReasoningTextAndCallsAreItemsInTurn) {
  ResponsesOutput out("resp_1", json{{"model", "m"}, {"tools", json::array()}}, 100);
  std::vector<json> all = out.start();
  auto add = [&](const std::vector<json>& evs) { all.insert(all.end(), evs.begin(), evs.end()); };
  add(out.on_chunk(chunk({{"reasoning_content", "Think"}})));
  add(out.on_chunk(chunk({{"reasoning_content", "ing."}, {"content", "Sure"}})));
  add(out.on_chunk(chunk({{"content", "."}})));
  add(out.on_chunk(chunk({{"tool_calls", {{{"index", 0}, {"id", "call_a"}, {"type", "function"},
                                            {"function", {{"name", "f"}, {"arguments", ""}}}}}}})));
  add(out.on_chunk(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "{\"x\":"}}}}}}})));
  add(out.on_chunk(chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "1}"}}}}}}})));
  add(out.on_chunk(chunk({{"tool_calls", {{{"index", 1}, {"id", "call_b"}, {"type", "function"},
                                            {"function", {{"name", "g"}, {"arguments", "{}"}}}}}}})));
  add(out.on_chunk(chunk(json::object(), "tool_calls")));
  add(out.on_chunk(json{{"choices", json::array()}, {"usage", kUsage}}));  // a usage chunk: nothing
  add(out.finish(kUsage));
  EXPECT_EQ(types(all), (std::vector<std::string>{
      "response.created", "response.in_progress",
      "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta", "response.reasoning_text.delta",
      "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
      "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
      "response.output_text.done", "response.content_part.done", "response.output_item.done",
      "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
      "response.function_call_arguments.done", "response.output_item.done",
      "response.output_item.added", "response.function_call_arguments.delta",
      "response.function_call_arguments.done", "response.output_item.done",
      "response.completed"}));
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i]["sequence_number"], i);
  const json& r = out.response();
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["model"], "m");
  ASSERT_EQ(r["output"].size(), 4u);
  EXPECT_EQ(r["output"][0]["content"][0]["text"], "Thinking.");
  EXPECT_EQ(r["output"][1]["content"][0]["text"], "Sure.");
  EXPECT_EQ(r["output"][2]["call_id"], "call_a");
  EXPECT_EQ(r["output"][2]["arguments"], "{\"x\":1}");
  EXPECT_EQ(r["output"][3]["name"], "g");
  for (const json& item : r["output"]) EXPECT_EQ(item["status"], "completed");
  EXPECT_EQ(r["usage"], json::parse(R"({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 7,
                                        "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 17})"));
  // Each item's done event carries it whole, and the last event the response.
  EXPECT_EQ(all[8]["item"], r["output"][0]);
  EXPECT_EQ(all[19]["arguments"], "{\"x\":1}");
  EXPECT_EQ(all.back()["response"], r);
  EXPECT_EQ(all[0]["response"]["status"], "in_progress");
}

TEST(ResponsesOutput, MaxTokensMakeItIncompleteAndLogprobsFollowTheText) {
  ResponsesOutput out("resp_1", json::object(), 100);
  out.start();
  const json lp = json::parse(R"({"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}]})");
  const auto evs = out.on_chunk(chunk({{"content", "Hi"}}, nullptr, lp));
  ASSERT_EQ(types(evs).back(), "response.output_text.delta");
  EXPECT_EQ(evs.back()["logprobs"], lp["content"]);
  out.on_chunk(chunk(json::object(), "length"));
  const auto end = out.finish(kUsage);
  EXPECT_EQ(types(end).back(), "response.incomplete");
  EXPECT_EQ(out.response()["status"], "incomplete");
  EXPECT_EQ(out.response()["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(out.response()["output"][0]["status"], "incomplete");
  EXPECT_EQ(out.response()["output"][0]["content"][0]["logprobs"], lp["content"]);
}

TEST(ResponsesOutput, AFailureIsAnErrorEventAndAFailedResponse) {
  ResponsesOutput out("resp_1", json::object(), 100);
  out.start();
  out.on_chunk(chunk({{"content", "Hi"}}));
  const auto end = out.finish(kUsage, "out of pages");
  EXPECT_EQ(types(end), (std::vector<std::string>{"response.output_text.done", "response.content_part.done",
                                                  "response.output_item.done", "error", "response.failed"}));
  EXPECT_EQ(end[3]["message"], "out of pages");
  EXPECT_EQ(out.response()["status"], "failed");
  EXPECT_EQ(out.response()["error"]["message"], "out of pages");
}

TEST(ResponseStore, InputItemsArePagedByIdNewestFirst) {
  const auto r = parse_responses_request(R"({"input": [{"role": "user", "content": "a"}, {"id": "mine", "role": "user", "content": "b"},
      {"type": "function_call_output", "call_id": "c", "output": "o"}]})", limits(), ResponseStore());
  ASSERT_EQ(r.input_begin, 0u);
  EXPECT_EQ(r.conversation[0]["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(r.conversation[1]["id"], "mine");  // ids the client gave are kept
  EXPECT_EQ(r.conversation[2]["id"].get<std::string>().rfind("fco_", 0), 0u);
  // Stored behind one earlier item and before one output item: only this request's three are listed.
  StoredResponse stored{json::object(), json::array({{{"id", "old"}}})};
  for (const json& item : r.conversation) stored.conversation.push_back(item);
  stored.input_begin = 1;
  stored.input_end = 4;
  stored.conversation.push_back({{"id", "out"}});
  auto ids = [](const json& page) {
    std::vector<std::string> out;
    for (const json& item : page["data"]) out.push_back(item["id"]);
    return out;
  };
  const json all = input_items_page(stored, "", "", "");
  EXPECT_EQ(ids(all), (std::vector<std::string>{r.conversation[2]["id"], "mine", r.conversation[0]["id"]}));
  EXPECT_EQ(all["has_more"], false);
  EXPECT_EQ(all["first_id"], r.conversation[2]["id"]);
  const json first = input_items_page(stored, "asc", "2", "");
  EXPECT_EQ(ids(first), (std::vector<std::string>{r.conversation[0]["id"], "mine"}));
  EXPECT_EQ(first["has_more"], true);
  EXPECT_EQ(first["last_id"], "mine");
  const json next = input_items_page(stored, "asc", "2", "mine");
  EXPECT_EQ(ids(next), (std::vector<std::string>{r.conversation[2]["id"]}));
  EXPECT_EQ(next["has_more"], false);
  for (const auto& [order, limit, after] : {std::tuple{"up", "", ""}, {"", "0", ""}, {"", "101", ""}, {"", "x", ""}, {"", "", "out"}}) {
    try {
      input_items_page(stored, order, limit, after);
      ADD_FAILURE() << order << limit << after;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
    }
  }
}

TEST(ResponseStore, KeepsTheNewestWithinItsBounds) {
  const std::string ids[] = {"r0", "r1", "r2", "r3", "r4", "r5"};
  ResponseStore store(3, 1 << 20);
  for (int i = 0; i < 5; ++i) store.put(ids[i], StoredResponse{json{{"i", i}}, json::array()});
  EXPECT_EQ(store.size(), 3u);
  EXPECT_FALSE(store.get("r1"));
  EXPECT_EQ(store.get("r4")->response["i"], 4);
  EXPECT_TRUE(store.erase("r3"));
  EXPECT_FALSE(store.erase("r3"));
  EXPECT_EQ(store.size(), 2u);

  ResponseStore small(100, 200);  // bytes: each entry ~60, so three fit
  for (int i = 0; i < 6; ++i) small.put(ids[i], StoredResponse{json{{"text", std::string(40, 'x')}}, json::array()});
  EXPECT_EQ(small.size(), 3u);
  EXPECT_TRUE(small.get("r5"));
  small.put("huge", StoredResponse{json{{"text", std::string(300, 'x')}}, json::array()});  // larger than the store
  EXPECT_FALSE(small.get("huge"));
  EXPECT_TRUE(small.get("r5"));
}

}  // namespace
}  // namespace dsinfer::server
