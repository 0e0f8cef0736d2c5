// Ollama's API layer without a server: /api/chat and /api/generate bodies translated into chat (or text)
// completions bodies (options, format, think, tool calls with object arguments and their results; every
// bad body an ApiError naming its field, also under random mutation), chat chunks translated into
// Ollama's answer objects, and its error objects.

#include <gtest/gtest.h>

#include "mutated_bodies.h"
#include "server/ollama_api.h"

namespace dsinfer::server {
namespace {

using json = nlohmann::ordered_json;

OllamaRequest parse(const std::string& body, bool generate = false) {
  return parse_ollama_request(body, translator_limits(), generate);
}

json chat_of(const std::string& body, bool generate = false) { return json::parse(parse(body, generate).body); }

ApiError error_of(const std::string& body, bool generate = false) {
  try {
    parse(body, generate);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "");
}

const char* kToolTurn = R"({"model": "m", "stream": false, "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather and time?"},
    {"role": "assistant", "content": "", "thinking": "hmm", "tool_calls": [
        {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
        {"function": {"name": "time", "arguments": {}}}]},
    {"role": "tool", "content": "18 C", "tool_name": "weather"},
    {"role": "tool", "content": "14:05", "tool_name": "time"}],
  "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
  "options": {"temperature": 0.2, "top_k": 5, "num_predict": 30, "stop": ["\n\n"], "repeat_penalty": 1.1, "seed": 7,
              "num_ctx": 8192, "num_thread": 4},
  "format": "json", "think": true, "keep_alive": "5m"})";

TEST(OllamaRequest, ChatTurnsOptionsAndToolsBecomeAChatBody) {
  const OllamaRequest r = parse(kToolTurn);
  EXPECT_TRUE(r.chat);
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.model, "m");
  const json c = json::parse(r.body);
  ASSERT_EQ(c["messages"].size(), 5u);
  const json& a = c["messages"][2];
  EXPECT_EQ(a["role"], "assistant");
  EXPECT_FALSE(a.contains("thinking"));  // earlier turns' reasoning stays out of the prompt
  ASSERT_EQ(a["tool_calls"].size(), 2u);
  EXPECT_EQ(a["tool_calls"][0]["function"]["arguments"], R"({"city":"Paris"})");
  EXPECT_EQ(a["tool_calls"][1]["function"]["arguments"], "{}");
  // The results answer the calls in order.
  EXPECT_EQ(c["messages"][3]["tool_call_id"], a["tool_calls"][0]["id"]);
  EXPECT_EQ(c["messages"][4]["tool_call_id"], a["tool_calls"][1]["id"]);
  EXPECT_NE(a["tool_calls"][0]["id"], a["tool_calls"][1]["id"]);
  EXPECT_EQ(c["tools"][0]["function"]["name"], "weather");
  EXPECT_EQ(c["temperature"], 0.2);
  EXPECT_EQ(c["top_k"], 5);
  EXPECT_EQ(c["max_tokens"], 30);
  EXPECT_EQ(c["stop"], json::array({"\n\n"}));
  EXPECT_EQ(c["repetition_penalty"], 1.1);
  EXPECT_EQ(c["seed"], 7);
  EXPECT_FALSE(c.contains("num_ctx"));
  EXPECT_EQ(c["response_format"]["type"], "json_object");
  EXPECT_EQ(c["thinking"]["type"], "enabled");
  EXPECT_EQ(c["stream"], false);
}

TEST(OllamaRequest, StreamsByDefaultAndTakesSchemasAndNoLimit) {
  const json c = chat_of(R"({"messages": [{"role": "user", "content": "x"}], "options": {"num_predict": -1},
                            "format": {"type": "object", "properties": {"ok": {"type": "boolean"}}}, "think": false})");
  EXPECT_EQ(c["stream"], true);
  EXPECT_EQ(c["stream_options"]["include_usage"], true);
  EXPECT_FALSE(c.contains("max_tokens"));  // -1: until the context is full
  EXPECT_EQ(c["response_format"]["type"], "json_schema");
  EXPECT_EQ(c["response_format"]["json_schema"]["schema"]["properties"]["ok"]["type"], "boolean");
  EXPECT_EQ(c["thinking"]["type"], "disabled");
}

TEST(OllamaRequest, GenerateTakesASystemAndARawPrompt) {
  const json c = chat_of(R"({"model": "m", "prompt": "Hi", "system": "Be kind.", "options": {"num_predict": 3}})", true);
  EXPECT_EQ(c["messages"], json::parse(R"([{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}])"));
  const OllamaRequest raw = parse(R"({"prompt": "Once upon", "raw": true, "stream": false})", true);
  EXPECT_FALSE(raw.chat);
  EXPECT_TRUE(raw.generate);
  EXPECT_EQ(json::parse(raw.body)["prompt"], "Once upon");
  EXPECT_EQ(error_of(R"({"prompt": "x", "raw": true, "format": "json"})", true).param, "raw");
  EXPECT_EQ(error_of(R"({"prompt": "x", "suffix": "y"})", true).param, "suffix");
  EXPECT_EQ(error_of(R"({"prompt": "x", "images": ["aGk="]})", true).param, "images");
  EXPECT_EQ(error_of(R"({"prompt": "x", "context": [1, 2]})", true).param, "context");
  EXPECT_NO_THROW(parse(R"({"prompt": "x", "context": [], "suffix": ""})", true));
}

TEST(OllamaRequest, BadBodiesNameTheirField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"messages": []})", "messages"},
      {R"({"messages": [{"role": "robot", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": "x", "images": ["aGk="]}]})", "messages[0].images"},
      {R"({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]})",
       "messages[0].tool_calls[0].function.arguments"},
      {R"({"messages": [{"role": "user", "content": "x"}], "options": []})", "options"},
      {R"({"messages": [{"role": "user", "content": "x"}], "options": {"temperature": "hot"}})", "options.temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "options": {"num_predict": 0}})", "options.num_predict"},
      {R"({"messages": [{"role": "user", "content": "x"}], "options": {"num_predict": 5000}})", "options.num_predict"},
      {R"({"messages": [{"role": "user", "content": "x"}], "format": "xml"})", "format"},
      {R"({"messages": [{"role": "user", "content": "x"}], "think": "max"})", "think"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", "stream"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", "tools"},
      {R"({"messages": [{"role": "user", "content": "x"}], "model": 3})", "model"},
      {R"([1, 2])", ""},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = error_of(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.what();
  }
  // Chat-layer errors in Ollama's terms.
  EXPECT_EQ(ollama_error(ApiError(400, "bad", "max_tokens")).param, "options.num_predict");
  EXPECT_EQ(ollama_error_json(ApiError(400, "must be positive", "options.top_k")),
            json::parse(R"({"error": "options.top_k: must be positive"})"));
}

TEST(OllamaRequest, MutatedBodiesAreAcceptedOrRefusedWithA4xx) {
  for (bool generate : {false, true}) {
    const std::string valid = generate ? R"({"model": "m", "prompt": "Hi", "system": "S", "options": {"num_predict": 3}, "format": "json"})"
                                       : std::string(kToolTurn);
    const int ok = accepted_mutations(valid, generate ? 5 : 6, 400, [&](const std::string& b, int) { parse(b, generate); });
    EXPECT_GT(ok, 0);
    EXPECT_LT(ok, 400);
  }
}

json chunk(const std::string& delta_json, const char* finish = nullptr) {
  json c = {{"choices", json::array({{{"index", 0}, {"delta", json::parse(delta_json)}}})}};
  if (finish) c["choices"][0]["finish_reason"] = finish;
  return c;
}

TEST(OllamaOutput, ChunksBecomeLinesAndCallsComeWhole) {
  OllamaOutput out("m", false);
  EXPECT_TRUE(out.on_chunk(chunk(R"({"role": "assistant"})")).empty());
  auto lines = out.on_chunk(chunk(R"({"reasoning_content": "Let me think."})"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["message"]["thinking"], "Let me think.");
  EXPECT_EQ(lines[0]["message"]["content"], "");
  EXPECT_EQ(lines[0]["done"], false);
  EXPECT_EQ(lines[0]["model"], "m");
  lines = out.on_chunk(chunk(R"({"content": "Checking."})"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["message"]["content"], "Checking.");
  EXPECT_TRUE(out.on_chunk(chunk(R"({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                     "function": {"name": "weather", "arguments": ""}}]})")).empty());
  // (the server builds its chunks with signed integers, as here; parsed JSON has unsigned ones)
  json piece = json::parse(R"({"tool_calls": [{"function": {"arguments": "{\"city\": "}}]})");
  piece["tool_calls"][0]["index"] = int64_t{0};
  out.on_chunk({{"choices", json::array({{{"index", 0}, {"delta", piece}}})}});
  out.on_chunk(chunk(R"({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]})", "tool_calls"));
  lines = out.finish({{"prompt_tokens", 12}, {"completion_tokens", 20}}, true);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["message"]["tool_calls"], json::parse(R"([{"function": {"name": "weather", "arguments": {"city": "Paris"}}}])"));
  EXPECT_EQ(lines[0]["done"], false);
  const json& last = lines[1];
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["done_reason"], "stop");
  EXPECT_EQ(last["prompt_eval_count"], 12);
  EXPECT_EQ(last["eval_count"], 20);
  EXPECT_GE(last["total_duration"].get<int64_t>(), last["eval_duration"].get<int64_t>());
  EXPECT_EQ(last["message"]["content"], "");
}

TEST(OllamaOutput, TheWholeAnswerCarriesEverything) {
  OllamaOutput out("m", false);
  out.on_chunk(chunk(R"({"reasoning_content": "Hm."})"));
  out.on_chunk(chunk(R"({"content": "Yes"})"));
  out.on_chunk(chunk(R"({"content": ", sure."})", "length"));
  out.finish({{"prompt_tokens", 3}, {"completion_tokens", 4}}, false);
  const json& w = out.whole();
  EXPECT_EQ(w["message"]["content"], "Yes, sure.");
  EXPECT_EQ(w["message"]["thinking"], "Hm.");
  EXPECT_FALSE(w["message"].contains("tool_calls"));
  EXPECT_EQ(w["done_reason"], "length");
  EXPECT_EQ(w["done"], true);

  OllamaOutput gen("m", true);  // /api/generate: `response`
  const auto lines = gen.on_chunk(chunk(R"({"content": "Once"})"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["response"], "Once");
  EXPECT_FALSE(lines[0].contains("message"));
  gen.finish({{"prompt_tokens", 1}, {"completion_tokens", 1}}, false);
  EXPECT_EQ(gen.whole()["response"], "Once");
}

TEST(OllamaModels, TagsAndShowDescribeTheModel) {
  OllamaModelInfo m;
  m.name = "deepseek";
  m.parameters = 671000000000;
  m.size_bytes = 404000000000;
  m.quantization = "Q4_K";
  m.context_length = 8192;
  m.model_info = {{"kv_lora_rank", 512}};
  const json tags = ollama_tags(m, false);
  EXPECT_EQ(tags["models"][0]["model"], "deepseek");
  EXPECT_EQ(tags["models"][0]["details"]["parameter_size"], "671.0B");
  EXPECT_FALSE(tags["models"][0].contains("expires_at"));
  EXPECT_EQ(ollama_tags(m, true)["models"][0]["context_length"], 8192);
  const json show = ollama_show(m, true, true);
  EXPECT_EQ(show["capabilities"], json::parse(R"(["completion", "tools", "thinking"])"));
  EXPECT_EQ(show["model_info"]["deepseek2.kv_lora_rank"], 512);
  EXPECT_EQ(rfc3339_now().size(), 30u);  // 2026-11-24T01:46:58.498316961Z
}

}  // namespace
}  // namespace dsinfer::server
