// The subcommand registry: each cli/<name>.cpp defines register_<name>(app, commands), which
// adds its flags and a run() callback. Adding a subcommand = one file + one line in commands.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace retort::cli {

struct Command {
    CLI::App* sub;
    std::function<int()> run;  // returns the process exit code
};
using CommandList = std::vector<Command>;

void register_commands(CLI::App& app, CommandList& commands);

}  // namespace retort::cli
