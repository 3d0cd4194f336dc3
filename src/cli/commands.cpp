#include "cli/commands.h"

namespace retort::cli {

// One declaration and one call per subcommand.
void register_version(CLI::App& app, CommandList& commands);
void register_info(CLI::App& app, CommandList& commands);
void register_tokenize(CLI::App& app, CommandList& commands);
void register_logits(CLI::App& app, CommandList& commands);
void register_run(CLI::App& app, CommandList& commands);
void register_bench(CLI::App& app, CommandList& commands);
void register_synth(CLI::App& app, CommandList& commands);
void register_grade(CLI::App& app, CommandList& commands);
void register_report(CLI::App& app, CommandList& commands);
void register_eval(CLI::App& app, CommandList& commands);
void register_serve(CLI::App& app, CommandList& commands);
void register_render(CLI::App& app, CommandList& commands);
void register_chat(CLI::App& app, CommandList& commands);

void register_commands(CLI::App& app, CommandList& commands) {
    register_version(app, commands);
    register_info(app, commands);
    register_tokenize(app, commands);
    register_logits(app, commands);
    register_run(app, commands);
    register_bench(app, commands);
    register_synth(app, commands);
    register_grade(app, commands);
    register_report(app, commands);
    register_eval(app, commands);
    register_serve(app, commands);
    register_render(app, commands);
    register_chat(app, commands);
}

}  // namespace retort::cli
