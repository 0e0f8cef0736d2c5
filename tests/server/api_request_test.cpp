// The request parser: every malformed body is a 4xx ApiError naming the problem, never another
// exception or a crash — checked on hand-written bad inputs and on thousands of random mutations of
// valid bodies (a deterministic fuzz).

#include <gtest/gtest.h>

#include <random>

#include "server/api_request.h"

namespace dsinfer::server {
namespace {

using nlohmann::json;

RequestLimits limits() {
  RequestLimits l;
  l.max_body_bytes = 1 << 16;
  l.max_messages = 8;
  l.max_tokens = 1000;
  return l;
}

// Parses `body` as a chat (or completion) request; returns the ApiError (status 0 = accepted).
ApiError try_parse(const std::string& body, bool chat = true) {
  try {
    const json j = parse_json_body(body, limits());
    if (chat) {
      parse_chat_request(j, limits());
    } else {
      parse_completion_request(j, limits());
    }
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "");
}

TEST(ApiRequest, ParsesAFullChatRequest) {
  const json body = json::parse(R"({
    "model": "m", "messages": [{"role": "developer", "content": "be brief"},
                               {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}],
    "temperature": 0.5, "top_p": 0.9, "max_tokens": 5, "max_completion_tokens": 7, "stop": "END", "seed": -3,
    "stream": true, "stream_options": {"include_usage": true}, "n": 1,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}], "tool_choice": "required",
    "presence_penalty": 0.1, "frequency_penalty": -0.5, "logit_bias": {"7": -100, "12": 2.5},
    "logprobs": true, "top_logprobs": 4, "user": "ignored"})");
  const ChatRequest r = parse_chat_request(body, limits());
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content.value(), "hi there");
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.max_tokens.value(), 7);  // max_completion_tokens wins
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.sampling.seed, static_cast<uint64_t>(-3));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.tool_choice, "required");
  EXPECT_EQ(r.tools.size(), 1u);
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.1f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(r.sampling.logit_bias, (std::vector<std::pair<int32_t, float>>{{12, 2.5f}, {7, -100.0f}}));
  EXPECT_EQ(r.top_logprobs, 4);
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.response_format, ResponseFormat::kText);
  EXPECT_EQ(parse_chat_request(json::parse(R"({"messages": [{"role": "user", "content": "x"}],
                                               "response_format": {"type": "json_object"}})"), limits()).response_format,
            ResponseFormat::kJsonObject);
  EXPECT_EQ(parse_chat_request(json::parse(R"({"messages": [{"role": "user", "content": "x"}], "n": 16})"), limits()).n, 16);
}

TEST(ApiRequest, LogprobsFollowEachEndpointsForm) {
  const std::string user = R"("messages": [{"role": "user", "content": "x"}])";
  auto chat = [&](const std::string& extra) { return parse_chat_request(json::parse("{" + user + extra + "}"), limits()).top_logprobs; };
  EXPECT_EQ(chat(""), -1);
  EXPECT_EQ(chat(R"(, "logprobs": false)"), -1);
  EXPECT_EQ(chat(R"(, "logprobs": true)"), 0);
  EXPECT_EQ(chat(R"(, "logprobs": true, "top_logprobs": 20)"), 20);
  EXPECT_EQ(chat(R"(, "logprobs": null, "top_logprobs": null)"), -1);
  auto completion = [&](const std::string& extra) {
    return parse_completion_request(json::parse(R"({"prompt": "x")" + extra + "}"), limits()).top_logprobs;
  };
  EXPECT_EQ(completion(""), -1);
  EXPECT_EQ(completion(R"(, "logprobs": null)"), -1);
  EXPECT_EQ(completion(R"(, "logprobs": false)"), -1);
  EXPECT_EQ(completion(R"(, "logprobs": 0)"), 0);
  EXPECT_EQ(completion(R"(, "logprobs": 5)"), 5);
  const CompletionRequest scoring =
      parse_completion_request(json::parse(R"({"prompt": "x", "echo": true, "max_tokens": 0, "logprobs": 1})"), limits());
  EXPECT_TRUE(scoring.echo);
  EXPECT_EQ(scoring.max_tokens.value(), 0);
}

TEST(ApiRequest, DefaultsFollowTheOpenAiApi) {
  const ChatRequest r = parse_chat_request(json::parse(R"({"messages": [{"role": "user", "content": "x"}]})"), limits());
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.seed_given);
  EXPECT_EQ(r.tool_choice, "auto");
}

TEST(ApiRequest, JsonSchemaKeepsTheClientsKeyOrder) {
  const std::string body = R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema",
      "json_schema": {"name": "answer", "strict": true, "schema": {"type": "object", "properties": {"zeta": {}, "alpha": {}}}}}})";
  EXPECT_EQ(parse_chat_request(parse_json_body(body, limits()), limits()).response_format, ResponseFormat::kJsonSchema);
  EXPECT_EQ(response_schema(parse_ordered_body(body)).dump(), R"({"type":"object","properties":{"zeta":{},"alpha":{}}})");
  EXPECT_EQ(response_schema(parse_ordered_body(R"({"response_format": {"type": "json_schema", "json_schema": {"name": "a"}}})")).dump(),
            R"({"type":"object"})");
}

TEST(ApiRequest, CompletionPromptForms) {
  auto parse = [](const char* s) { return parse_completion_request(json::parse(s), limits()); };
  ASSERT_EQ(parse(R"({"prompt": "abc"})").prompts.size(), 1u);
  EXPECT_EQ(parse(R"({"prompt": "abc"})").prompts[0].text, "abc");
  EXPECT_EQ(parse(R"({"prompt": ["abc"]})").prompts[0].text, "abc");
  const CompletionRequest ids = parse(R"({"prompt": [1, 2, 3], "stop": ["a", "b"]})");
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_TRUE(ids.prompts[0].is_ids);
  EXPECT_EQ(ids.prompts[0].ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(ids.stop.size(), 2u);
  EXPECT_EQ(parse(R"({"prompt": [[4, 5]]})").prompts[0].ids, (std::vector<int32_t>{4, 5}));
  // Several prompts (a batch, as evaluation harnesses send them): each answered n times.
  const CompletionRequest texts = parse(R"({"prompt": ["a", "bc", "d"], "n": 2})");
  ASSERT_EQ(texts.prompts.size(), 3u);
  EXPECT_EQ(texts.prompts[1].text, "bc");
  const CompletionRequest lists = parse(R"({"prompt": [[4, 5], [6]]})");
  ASSERT_EQ(lists.prompts.size(), 2u);
  EXPECT_EQ(lists.prompts[1].ids, (std::vector<int32_t>{6}));
}

TEST(ApiRequest, TokenizeAndDetokenizeBodies) {
  const TokenizeRequest t = parse_tokenize_request(json::parse(R"({"content": "hi", "with_pieces": true})"));
  EXPECT_EQ(t.content, "hi");
  EXPECT_FALSE(t.add_special);
  EXPECT_TRUE(t.with_pieces);
  EXPECT_EQ(parse_detokenize_request(json::parse(R"({"tokens": [0, 5, 9]})"), 10), (std::vector<int32_t>{0, 5, 9}));
  for (const char* body : {R"({})", R"({"content": 5})", R"({"content": "x", "add_special": "yes"})"}) {
    try {
      parse_tokenize_request(json::parse(body));
      ADD_FAILURE() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << body;
      EXPECT_FALSE(e.param.empty()) << body;
    }
  }
  for (const char* body : {R"({"tokens": "1"})", R"({"tokens": [1, -1]})", R"({"tokens": [10]})", R"({"tokens": [1.5]})"}) {
    try {
      parse_detokenize_request(json::parse(body), 10);
      ADD_FAILURE() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.param, "tokens") << body;
    }
  }
}

struct BadCase {
  const char* body;
  int status;
  const char* param;
  bool chat = true;
};

TEST(ApiRequest, BadRequestsNameTheProblem) {
  const std::string user = R"("messages": [{"role": "user", "content": "x"}])";
  const std::vector<std::pair<std::string, std::pair<int, std::string>>> cases = {
      {"", {400, ""}},
      {"{", {400, ""}},
      {"[1, 2]", {400, ""}},
      {"\"text\"", {400, ""}},
      {"null", {400, ""}},
      {"{}", {400, "messages"}},
      {R"({"messages": "hi"})", {400, "messages"}},
      {R"({"messages": []})", {400, "messages"}},
      {R"({"messages": [1]})", {400, "messages"}},
      {R"({"messages": [{"content": "x"}]})", {400, "messages"}},
      {R"({"messages": [{"role": "wizard", "content": "x"}]})", {400, "messages"}},
      {R"({"messages": [{"role": "user"}]})", {400, "messages"}},
      {R"({"messages": [{"role": "user", "content": 5}]})", {400, "messages"}},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", {400, "messages"}},
      {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": 7}]})", {400, "messages"}},
      {"{" + user + R"(, "n": 0})", {400, "n"}},
      {"{" + user + R"(, "max_tokens": 0})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_completion_tokens": 0})", {400, "max_completion_tokens"}},
      {"{" + user + R"(, "n": 17})", {400, "n"}},
      {"{" + user + R"(, "n": 2.5})", {400, "n"}},
      {"{" + user + R"(, "n": "1"})", {400, "n"}},
      {"{" + user + R"(, "temperature": "hot"})", {400, "temperature"}},
      {"{" + user + R"(, "temperature": 2.5})", {400, "temperature"}},
      {"{" + user + R"(, "temperature": -0.1})", {400, "temperature"}},
      {"{" + user + R"(, "temperature": 1e999})", {400, ""}},  // not JSON a parser accepts
      {"{" + user + R"(, "top_p": 0})", {400, "top_p"}},
      {"{" + user + R"(, "max_tokens": 0})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_tokens": -5})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_tokens": 1.5})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_tokens": 1e30})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_tokens": 18446744073709551615})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_tokens": 99999999999999999999999})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_tokens": 1001})", {400, "max_tokens"}},
      {"{" + user + R"(, "max_completion_tokens": true})", {400, "max_completion_tokens"}},
      {"{" + user + R"(, "stream": "yes"})", {400, "stream"}},
      {"{" + user + R"(, "stream_options": 1})", {400, "stream_options"}},
      {"{" + user + R"(, "stop": 5})", {400, "stop"}},
      {"{" + user + R"(, "stop": ["a", "b", "c", "d", "e"]})", {400, "stop"}},
      {"{" + user + R"(, "stop": [""]})", {400, "stop"}},
      {"{" + user + R"(, "stop": [1]})", {400, "stop"}},
      {"{" + user + R"(, "seed": "x"})", {400, "seed"}},
      {"{" + user + R"(, "seed": 1.5})", {400, "seed"}},
      {"{" + user + R"(, "model": 3})", {400, "model"}},
      {"{" + user + R"(, "logprobs": 1})", {400, "logprobs"}},
      {"{" + user + R"(, "top_logprobs": 2})", {400, "top_logprobs"}},
      {"{" + user + R"(, "logprobs": true, "top_logprobs": 21})", {400, "top_logprobs"}},
      {"{" + user + R"(, "logprobs": true, "top_logprobs": -1})", {400, "top_logprobs"}},
      {"{" + user + R"(, "presence_penalty": 2.5})", {400, "presence_penalty"}},
      {"{" + user + R"(, "frequency_penalty": "high"})", {400, "frequency_penalty"}},
      {"{" + user + R"(, "logit_bias": [1]})", {400, "logit_bias"}},
      {"{" + user + R"(, "logit_bias": {"abc": 1}})", {400, "logit_bias"}},
      {"{" + user + R"(, "logit_bias": {"-5": 1}})", {400, "logit_bias"}},
      {"{" + user + R"(, "logit_bias": {"12x": 1}})", {400, "logit_bias"}},
      {"{" + user + R"(, "logit_bias": {"99999999999": 1}})", {400, "logit_bias"}},
      {"{" + user + R"(, "logit_bias": {"5": 101}})", {400, "logit_bias"}},
      {"{" + user + R"(, "logit_bias": {"5": "1"}})", {400, "logit_bias"}},
      {"{" + user + R"(, "tools": {}})", {400, "tools"}},
      {"{" + user + R"(, "tools": [{"type": "function"}]})", {400, "tools"}},
      {"{" + user + R"(, "tools": [{"type": "function", "function": {"name": 1}}]})", {400, "tools"}},
      {"{" + user + R"(, "tool_choice": "sometimes"})", {400, "tool_choice"}},
      {"{" + user + R"(, "parallel_tool_calls": "no"})", {400, "parallel_tool_calls"}},
      {"{" + user + R"(, "tool_choice": "required"})", {400, "tool_choice"}},
      {"{" + user + R"(, "tools": [{"type": "function", "function": {"name": "f"}}],
          "tool_choice": {"type": "function", "function": {"name": "g"}}})", {400, "tool_choice"}},
      {"{" + user + R"(, "response_format": {"type": "json_schema"}})", {400, "response_format"}},
      {"{" + user + R"(, "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}})", {400, "response_format"}},
      {"{" + user + R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}})", {400, "response_format"}},
      {"{" + user + R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": []}}})", {400, "response_format"}},
      {"{" + user + R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": 1}}})", {400, "response_format"}},
      {"{" + user + R"(, "response_format": {"type": "xml"}})", {400, "response_format"}},
      {"{" + user + R"(, "response_format": "json"})", {400, "response_format"}},
      {R"({"messages": [)" + std::string(20, '{') + "}]}", {400, ""}},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "x"}, {"role": "user", "content": "x"},
          {"role": "user", "content": "x"}, {"role": "user", "content": "x"}, {"role": "user", "content": "x"},
          {"role": "user", "content": "x"}, {"role": "user", "content": "x"}, {"role": "user", "content": "x"}]})",
       {400, "messages"}},
      {std::string(100, '[') + std::string(100, ']'), {400, ""}},
      {std::string(70000, ' ') + "{}", {413, ""}},
  };
  for (const auto& [body, want] : cases) {
    const ApiError e = try_parse(body);
    EXPECT_EQ(e.status, want.first) << body.substr(0, 200);
    EXPECT_EQ(e.param, want.second) << body.substr(0, 200);
    if (e.status) {
      const json j = e.to_json();
      EXPECT_TRUE(j["error"]["message"].is_string() && !j["error"]["message"].get<std::string>().empty());
      EXPECT_EQ(j["error"]["type"], "invalid_request_error");
      EXPECT_TRUE(j["error"].contains("param") && j["error"].contains("code"));
    }
  }
  for (const char* body : {R"({})", R"({"prompt": 5})", R"({"prompt": []})", R"({"prompt": ""})", R"({"prompt": ["a", 1]})", R"({"prompt": ["a", ""]})", R"({"prompt": [[1], []]})",
                           R"({"prompt": ["a", "b", "c", "d", "e"], "n": 16})",
                           R"({"prompt": [1, -2]})", R"({"prompt": [1, "a"]})", R"({"prompt": [1, 1e10]})",
                           R"({"prompt": "x", "max_tokens": 0})", R"({"prompt": "x", "echo": 1})", R"({"prompt": "x", "best_of": 3})", R"({"prompt": [1], "suffix": "y"})", R"({"prompt": "x", "suffix": 1})", R"({"prompt": "x", "logprobs": 21})",
                           R"({"prompt": "x", "logprobs": true})", R"({"prompt": "x", "logprobs": 1.5})"}) {
    EXPECT_EQ(try_parse(body, false).status, 400) << body;
    EXPECT_EQ(try_parse(body, false).param.empty(), false) << body;
  }
}

// Random byte flips, insertions, deletions and truncations of valid bodies: each result is accepted or
// refused with a 4xx ApiError; nothing else may escape.
TEST(ApiRequest, MutatedBodiesNeverEscapeAsOtherErrors) {
  const std::vector<std::string> seeds = {
      R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}],"temperature":0.7,"top_p":0.9,"max_tokens":16,"stop":["x","y"],"seed":5,"stream":true,"stream_options":{"include_usage":true},"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"n":2,"logprobs":true,"top_logprobs":3,"logit_bias":{"15":-1.5,"7":100},"presence_penalty":0.5,"frequency_penalty":-1,"response_format":{"type":"json_object"}})",
      R"({"prompt":[1,2,3],"max_tokens":4,"temperature":0,"stop":"\n","n":1,"logprobs":null})",
      R"({"prompt":"abc","max_tokens":4,"logprobs":5,"logit_bias":{"1":2},"n":3})",
      R"({"prompt":[[1,2],[3]],"max_tokens":0,"echo":true,"logprobs":1})",
  };
  const std::string alphabet = "{}[]\":,0123456789-+.eE truefalsnul\\u00e9\xff\x80";
  std::mt19937 rng(12345);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = seeds[iter % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: s.erase(pos, 1 + rng() % 8); break;
        default: s.resize(pos); break;
      }
    }
    for (bool chat : {true, false}) {
      try {
        const ApiError e = try_parse(s, chat);
        if (e.status == 0) {
          ++accepted;
        } else {
          EXPECT_TRUE(e.status == 400 || e.status == 413) << s;
          ++refused;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "escaped: " << e.what() << " on " << s;
      }
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

TEST(ApiRequest, ApiKeyComparison) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(authorization_matches("Bearer sk-1", "sk-1"));
  EXPECT_FALSE(authorization_matches("Bearer sk-2", "sk-1"));
  EXPECT_FALSE(authorization_matches("bearer sk-1", "sk-1"));
  EXPECT_FALSE(authorization_matches("sk-1", "sk-1"));
  EXPECT_FALSE(authorization_matches("", "sk-1"));
}

}  // namespace
}  // namespace dsinfer::server
