#include "cli/commands.h"

namespace retort::cli {

// One declaration and one call per subcommand.
void register_version(CLI::App& app, CommandList& commands);

void register_commands(CLI::App& app, CommandList& commands) {
    register_version(app, commands);
}

}  // namespace retort::cli
