// `retort render`: prints a conversation exactly as the model would be fed it (the chat format's
// rendering, no added newline). Needs only the vocab, so vocab-only GGUFs work.
#include "cli/commands.h"
#include "cli/common.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

#include <fmt/core.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

namespace retort::cli {

namespace {

struct RenderFlags {
    std::string model, file, chat_template;
    bool no_generation_prompt = false;
};

int run_render(const RenderFlags& fl) {
    std::stringstream ss;
    if (fl.file == "-") {
        ss << std::cin.rdbuf();
    } else {
        std::ifstream in(fl.file, std::ios::binary);
        if (!in) return fail("render", fmt::format("cannot read messages file '{}'", fl.file));
        ss << in.rdbuf();
    }
    auto messages = parse_chat_messages(ss.str());
    if (!messages.ok()) return fail("render", fmt::format("{}: {}", fl.file, messages.error().message));

    std::optional<ChatFormat> format;
    if (!fl.chat_template.empty()) {
        auto f = parse_chat_format(fl.chat_template);
        if (!f.ok()) return fail("render", f.error().message);
        format = f.value();
    }
    auto file = open_model_file(fl.model);
    if (!file.ok()) return fail("render", file.error().message);
    auto tok = Tokenizer::from_gguf(*file.value());
    if (!tok.ok()) return fail("render", tok.error().message);
    auto tmpl = ChatTemplate::from_gguf(*file.value(), *tok.value(), format);
    if (!tmpl.ok()) return fail("render", tmpl.error().message);
    auto text = tmpl->render(messages.value(), !fl.no_generation_prompt);
    if (!text.ok()) return fail("render", text.error().message);
    std::fwrite(text->data(), 1, text->size(), stdout);
    std::fflush(stdout);
    return 0;
}

}  // namespace

void register_render(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("render", "Print a conversation as the model is fed it (its chat format)");
    auto fl = std::make_shared<RenderFlags>();
    sub->add_option("-m,--model", fl->model, "GGUF model or vocab-only file (default: the embedded stories260K)");
    sub->add_option("-f,--file", fl->file, "JSON array of {role, content} messages ('-' for stdin)")->required();
    sub->add_flag("--no-generation-prompt", fl->no_generation_prompt,
                  "Do not end with the assistant's opener (R1: <｜Assistant｜><think>\\n)");
    sub->add_option("--chat-template", fl->chat_template, "Chat format instead of the model's own")
        ->check(CLI::IsMember({"r1", "chatml", "llama3"}));
    commands.push_back({sub, [fl] { return run_render(*fl); }});
}

}  // namespace retort::cli
