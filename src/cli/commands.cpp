#include "cli/commands.h"

namespace retort::cli {

// One declaration and one call per subcommand.
void register_version(CLI::App& app, CommandList& commands);
void register_info(CLI::App& app, CommandList& commands);
void register_tokenize(CLI::App& app, CommandList& commands);
void register_logits(CLI::App& app, CommandList& commands);
void register_run(CLI::App& app, CommandList& commands);

void register_commands(CLI::App& app, CommandList& commands) {
    register_version(app, commands);
    register_info(app, commands);
    register_tokenize(app, commands);
    register_logits(app, commands);
    register_run(app, commands);
}

}  // namespace retort::cli
