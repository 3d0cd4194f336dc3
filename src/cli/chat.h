// Chat pieces shared by `retort chat` and `retort run --chat`: the chat flags, loading a model
// with its chat format into a ChatSession, and printing a reply (reasoning dimmed on a
// terminal, wrapped in <think>…</think> otherwise). The conversation logic is ChatSession's.
#pragma once

#include "cli/common.h"
#include "engine/chat_session.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace retort::cli {

// --system --hide-reasoning --reasoning-budget --chat-template
struct ChatFlags {
    std::string system;
    std::string chat_template;  // "": the model's own format
    int64_t reasoning_budget = -1;
    bool hide_reasoning = false;
    CLI::Option* system_opt = nullptr;
    CLI::Option* hide_opt = nullptr;
    CLI::Option* budget_opt = nullptr;
    CLI::Option* template_opt = nullptr;
    void add_to(CLI::App* sub);
    // Whether any of these flags was given (run accepts them only with --chat).
    bool any_given() const;
};

struct ChatSetup {
    std::shared_ptr<const GgufFile> file;
    std::unique_ptr<Engine> engine;
    std::unique_ptr<ChatSession> session;
};

// Loads the model, picks its chat format (or --chat-template), applies the R1 sampling
// defaults unless --temp / --top-p were given on `sub`, and starts a session.
Result<ChatSetup> open_chat(const EngineFlags& engine_flags, const ChatFlags& chat_flags, GenerationOptions gen,
                            const CLI::App& sub);

// Streams a reply's deltas: reasoning dimmed (ANSI) when `tty`, else between <think> tags;
// nothing of it with hide_reasoning; the answer as is.
class ReplyPrinter {
public:
    ReplyPrinter(std::FILE* out, bool tty, bool hide_reasoning) : out_(out), tty_(tty), hide_(hide_reasoning) {}
    void on_delta(const ReasoningDelta& d);
    // Closes an open reasoning block and ends the line.
    void finish();

private:
    void write(const std::string& s);
    std::FILE* out_;
    bool tty_, hide_;
    bool in_reasoning_ = false;  // a reasoning block is open on the output
    bool wrote_any_ = false;
};

// `retort run --chat`: one user turn, reply to stdout, speed line to stderr. Returns the exit code.
int run_chat_once(const EngineFlags& engine_flags, const ChatFlags& chat_flags, const GenerationOptions& gen,
                  const CLI::App& sub, const std::string& user_text);

}  // namespace retort::cli
