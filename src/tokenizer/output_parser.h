#pragma once
// Splits a model's streamed answer into content, reasoning (`<think>…</think>`) and DeepSeek tool calls:
//
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
//   \n<｜tool▁call▁begin｜>…<｜tool▁call▁end｜><｜tool▁calls▁end｜>
//
// (the V3/R1 template's form) and the V3.1 form `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>`.
//
// Streaming-safe: text is held back only while it may still be the start of a marker (or of a UTF-8
// character), so feeding the answer in any pieces gives the same final result as feeding it whole. A tool
// call comes out once its <｜tool▁call▁end｜> has arrived, with the complete arguments. Markup that does not
// parse (no separator, arguments that are not JSON, text between calls, a stream ending inside a call)
// comes out as plain content; nothing here throws on model output.
//
// Whitespace: leading whitespace before `<think>` and right after `</think>` is dropped, as the reasoning
// parsers of llama.cpp and vLLM do; whitespace between tool calls is part of the markup.

#include <string>
#include <string_view>
#include <vector>

namespace dsinfer {

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // JSON text
};

struct ToolCallUpdate {
  int index = 0;  // 0, 1, ... in the order the calls appear
  ParsedToolCall call;
};

struct ChatDelta {
  std::string content;
  std::string reasoning;
  std::vector<ToolCallUpdate> tool_calls;
  bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
};

struct ChatOutputOptions {
  bool parse_reasoning = true;  // "<think>" at the start of the answer opens reasoning
  // The prompt already opened the think block (R1's generation prompt ends in "<think>\n"): the answer
  // starts as reasoning and "</think>" closes it.
  bool starts_in_reasoning = false;
  bool parse_tool_calls = true;
};

class ChatOutputParser {
 public:
  explicit ChatOutputParser(ChatOutputOptions options = {});

  ChatDelta feed(std::string_view text);
  // End of the answer: whatever is held back comes out.
  ChatDelta finish();

  // Everything so far.
  const std::string& content() const { return content_; }
  const std::string& reasoning() const { return reasoning_; }
  const std::vector<ParsedToolCall>& tool_calls() const { return tool_calls_; }

 private:
  enum class State { kStart, kReasoning, kContent, kTools };
  void run(bool final, ChatDelta& delta);
  void emit_content(std::string_view text, ChatDelta& delta);
  void emit_reasoning(std::string_view text, ChatDelta& delta);
  bool run_tools(bool final, ChatDelta& delta);  // false: needs more text

  ChatOutputOptions options_;
  State state_;
  std::string buf_;               // received, not yet decided
  bool strip_content_ws_ = false;  // drop whitespace until the first other content character
  std::string content_, reasoning_;
  std::vector<ParsedToolCall> tool_calls_;
};

// Parses one call body (between <｜tool▁call▁begin｜> and <｜tool▁call▁end｜>); false if malformed.
bool parse_tool_call_body(std::string_view body, ParsedToolCall& out);

}  // namespace dsinfer
