#pragma once
// Constrained answers: each step, every token that cannot continue the answer gets a logit of -inf before
// sampling, and the scheduler ends the answer (kStop) once the constraint is complete.
//   - JsonSchemaConstraint: one JSON object that follows a JsonSchema (json_schema.h says what it holds an
//     answer to): structured outputs (response_format {"type": "json_schema"}), and with
//     JsonSchema::any_object() JSON mode (OpenAI's and DeepSeek's {"type": "json_object"}). Added and
//     control tokens (chat markup, end of sequence) never come.
//   - ToolCallConstraint: a forced tool call (tool_choice "required" or a named function): the tool-call
//     markup given by a ToolCallPattern, a function name from a set, and its arguments as a JSON object
//     (that follows the function's parameters schema, where it has one).
// Tokens never straddle two parts of an answer (a token ending a JSON object ends at its '}').

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/schema_prefix.h"

namespace dsinfer {

class Tokenizer;

// The vocabulary as the constraints see it, built once per tokenizer and shared by every request.
struct ConstraintVocab {
  std::vector<std::string> bytes;  // [n_vocab] a token's bytes (an added token's: its text; "" for padding
                                   // tokens, which never come)
  std::vector<uint8_t> added;      // added and control tokens: never inside JSON
  std::vector<uint8_t> plain;      // no byte < 0x20, '"' or '\': continues any open JSON string as it is
  std::vector<uint8_t> whole_utf8; // whole UTF-8 characters (byte-level BPE also has pieces of them)

  static std::shared_ptr<const ConstraintVocab> from(const Tokenizer& tokenizer);
};

class OutputConstraint {
 public:
  virtual ~OutputConstraint() = default;
  // -inf for every token that cannot come next (ids past the vocabulary too); returns how many remain.
  int64_t mask(float* logits, int64_t n_vocab) const;
  // The token that was chosen; false (state unchanged) if it cannot continue the answer.
  bool accept(int32_t token);
  virtual bool complete() const = 0;
  virtual bool allows(int32_t token) const = 0;  // whether the token may come next (token < the vocabulary's size)

 protected:
  explicit OutputConstraint(std::shared_ptr<const ConstraintVocab> vocab) : vocab_(std::move(vocab)) {}
  virtual void advance(int32_t token) = 0;       // an allowed token
  // Whether the token can continue the JSON value in `state` (never an added token or one without bytes).
  bool json_allows(const SchemaPrefix& state, int32_t token) const;
  std::shared_ptr<const ConstraintVocab> vocab_;
};

class JsonSchemaConstraint : public OutputConstraint {
 public:
  JsonSchemaConstraint(std::shared_ptr<const ConstraintVocab> vocab, std::shared_ptr<const JsonSchema> schema)
      : OutputConstraint(std::move(vocab)), state_(std::move(schema)) {}
  bool complete() const override { return state_.complete(); }

 private:
  SchemaPrefix state_;
  bool allows(int32_t token) const override;
  void advance(int32_t token) override;
};

// A reasoning model's answer when the prompt opened its reasoning (R1's "<think>\n"): free text (no added
// tokens) until `marker` ("</think>"), then at most kMaxLeadingSpace whitespace bytes, then one JSON
// object that follows the schema, as JsonSchemaConstraint. The marker's first byte must not recur in it.
class ReasoningThenJsonConstraint : public OutputConstraint {
 public:
  static constexpr int kMaxLeadingSpace = 8;
  ReasoningThenJsonConstraint(std::shared_ptr<const ConstraintVocab> vocab, std::shared_ptr<const JsonSchema> schema,
                              std::string marker = "</think>");
  bool complete() const override { return json_.complete(); }

 private:
  struct Progress {
    size_t matched = 0;      // the reasoning ends with marker_[0, matched)
    bool answering = false;  // the marker came
    bool started = false;    // the JSON value began
    int spaces = 0;          // whitespace bytes between the marker and the value
  };
  std::string marker_;
  Progress at_;
  SchemaPrefix json_;
  // Takes the token's bytes from `p` (and into *json when given); false if they cannot come.
  bool walk(std::string_view bytes, Progress& p, SchemaPrefix* json) const;
  bool allows(int32_t token) const override;
  void advance(int32_t token) override;
};

// open  head_i  {args}  close  (again  head_j  {args}  close)*  end, each head a function name with what
// follows it up to the arguments; `again` empty allows one call only.
struct ToolCallPattern {
  std::string open, close, again, end;
  std::vector<std::string> heads;
  std::vector<std::shared_ptr<const JsonSchema>> arguments;  // [heads] what a call's arguments follow; null
                                                             // (or missing): JsonSchema::any_object()
};

class ToolCallConstraint : public OutputConstraint {
 public:
  ToolCallConstraint(std::shared_ptr<const ConstraintVocab> vocab, std::shared_ptr<const ToolCallPattern> pattern);
  bool complete() const override { return part_ == Part::kDone; }

 private:
  enum class Part { kOpen, kHead, kArgs, kClose, kNext, kDone };
  std::shared_ptr<const ToolCallPattern> pattern_;
  Part part_ = Part::kOpen;
  std::string matched_;                  // bytes of the current literal part so far
  std::vector<const std::string*> live_;  // the literals the part may still be (they start with matched_)
  std::array<bool, 256> next_byte_{};     // bytes that can come next in one of them (a quick filter: with
                                          // 256 tools, 129k tokens x 256 names per step would take 0.1 s)
  size_t head_ = 0;                   // the call's function: pattern_->heads[head_]
  std::optional<SchemaPrefix> args_;  // its arguments (in Part::kArgs)
  std::map<const std::string*, std::vector<uint8_t>> added_spans_;  // [literal] per byte: in an added token's text

  void enter(Part part);  // a new part: live_ = all of its literals
  void update_next_bytes();
  bool allows(int32_t token) const override;
  void advance(int32_t token) override;
};

// Free text until the trigger token (an added token that opens a structure, such as DeepSeek's
// <｜tool▁calls▁begin｜>); from it on, the trigger included, the answer follows `inner`. With tool_choice
// "auto" the model may answer in text, and a call it begins is held to the call markup and its schema.
class TriggeredConstraint : public OutputConstraint {
 public:
  TriggeredConstraint(std::shared_ptr<const ConstraintVocab> vocab, int32_t trigger, std::unique_ptr<OutputConstraint> inner)
      : OutputConstraint(std::move(vocab)), trigger_(trigger), inner_(std::move(inner)) {}
  bool complete() const override { return active_ && inner_->complete(); }
  bool allows(int32_t token) const override { return active_ || token == trigger_ ? inner_->allows(token) : true; }

 private:
  int32_t trigger_;
  bool active_ = false;
  std::unique_ptr<OutputConstraint> inner_;
  void advance(int32_t token) override {
    active_ = active_ || token == trigger_;
    if (active_) inner_->accept(token);
  }
};

// Makes a request's constraint (one per choice: they keep state).
using ConstraintFactory = std::function<std::unique_ptr<OutputConstraint>()>;

}  // namespace dsinfer
