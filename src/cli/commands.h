#pragma once
// The dsinfer subcommands. Each lives in its own cmd_*.cpp and returns the process exit code; main.cpp
// turns a thrown dsinfer::Error into "dsinfer: error: ..." and exit code 1.

#include <string>
#include <vector>

namespace dsinfer::cli {

using Args = std::vector<std::string>;  // the arguments after the subcommand name

int cmd_run(const Args& args);
int cmd_info(const Args& args);
int cmd_logits(const Args& args);
int cmd_synth(const Args& args);
int cmd_tokenize(const Args& args);
int cmd_chat(const Args& args);
int cmd_bench(const Args& args);
int cmd_serve(const Args& args);
int cmd_repack(const Args& args);
int cmd_convert(const Args& args);

}  // namespace dsinfer::cli
