// From token ids to OpenAI output: stop sequences on the detokenized text (at every split point), the
// reasoning / tool-call split, and the JSON a scripted generation turns into (chunks and whole response).

#include <gtest/gtest.h>

#include "server/generation.h"
#include "server/text_output.h"
#include "server/tool_prompt.h"
#include "tokenizer/tokenizer.h"

namespace dsinfer::server {
namespace {

using json = dsinfer::server::ResponseJson;
using namespace std::chrono_literals;

const Tokenizer& tok() {
  static std::unique_ptr<Tokenizer> t = load_tokenizer(std::string(DSINFER_ASSETS) + "/tokenizers/deepseek-v3");
  return *t;
}

TEST(StopMatcher, SaysWhichStopMatchedFirstInTheText) {
  StopMatcher m({"lazy", "fox", "brown"});
  EXPECT_EQ(m.matched_stop(), "");
  std::string out = m.push("the quick bro");
  out += m.push("wn fox");
  EXPECT_EQ(out, "the quick ");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.matched_stop(), "brown");  // earliest in the text, not first in the list
}

TEST(StopMatcher, FindsStopsAcrossEverySplitAndKeepsCharactersWhole) {
  const std::string text = "Grüße, Welt! END and more";
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      StopMatcher m({"END", "zzzzzz"});
      std::string out = m.push(text.substr(0, a));
      out += m.push(text.substr(a, b - a));
      out += m.push(text.substr(b));
      out += m.flush();
      EXPECT_TRUE(m.matched());
      EXPECT_EQ(out, "Grüße, Welt! ") << a << "," << b;
    }
  }
  StopMatcher none({"xyz"});
  std::string out;
  for (char c : std::string("ü and xy")) {
    const std::string piece = none.push(std::string(1, c));
    // Whatever comes out before the end is whole UTF-8.
    EXPECT_TRUE(piece.empty() || (static_cast<unsigned char>(piece[0]) & 0xC0) != 0x80);
    out += piece;
  }
  out += none.flush();
  EXPECT_FALSE(none.matched());
  EXPECT_EQ(out, "ü and xy");
}

std::vector<int32_t> ids_of(const std::string& text) {
  EncodeOptions o;
  o.add_bos = false;
  return tok().encode(text, o);
}

TEST(TextOutput, ChatSplitsReasoningContentAndToolCalls) {
  const std::string answer =
      "<think>Need the weather.</think>Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
      "get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  TextOutput out(tok(), {}, true, ChatOutputOptions{});
  std::string reasoning, content, name, arguments;
  int updates = 0;
  auto take = [&](const ChatDelta& d) {
    reasoning += d.reasoning;
    content += d.content;
    for (const ToolCallUpdate& u : d.tool_calls) {
      EXPECT_EQ(u.index, 0);
      name += u.name;
      arguments += u.arguments;
      ++updates;
    }
  };
  for (int32_t id : ids_of(answer)) take(out.push(id));
  take(out.finish());
  EXPECT_EQ(reasoning, "Need the weather.");
  EXPECT_EQ(content, "Let me check.");
  EXPECT_EQ(name, "get_weather");
  EXPECT_GT(updates, 2);  // the header, then the arguments in pieces
  EXPECT_EQ(json::parse(arguments), json({{"city", "Paris"}}));
  ASSERT_EQ(out.tool_calls().size(), 1u);
  EXPECT_EQ(out.tool_calls()[0].arguments, arguments);
}

TEST(TextOutput, StopSequenceEndsTheTextAndNothingAfterItComesOut) {
  TextOutput out(tok(), {"\n\n###"}, false, ChatOutputOptions{});
  std::string content;
  for (int32_t id : ids_of("first line\nsecond\n\n### third")) {
    content += out.push(id).content;
    if (out.stopped()) break;
  }
  content += out.finish().content;
  EXPECT_TRUE(out.stopped());
  EXPECT_EQ(content, "first line\nsecond");
}

// Runs a scripted chat generation to its end; the chunks it streamed.
std::vector<json> run_chat(const std::string& answer, FinishReason reason, std::unique_ptr<Generation>* keep = nullptr) {
  auto stream = std::make_shared<RequestStream>();
  for (int32_t id : ids_of(answer)) stream->push(id);
  stream->finish(reason, {});
  auto g = std::make_unique<Generation>(GenerationInfo{}, stream,
                                        std::make_unique<TextOutput>(tok(), std::vector<std::string>{}, true, ChatOutputOptions{}),
                                        nullptr);
  std::vector<json> chunks;
  while (g->pump([&](const json& j) { chunks.push_back(j); return true; }, 10ms) != Generation::Progress::kDone) {
  }
  if (keep) *keep = std::move(g);
  return chunks;
}

// Logprobs ride with the text: every entry goes out on the chunk carrying (the start of) its token's text,
// the streamed entries concatenate to the response's, tokens that only make up a stop sequence (or come
// after it) have none, and the completions form's text_offset counts characters.
TEST(Generation, LogprobsFollowTheTextThatComesOut) {
  const std::string answer = "Grüße aus Köln STOP and more";
  const std::vector<int32_t> ids = ids_of(answer);
  auto run = [&](bool chat, std::vector<json>* chunks) {
    auto stream = std::make_shared<RequestStream>();
    for (size_t i = 0; i < ids.size(); ++i) {
      TokenLogprobs lp;
      lp.logprob = -0.5f * static_cast<float>(i + 1);
      lp.top = {{ids[i], lp.logprob}, {7, -9.0f}};
      stream->push(ids[i], lp);
    }
    stream->finish(FinishReason::kLength, {});
    GenerationInfo info;
    info.chat = chat;
    auto g = std::make_unique<Generation>(info, stream,
                                          std::make_unique<TextOutput>(tok(), std::vector<std::string>{" STOP"}, chat, ChatOutputOptions{}),
                                          nullptr, std::make_unique<LogprobTrail>(tok(), chat));
    while (g->pump([&](const json& j) { chunks->push_back(j); return true; }, 10ms) != Generation::Progress::kDone) {
    }
    return g;
  };
  // The tokens whose text starts before " STOP": the answer's tokens up to "Köln".
  size_t kept = 0;
  for (std::string text; kept < ids.size(); ++kept) {
    text += tok().token_bytes(ids[kept]);
    if (text.size() > std::string("Grüße aus Köln").size()) break;
  }
  ASSERT_GT(kept, 2u);
  ASSERT_LT(kept, ids.size());

  std::vector<json> chunks;
  auto g = run(false, &chunks);
  const json all = g->response()["choices"][0]["logprobs"];
  EXPECT_EQ(g->response()["choices"][0]["text"], "Grüße aus Köln");
  ASSERT_EQ(all["tokens"].size(), kept);
  std::string joined;
  json streamed = json::array();
  int64_t chars = 0;  // characters, not bytes: "ü", "ß" and "ö" are one each
  for (size_t i = 0; i < kept; ++i) {
    EXPECT_EQ(all["text_offset"][i].get<int64_t>(), chars) << "token " << i;
    const std::string t = all["tokens"][i].get<std::string>();
    for (unsigned char c : t) chars += (c & 0xC0) != 0x80;
    joined += t;
    EXPECT_FLOAT_EQ(all["token_logprobs"][i].get<float>(), -0.5f * static_cast<float>(i + 1));
    EXPECT_EQ(all["top_logprobs"][i].size(), 2u);
    EXPECT_EQ(all["top_logprobs"][i].begin().value().get<float>(), all["token_logprobs"][i].get<float>()) << "most likely first";
  }
  EXPECT_EQ(chars, 14);
  EXPECT_EQ(joined, "Grüße aus Köln");
  for (const json& c : chunks) {
    const json& lp = c["choices"][0]["logprobs"];
    if (lp.is_null()) continue;
    EXPECT_FALSE(c["choices"][0]["text"].get<std::string>().empty() && c["choices"][0]["finish_reason"].is_null())
        << "entries ride on chunks with text (or the last one)";
    for (const auto& t : lp["tokens"]) streamed.push_back(t);
  }
  EXPECT_EQ(streamed, all["tokens"]);

  std::vector<json> chat_chunks;
  auto gc = run(true, &chat_chunks);
  const json content = gc->response()["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), kept);
  std::string bytes;
  for (const json& e : content) {
    for (int b : e["bytes"]) bytes += static_cast<char>(b);
    ASSERT_EQ(e["top_logprobs"].size(), 2u);
    EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]);
    EXPECT_EQ(e["top_logprobs"][1]["logprob"], -9.0f);
  }
  EXPECT_EQ(bytes, "Grüße aus Köln");
  json chat_streamed = json::array();
  for (const json& c : chat_chunks)
    if (!c["choices"][0]["logprobs"].is_null())
      for (const auto& e : c["choices"][0]["logprobs"]["content"]) chat_streamed.push_back(e);
  EXPECT_EQ(chat_streamed, content);
}

// What a client does with streamed tool calls (the openai package's accumulation): by index, the first
// chunk's id, type and name, then the arguments concatenated.
json accumulate_calls(const std::vector<json>& chunks, int* argument_chunks) {
  json calls = json::array();
  *argument_chunks = 0;
  for (const json& c : chunks) {
    const json& d = c["choices"][0]["delta"];
    if (!d.contains("tool_calls")) continue;
    for (const json& u : d["tool_calls"]) {
      const size_t i = u["index"].get<size_t>();
      if (u.contains("id")) {
        EXPECT_EQ(i, calls.size());
        EXPECT_EQ(u["type"], "function");
        EXPECT_EQ(u["function"]["arguments"], "");  // the first chunk of a call: its name only
        calls.push_back(u);
      } else {
        EXPECT_EQ(u.size(), 2u);  // index and function.arguments
        EXPECT_EQ(u["function"].size(), 1u);
        EXPECT_EQ(i + 1, calls.size());
        calls[i]["function"]["arguments"] = calls[i]["function"]["arguments"].get<std::string>() +
                                            u["function"]["arguments"].get<std::string>();
        ++*argument_chunks;
      }
    }
  }
  return calls;
}

// A generation scripted through its RequestStream: the SSE chunks and the whole response.
TEST(Generation, ChunksAndResponseCarryReasoningContentAndToolCalls) {
  const std::string answer =
      "Step one.</think>Calling.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"x\": 1}\n```"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  auto stream = std::make_shared<RequestStream>();
  for (int32_t id : ids_of(answer)) stream->push(id);
  RequestStats st;
  st.cached_tokens = 16;
  stream->finish(FinishReason::kStop, st);

  ChatOutputOptions po;
  po.starts_in_reasoning = true;  // an R1 prompt opened the think block
  GenerationInfo info;
  info.id = "chatcmpl-test";
  info.model = "tiny";
  info.prompt_tokens = 30;
  info.include_usage = true;
  ServerMetrics metrics;
  Generation g(info, stream, std::make_unique<TextOutput>(tok(), std::vector<std::string>{}, true, po), &metrics);
  std::vector<json> chunks;
  while (g.pump([&](const json& j) { chunks.push_back(j); return true; }, 10ms) != Generation::Progress::kDone) {
  }
  std::string reasoning, content;
  for (const json& c : chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    const json& d = c["choices"][0]["delta"];
    if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
    if (d.contains("content")) content += d["content"].get<std::string>();
  }
  int argument_chunks = 0;
  const json calls = accumulate_calls(chunks, &argument_chunks);
  EXPECT_GE(argument_chunks, 1);
  EXPECT_EQ(reasoning, "Step one.");
  EXPECT_EQ(content, "Calling.");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["index"], 0);
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_EQ(calls[0]["function"]["name"], "f");
  EXPECT_TRUE(calls[0]["id"].get<std::string>().starts_with("call_"));
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(g.usage_chunk()["usage"]["prompt_tokens_details"]["cached_tokens"], 16);

  const json r = g.response();
  const json& msg = r["choices"][0]["message"];
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_EQ(msg["content"], "Calling.");
  EXPECT_EQ(msg["reasoning_content"], "Step one.");
  EXPECT_EQ(msg["tool_calls"][0]["id"], calls[0]["id"]);
  EXPECT_EQ(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>()), json({{"x", 1}}));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(r["usage"]["completion_tokens"], static_cast<int64_t>(ids_of(answer).size()));
  EXPECT_EQ(r["usage"]["total_tokens"], 30 + static_cast<int64_t>(ids_of(answer).size()));
  // Reasoning tokens: those up to the one that completes "</think>".
  int64_t reasoning_tokens = 0;
  for (std::vector<int32_t> ids = ids_of(answer), seen; tok().decode(seen).find("</think>") == std::string::npos;) {
    seen.push_back(ids[seen.size()]);
    ++reasoning_tokens;
  }
  EXPECT_GT(reasoning_tokens, 2);
  EXPECT_EQ(r["usage"]["completion_tokens_details"]["reasoning_tokens"], reasoning_tokens);
  EXPECT_EQ(g.usage_chunk()["usage"]["completion_tokens_details"]["reasoning_tokens"], reasoning_tokens);
  EXPECT_NE(metrics.render(SchedulerMetrics{}).find("dsinfer_time_to_first_token_seconds_count 1"), std::string::npos);
}

TEST(Generation, ToolCallsStreamInPiecesThatAddUpToTheResponse) {
  const std::string answer =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"location\": \"San Francisco, CA\", \"unit\": \"celsius\"}\n```<｜tool▁call▁end｜>\n"
      "<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"tz\": \"Europe/Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  std::unique_ptr<Generation> g;
  const std::vector<json> chunks = run_chat(answer, FinishReason::kStop, &g);
  int argument_chunks = 0;
  const json calls = accumulate_calls(chunks, &argument_chunks);
  EXPECT_GT(argument_chunks, 4);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(calls[1]["function"]["name"], "get_time");
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
  const json r = g->response();
  const json& whole = r["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(whole.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(whole[i]["id"], calls[i]["id"]);
    EXPECT_EQ(whole[i]["function"], calls[i]["function"]);
    EXPECT_FALSE(whole[i].contains("index"));
  }
  EXPECT_EQ(json::parse(whole[0]["function"]["arguments"].get<std::string>()),
            json({{"location", "San Francisco, CA"}, {"unit", "celsius"}}));
  EXPECT_EQ(r["choices"][0]["message"]["content"], nullptr);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(r["usage"]["completion_tokens_details"]["reasoning_tokens"], 0) << "no reasoning";
}

TEST(Generation, ACallCutByMaxTokensEndsWithLength) {
  const std::string call =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"location\": \"San Fr";
  std::unique_ptr<Generation> g;
  const std::vector<json> chunks = run_chat(call, FinishReason::kLength, &g);
  int argument_chunks = 0;
  const json calls = accumulate_calls(chunks, &argument_chunks);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["function"]["arguments"], "{\"location\": \"San Fr");
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "length");
  const json r = g->response();
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["choices"][0]["message"]["tool_calls"][0]["function"], calls[0]["function"]);
  // The model ending inside the call (end of sequence) still reports the call as a tool call.
  EXPECT_EQ(run_chat(call, FinishReason::kStop).back()["choices"][0]["finish_reason"], "tool_calls");
  // A complete call followed by more text up to max_tokens is a tool call too.
  EXPECT_EQ(run_chat(call + "\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜> and", FinishReason::kLength)
                .back()["choices"][0]["finish_reason"],
            "tool_calls");
  // Cut after a complete call but before the calls' end marker (between calls, or in the next call's
  // header): the calls may be incomplete, so "length".
  for (const std::string rest : {"", "<｜tool▁call▁begin｜>func"})
    EXPECT_EQ(run_chat(call + "\"}\n```<｜tool▁call▁end｜>" + rest, FinishReason::kLength).back()["choices"][0]["finish_reason"],
              "length")
        << rest;
}

TEST(Generation, AScriptedAnswerReplacesTheSampledTokensAndEndsLikeEos) {
  auto stream = std::make_shared<RequestStream>();
  for (int32_t id : ids_of("whatever the model samples here")) stream->push(id);
  GenerationInfo info;
  info.scripted_tokens = ids_of("Hello");
  Generation g(info, stream, std::make_unique<TextOutput>(tok(), std::vector<std::string>{}, true, ChatOutputOptions{}), nullptr);
  std::string content;
  for (size_t i = 0; i < info.scripted_tokens.size(); ++i)
    g.pump([&](const json& j) { content += j["choices"][0]["delta"].value("content", ""); return true; }, 10ms);
  EXPECT_TRUE(stream->cancelled());
  stream->finish(FinishReason::kCancelled, {});
  while (g.pump([&](const json& j) { content += j["choices"][0]["delta"].value("content", ""); return true; }, 10ms) !=
         Generation::Progress::kDone) {
  }
  EXPECT_EQ(content, "Hello");
  EXPECT_EQ(g.finish_reason(), "stop");
  EXPECT_EQ(g.response()["usage"]["completion_tokens"], static_cast<int64_t>(info.scripted_tokens.size()));
}

TEST(Generation, StopStringCancelsAndReportsStop) {
  auto stream = std::make_shared<RequestStream>();
  const auto ids = ids_of("alpha beta gamma delta");
  for (int32_t id : ids) stream->push(id);
  stream->finish(FinishReason::kLength, {});
  GenerationInfo info;
  info.chat = false;
  Generation g(info, stream, std::make_unique<TextOutput>(tok(), std::vector<std::string>{" gamma"}, false, ChatOutputOptions{}),
               nullptr);
  std::string text;
  while (g.pump([&](const json& j) { text += j["choices"][0]["text"].get<std::string>(); return true; }, 10ms) !=
         Generation::Progress::kDone) {
  }
  EXPECT_EQ(text, "alpha beta");
  EXPECT_TRUE(stream->cancelled());
  EXPECT_EQ(g.finish_reason(), "stop");
  EXPECT_EQ(g.response()["choices"][0]["text"], "alpha beta");
}

TEST(Generation, SchedulerErrorsBecomeAnError) {
  auto stream = std::make_shared<RequestStream>();
  stream->finish(FinishReason::kError, {}, "forward failed");
  Generation g(GenerationInfo{}, stream, std::make_unique<TextOutput>(tok(), std::vector<std::string>{}, true, ChatOutputOptions{}),
               nullptr);
  EXPECT_EQ(g.pump([](const json&) { return true; }, 10ms), Generation::Progress::kDone);
  EXPECT_TRUE(g.failed());
  EXPECT_EQ(g.error(), "forward failed");
}

TEST(ToolPrompt, EachFormatsCallsAreWhatItsParserReadsBack) {
  const auto tools = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "now"}}])");
  const nlohmann::json plain = tools;
  // DeepSeek-V3.1's own tool prompt (its model card's layout) and call form: no "function" type, no fences.
  const std::string v31 = tool_system_text(ChatFormat::kDeepSeekV31, tools, "auto", "");
  for (const char* part : {"## Tools\nYou have access to the following tools:\n\n### get_weather\nDescription: Weather of a city\n\n"
                           "Parameters: {\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}\n",
                           "### now\nDescription: \n\nParameters: {}\n",
                           "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>tool_call_arguments<｜tool▁call▁end｜>",
                           "chain them directly without separators or spaces"})
    EXPECT_NE(v31.find(part), std::string::npos) << part;
  for (ChatFormat format : {ChatFormat::kDeepSeekV3, ChatFormat::kDeepSeekV31}) {
    const ToolCallPattern p = forced_tool_calls(format, plain, tools, "required", "", true);
    ASSERT_EQ(p.heads.size(), 2u);
    // Two calls as the forced markup writes them: open, head, arguments, close, again, head, ..., end.
    const std::string answer = p.open + p.heads[0] + R"({"city": "Paris"})" + p.close + p.again + p.heads[1] + "{}" + p.close + p.end;
    ChatOutputParser parser;
    parser.feed(answer);
    parser.finish();
    EXPECT_EQ(parser.content(), "") << chat_format_name(format);
    ASSERT_EQ(parser.tool_calls().size(), 2u) << answer;
    EXPECT_EQ(parser.tool_calls()[0].name, "get_weather");
    EXPECT_EQ(parser.tool_calls()[0].arguments, R"({"city": "Paris"})");
    EXPECT_EQ(parser.tool_calls()[1].name, "now");
    EXPECT_EQ(parser.tool_calls()[1].arguments, "{}");
  }
  EXPECT_EQ(forced_tool_calls(ChatFormat::kDeepSeekV31, plain, tools, "function", "now", true).heads,
            std::vector<std::string>{"now<｜tool▁sep｜>"});
}

TEST(ToolPrompt, DescribesEveryToolInTheSystemMessage) {
  const auto tools = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "at": {}}}}},
    {"type": "function", "function": {"name": "now"}}])");
  const std::string text = tool_system_text(ChatFormat::kDeepSeekV3, tools, "function", "now");
  for (const char* part : {"### get_weather", "Weather of a city", R"("city":{"type":"string"},"at":{})", "### now",
                           "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>", "call the function now"})
    EXPECT_NE(text.find(part), std::string::npos) << part;
  // The call example in the text is what the output parser reads back.
  const std::string example = text.substr(text.find("<｜tool▁calls▁begin｜>"));
  ChatOutputParser parser;
  parser.feed(example.substr(0, example.find("<｜tool▁calls▁end｜>") + std::string("<｜tool▁calls▁end｜>").size()));
  parser.finish();
  ASSERT_EQ(parser.tool_calls().size(), 1u);
  EXPECT_EQ(parser.tool_calls()[0].name, "FUNCTION_NAME");

  std::vector<ChatMessage> with_system(2), without(1);
  with_system[0].role = "system";
  with_system[0].content = "Be brief.";
  with_system[1].role = "user";
  without[0].role = "user";
  add_tools_to_messages(with_system, "TOOLS");
  add_tools_to_messages(without, "TOOLS");
  EXPECT_EQ(with_system.size(), 2u);
  EXPECT_EQ(with_system[0].content.value(), "Be brief.\n\nTOOLS");
  ASSERT_EQ(without.size(), 2u);
  EXPECT_EQ(without[0].role, "system");
  EXPECT_EQ(without[0].content.value(), "TOOLS");
}

}  // namespace
}  // namespace dsinfer::server
