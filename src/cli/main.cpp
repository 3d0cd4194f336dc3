// retort: the command-line entry point. Each subcommand lives in its own file here and is
// registered below; only cli/ reads argv and ends the process.
#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    CLI::App app{"retort: run, chat with, serve and measure the DeepSeek-R1 distilled models"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("retort ") + RETORT_VERSION);
    retort::cli::CommandList commands;
    retort::cli::register_commands(app, commands);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        // Usage errors exit 2 (CLI11 uses other codes for some); help/version exit 0.
        return rc == 0 ? 0 : 2;
    }
    for (auto& c : commands)
        if (c.sub->parsed()) return c.run();
    return 2;
}
