// dsinfer tokenize: print the token ids of a text, as the model's tokenizer makes them.

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace dsinfer::cli {

namespace {

const char* kTokenizeUsage =
    "usage: dsinfer tokenize (-m MODEL | --tokenizer PATH) [--no-bos] [--no-special] [--json] (TEXT | -f FILE)\n"
    "\n"
    "  -m, --model MODEL   a GGUF file (a vocab-only one will do) or a Hugging Face model directory\n"
    "  --tokenizer PATH    a tokenizer.json, or a directory that holds one\n"
    "  --no-bos            do not add BOS even if the model adds it\n"
    "  --no-special        encode special tokens written in the text as plain text\n"
    "  --json              print [{\"id\": .., \"piece\": \"..\"}, ...] instead of comma-separated ids\n"
    "  -f, --file FILE     read the text from FILE (exactly, no newline stripped)\n";

}  // namespace

int cmd_tokenize(const Args& args) {
  ArgParser p(args, {"--model", "--tokenizer", "--file"}, {"--no-bos", "--no-special", "--json", "--help"},
              {{"-m", "--model"}, {"-f", "--file"}, {"-h", "--help"}});
  if (p.has("--help")) {
    std::fputs(kTokenizeUsage, stdout);
    return 0;
  }
  auto model = p.get("--model");
  auto tokenizer_path = p.get("--tokenizer");
  if (bool(model) == bool(tokenizer_path)) fail("tokenize: give exactly one of -m MODEL or --tokenizer PATH\n", kTokenizeUsage);
  std::string text;
  if (auto file = p.get("--file")) {
    if (!p.positionals().empty()) fail("tokenize: give the text or -f FILE, not both");
    text = read_text_file(*file);
  } else if (p.positionals().size() == 1) {
    text = p.positionals()[0];
  } else {
    fail("tokenize: expected one TEXT argument (quote it), got ", p.positionals().size(), "\n", kTokenizeUsage);
  }

  const std::string path = model ? *model : *tokenizer_path;
  std::unique_ptr<Tokenizer> tok = load_tokenizer(path);
  if (!tok) fail(path, ": the model has no tokenizer (no tokenizer.ggml.tokens / tokenizer.json)");

  EncodeOptions opt;
  if (p.has("--no-bos")) opt.add_bos = false;
  opt.parse_special = !p.has("--no-special");
  std::vector<int32_t> ids = tok->encode(text, opt);

  if (p.has("--json")) {
    nlohmann::json out = nlohmann::json::array();
    // A piece can be part of a character; such bytes are shown as U+FFFD so the output stays valid JSON.
    for (int32_t id : ids) out.push_back({{"id", id}, {"piece", utf8_sanitize(tok->token_bytes(id))}});
    std::cout << out.dump() << '\n';
  } else {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ',';
      line += std::to_string(ids[i]);
    }
    std::cout << line << '\n';
  }
  return 0;
}

}  // namespace dsinfer::cli
