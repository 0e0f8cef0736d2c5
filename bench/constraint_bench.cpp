// Time of one constrained-decoding step: OutputConstraint::mask over the DeepSeek-V3 vocabulary (129k
// tokens), for JSON mode (the schema {"type": "object"}), a JSON schema and formats (patterns; a URL with its length
// limit), at the places an answer spends its tokens (inside a string,
// where a key must come, inside a number).
//
//   cmake -B build-bench -DDSINFER_BUILD_BENCH=ON && ninja -C build-bench constraint_bench
//   build-bench/bin/constraint_bench

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/json_schema.h"
#include "runtime/output_constraint.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace {

using namespace dsinfer;

struct Setup {
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(std::string(DSINFER_SOURCE_DIR) + "/assets/tokenizers/deepseek-v3");
  std::shared_ptr<const ConstraintVocab> vocab = ConstraintVocab::from(*tokenizer);
  std::shared_ptr<const JsonSchema> schema = JsonSchema::compile(nlohmann::ordered_json::parse(R"({
    "$defs": {"Item": {"type": "object", "additionalProperties": false, "required": ["name", "qty"],
                       "properties": {"name": {"type": "string"}, "qty": {"type": "integer"}}}},
    "type": "object", "additionalProperties": false, "required": ["kind", "items", "ok"],
    "properties": {"kind": {"enum": ["pickup", "delivery"]},
                   "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                   "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                   "ok": {"type": "boolean"}}})"));
  // Formats as pydantic writes them (HttpUrl: a pattern with a length limit beside it, so DfaLengths too).
  std::shared_ptr<const JsonSchema> formats = JsonSchema::compile(nlohmann::ordered_json::parse(R"({
    "type": "object", "additionalProperties": false, "required": ["site", "mail", "when"],
    "properties": {"site": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2083},
                   "mail": {"type": "string", "format": "email"},
                   "when": {"type": "string", "format": "date-time"}}})"));
};

const Setup& setup() {
  static const Setup s;
  return s;
}

// The answer so far, one single-character token at a time.
void feed(OutputConstraint& c, const std::string& text) {
  for (char ch : text) {
    const auto id = setup().tokenizer->find_token(std::string(1, ch));
    if (!id || !c.accept(*id)) fail("cannot feed '", ch, "' of ", text);
  }
}

void run(benchmark::State& state, std::unique_ptr<OutputConstraint> c, const std::string& prefix) {
  feed(*c, prefix);
  std::vector<float> logits(static_cast<size_t>(setup().tokenizer->n_vocab()));
  int64_t allowed = 0;
  for (auto _ : state) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    allowed = c->mask(logits.data(), static_cast<int64_t>(logits.size()));
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["allowed"] = static_cast<double>(allowed);
}

const char* kPlaces[][2] = {
    {"in_string", R"({"kind":"pickup","items":[{"name":"ab)"},
    {"key", R"({"kind":"pickup",)"},
    {"number", R"({"kind":"pickup","items":[{"name":"ab","qty":12)"},
};

void BM_JsonMode(benchmark::State& state) {
  run(state, std::make_unique<JsonSchemaConstraint>(setup().vocab, JsonSchema::any_object()), kPlaces[state.range(0)][1]);
  state.SetLabel(kPlaces[state.range(0)][0]);
}

void BM_JsonSchema(benchmark::State& state) {
  run(state, std::make_unique<JsonSchemaConstraint>(setup().vocab, setup().schema), kPlaces[state.range(0)][1]);
  state.SetLabel(kPlaces[state.range(0)][0]);
}

const char* kFormatPlaces[][2] = {
    {"uri_path", R"({"site":"https://example.com/docs/a)"},
    {"email_local", R"({"site":"http://a.io","mail":"jo)"},
    {"date_time", R"({"site":"http://a.io","mail":"j@a.io","when":"2024-0)"},
};

void BM_Formats(benchmark::State& state) {
  run(state, std::make_unique<JsonSchemaConstraint>(setup().vocab, setup().formats), kFormatPlaces[state.range(0)][1]);
  state.SetLabel(kFormatPlaces[state.range(0)][0]);
}

BENCHMARK(BM_JsonMode)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonSchema)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Formats)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
