// `retort version`: prints the version and the kernel ISA this CPU would use.
#include "cli/commands.h"

#include <fmt/core.h>

namespace retort::cli {

void register_version(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("version", "Print the version");
    commands.push_back({sub, [] {
                            fmt::print("retort {}\n", RETORT_VERSION);
                            return 0;
                        }});
}

}  // namespace retort::cli
