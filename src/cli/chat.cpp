// `retort chat`: an interactive terminal chat over a ChatSession — readline line editing and
// history, multi-line input, slash commands, Ctrl-C to stop a reply — plus the pieces
// `retort run --chat` shares (chat.h). What the model is fed is ChatSession's business.
//
// Input: a line ending in `\` continues on the next line; a line `"""` opens a block that a
// second `"""` line closes. Ctrl-C stops the reply being generated (the partial reply stays in
// the history) or, at the prompt, drops the line being typed; Ctrl-D at the prompt quits.
#include "cli/chat.h"
#include "cli/commands.h"
#include "util/error.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <readline/history.h>
#include <readline/readline.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <sys/select.h>
#include <unistd.h>

namespace retort::cli {

// ---------------------------------------------------------------------------------------------
// Shared with `run --chat`

void ChatFlags::add_to(CLI::App* sub) {
    system_opt = sub->add_option("--system", system, "System prompt (default: none, as DeepSeek advises for R1)");
    hide_opt = sub->add_flag("--hide-reasoning", hide_reasoning, "Print only the answer, not the <think> part");
    budget_opt = sub->add_option("--reasoning-budget", reasoning_budget,
                                 "After N reasoning tokens force </think> and let the answer follow (-1: no limit)")
                     ->check(CLI::Range((int64_t)-1, (int64_t)1 << 30));
    template_opt = sub->add_option("--chat-template", chat_template, "Chat format instead of the model's own")
                       ->check(CLI::IsMember({"r1", "chatml", "llama3"}));
}

bool ChatFlags::any_given() const {
    return system_opt->count() + hide_opt->count() + budget_opt->count() + template_opt->count() > 0;
}

namespace {

bool option_given(const CLI::App& sub, const std::string& name) {
    const CLI::Option* o = sub.get_option_no_throw(name);
    return o != nullptr && o->count() > 0;
}

}  // namespace

Result<ChatSetup> open_chat(const EngineFlags& engine_flags, const ChatFlags& chat_flags, GenerationOptions gen,
                            const CLI::App& sub) {
    std::optional<ChatFormat> format;
    if (!chat_flags.chat_template.empty()) {
        auto f = parse_chat_format(chat_flags.chat_template);
        if (!f.ok()) return f.error();
        format = f.value();
    }
    auto opt = engine_flags.options();
    if (!opt.ok()) return opt.error();
    auto file = open_model_file(engine_flags.model);
    if (!file.ok()) return file.error();
    ChatSetup setup;
    setup.file = std::shared_ptr<const GgufFile>(std::move(file.value()));
    auto engine = Engine::load(setup.file, opt.value());
    if (!engine.ok()) return engine.error();
    setup.engine = std::move(engine.value());
    auto tmpl = ChatTemplate::from_gguf(*setup.file, setup.engine->tokenizer(), format);
    if (!tmpl.ok()) return tmpl.error();

    apply_chat_format_defaults(tmpl->format(), gen.sampling, option_given(sub, "--temp"), option_given(sub, "--top-p"));
    if (Status st = gen.sampling.validate(); !st.ok()) return st.error();
    ChatSessionOptions so;
    so.generation = std::move(gen);
    so.reasoning_budget = chat_flags.reasoning_budget;
    so.system = chat_flags.system;
    setup.session = std::make_unique<ChatSession>(*setup.engine, std::move(tmpl.value()), std::move(so));
    return setup;
}

namespace {
constexpr const char* kDim = "\x1b[2m";
constexpr const char* kReset = "\x1b[0m";
}  // namespace

void ReplyPrinter::write(const std::string& s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), out_);
    std::fflush(out_);
    wrote_any_ = true;
}

void ReplyPrinter::on_delta(const ReasoningDelta& d) {
    if (!d.reasoning.empty() && !hide_) {
        if (!in_reasoning_) write(tty_ ? kDim : "<think>\n");
        in_reasoning_ = true;
        write(d.reasoning);
    }
    if (!d.content.empty()) {
        if (in_reasoning_) write(tty_ ? std::string(kReset) + "\n\n" : "\n</think>\n\n");
        in_reasoning_ = false;
        write(d.content);
    }
}

void ReplyPrinter::finish() {
    if (in_reasoning_) write(tty_ ? kReset : "\n</think>");
    in_reasoning_ = false;
    write("\n");
}

int run_chat_once(const EngineFlags& engine_flags, const ChatFlags& chat_flags, const GenerationOptions& gen,
                  const CLI::App& sub, const std::string& user_text) {
    auto setup = open_chat(engine_flags, chat_flags, gen, sub);
    if (!setup.ok()) return fail("run", setup.error().message);
    for (const auto& note : setup->engine->notes()) fmt::print(stderr, "retort: {}\n", note);
    ReplyPrinter printer(stdout, isatty(STDOUT_FILENO) != 0, chat_flags.hide_reasoning);
    ChatSession::Callbacks cb;
    cb.on_delta = [&](const ReasoningDelta& d) { printer.on_delta(d); };
    auto reply = setup->session->send(user_text, cb);
    if (!reply.ok()) return fail("run", reply.error().message);
    printer.finish();
    const ChatTurnStats& st = reply->stats;
    fmt::print(stderr,
               "retort: chat format {} | prompt {} tokens in {:.1f} ms ({:.1f} tok/s) | generated {} tokens "
               "({} reasoning{}) in {:.1f} ms ({:.1f} tok/s), stopped by {}\n",
               chat_format_name(setup->session->chat_template().format()), st.n_prompt, st.prompt_ms,
               st.prompt_tokens_per_s(), st.n_generated, st.n_reasoning, st.budget_forced ? ", budget reached" : "",
               st.gen_ms, st.gen_tokens_per_s(), finish_reason_text(st.reason));
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Interactive chat

namespace {

// Set by SIGINT, read between tokens and while waiting for input. The handler also writes a
// byte to a pipe that the prompt's select() watches: the signal may land on one of the engine's
// worker threads, and then select() in the main thread is not interrupted. A signal handler
// can reach nothing but statics, hence these two.
std::atomic<bool> g_chat_interrupted{false};
int g_wake_fd = -1;  // write end of the self-pipe
extern "C" void on_sigint(int) {
    g_chat_interrupted.store(true);
    if (g_wake_fd >= 0) {
        const char b = 1;
        [[maybe_unused]] const ssize_t n = write(g_wake_fd, &b, 1);
    }
}

struct ChatCliFlags {
    EngineFlags engine;
    ChatFlags chat;
    int64_t n_predict = -1;
    SamplingParams sampling;
    uint64_t seed = 0;
    CLI::Option* seed_opt = nullptr;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    CLI::App* sub = nullptr;
};

// One line of input: text, end of input (Ctrl-D) or Ctrl-C.
struct InputLine {
    enum Kind { kText, kEof, kInterrupted } kind = kText;
    std::string text;
};

// Reads lines with readline's callback interface when stdin is a terminal, so that a Ctrl-C
// (which interrupts select()) can be handled outside the signal handler; plain getline else.
class LineReader {
public:
    // wake_fd: the read end of the SIGINT self-pipe.
    LineReader(bool tty, int wake_fd) : tty_(tty), wake_fd_(wake_fd) {
        if (tty_) {
            rl_catch_signals = 0;  // SIGINT is ours
            using_history();
        }
    }
    ~LineReader() {
        if (tty_ && installed_) rl_callback_handler_remove();
    }

    InputLine read(const std::string& prompt) {
        if (!tty_) {
            InputLine l;
            if (!std::getline(std::cin, l.text)) l.kind = InputLine::kEof;
            return l;
        }
        current_ = this;
        done_ = false;
        rl_callback_handler_install(prompt.c_str(), &LineReader::on_line);
        installed_ = true;
        while (!done_) {
            const int in_fd = fileno(rl_instream);
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(in_fd, &fds);
            if (wake_fd_ >= 0) FD_SET(wake_fd_, &fds);
            int r = select(std::max(in_fd, wake_fd_) + 1, &fds, nullptr, nullptr, nullptr);
            if (r > 0 && wake_fd_ >= 0 && FD_ISSET(wake_fd_, &fds)) {
                char drain[64];
                while (::read(wake_fd_, drain, sizeof drain) > 0) {
                }
                r = FD_ISSET(in_fd, &fds) ? 1 : -1;
                errno = EINTR;
            }
            if (r < 0 && errno == EINTR) {
                if (g_chat_interrupted.exchange(false)) {
                    // Ctrl-C at the prompt: drop what was typed, leave readline, start afresh.
                    rl_free_line_state();
                    rl_replace_line("", 0);
                    rl_callback_handler_remove();
                    installed_ = false;
                    std::fputs("\n", rl_outstream);
                    std::fflush(rl_outstream);
                    return InputLine{InputLine::kInterrupted, ""};
                }
                continue;
            }
            if (r < 0) return InputLine{InputLine::kEof, ""};
            if (r > 0) rl_callback_read_char();
        }
        return line_;
    }

    void remember(const std::string& entry) {
        if (tty_ && !entry.empty()) add_history(entry.c_str());
    }

private:
    static void on_line(char* line) {
        LineReader* self = current_;
        self->done_ = true;
        if (line == nullptr) {
            self->line_ = InputLine{InputLine::kEof, ""};
        } else {
            self->line_ = InputLine{InputLine::kText, line};
            std::free(line);
        }
        // Removing the handler here leaves the terminal in its normal (cooked, ISIG) mode while
        // the reply is generated, so Ctrl-C reaches on_sigint.
        rl_callback_handler_remove();
        self->installed_ = false;
    }

    static inline LineReader* current_ = nullptr;  // readline's callback takes no user pointer
    bool tty_;
    int wake_fd_;
    bool installed_ = false;
    bool done_ = false;
    InputLine line_;
};

// Reads one message: continuation lines (`\` at the end) and `"""` blocks joined by newlines.
// nullopt at end of input; an empty string after Ctrl-C.
std::optional<std::string> read_message(LineReader& in, bool tty) {
    const std::string prompt = tty ? ">>> " : "";
    const std::string more = tty ? "... " : "";
    std::string msg;
    InputLine l = in.read(prompt);
    if (l.kind == InputLine::kEof) return std::nullopt;
    if (l.kind == InputLine::kInterrupted) return std::string();
    if (l.text == "\"\"\"") {
        while (true) {
            l = in.read(more);
            if (l.kind == InputLine::kInterrupted) return std::string();
            if (l.kind == InputLine::kEof || l.text == "\"\"\"") break;
            msg += (msg.empty() ? "" : "\n") + l.text;
        }
    } else {
        msg = l.text;
        while (!msg.empty() && msg.back() == '\\') {
            msg.back() = '\n';
            l = in.read(more);
            if (l.kind == InputLine::kInterrupted) return std::string();
            if (l.kind == InputLine::kEof) break;
            msg += l.text;
        }
    }
    in.remember(msg);
    return msg;
}

constexpr const char* kHelp =
    "Commands:\n"
    "  /help          this text\n"
    "  /reset         forget the conversation (the system prompt stays)\n"
    "  /save FILE     write the conversation as a JSON array of {role, content}\n"
    "  /load FILE     read a conversation saved by /save (or any such JSON array)\n"
    "  /stats         token counts and speeds so far\n"
    "  /exit, /quit   leave (so does Ctrl-D)\n"
    "Input: end a line with \\ to continue on the next; or type \"\"\" on a line, the text, then \"\"\".\n"
    "Ctrl-C stops a reply being generated, or drops the line being typed.\n";

std::string messages_json(const std::vector<ChatMessage>& messages) {
    nlohmann::json arr = nlohmann::json::array();
    for (const ChatMessage& m : messages) {
        nlohmann::json j;
        j["role"] = m.role;
        j["content"] = m.content ? nlohmann::json(*m.content) : nlohmann::json(nullptr);
        if (!m.tool_calls.empty()) {
            j["tool_calls"] = nlohmann::json::array();
            for (const ChatToolCall& c : m.tool_calls)
                j["tool_calls"].push_back(
                    {{"type", c.type}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
        }
        arr.push_back(std::move(j));
    }
    return arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t");
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

void print_stats(const ChatSession& session, const Engine& e) {
    const auto& t = session.totals();
    fmt::print("turns {} | prompt tokens {} ({} reused from the cache, {} evaluated in {:.1f} ms) | "
               "generated {} tokens in {:.1f} ms ({:.1f} tok/s) | cache holds {} of {} positions | "
               "{} threads, {} kernels\n",
               t.turns, t.n_prompt, t.n_reused, t.n_prompt - t.n_reused, t.prompt_ms, t.n_generated, t.gen_ms,
               t.gen_ms > 0 ? t.n_generated * 1000.0 / t.gen_ms : 0.0, session.cached_tokens().size(), e.n_ctx(),
               e.n_threads(), e.kernels().isa);
}

// A slash command; returns false to leave the chat.
bool run_command(const std::string& line, ChatSession& session, const Engine& engine) {
    const size_t sp = line.find(' ');
    const std::string cmd = line.substr(0, sp);
    const std::string arg = sp == std::string::npos ? "" : trim(line.substr(sp + 1));
    if (cmd == "/exit" || cmd == "/quit") return false;
    if (cmd == "/help") {
        fmt::print("{}", kHelp);
    } else if (cmd == "/reset") {
        session.reset();
        fmt::print("(conversation reset)\n");
    } else if (cmd == "/stats") {
        print_stats(session, engine);
    } else if (cmd == "/save") {
        if (arg.empty()) {
            fmt::print("usage: /save FILE\n");
            return true;
        }
        std::ofstream out(arg, std::ios::binary);
        out << messages_json(session.messages());
        if (!out) fmt::print("cannot write '{}'\n", arg);
        else fmt::print("(saved {} messages to {})\n", session.messages().size(), arg);
    } else if (cmd == "/load") {
        if (arg.empty()) {
            fmt::print("usage: /load FILE\n");
            return true;
        }
        std::ifstream in(arg, std::ios::binary);
        if (!in) {
            fmt::print("cannot read '{}'\n", arg);
            return true;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        auto msgs = parse_chat_messages(ss.str());
        Status st = msgs.ok() ? session.set_messages(std::move(msgs.value())) : Status(msgs.error());
        if (!st.ok()) fmt::print("{}: {}\n", arg, st.error().message);
        else fmt::print("(loaded {} messages from {})\n", session.messages().size(), arg);
    } else {
        fmt::print("unknown command '{}' (/help lists them)\n", cmd);
    }
    return true;
}

int run_chat(ChatCliFlags& fl) {
    if (fl.seed_opt->count() > 0) fl.sampling.seed = fl.seed;
    GenerationOptions gen;
    gen.sampling = fl.sampling;
    gen.max_tokens = fl.n_predict;
    gen.stop = fl.stop;
    gen.ignore_eog = fl.ignore_eos;
    auto setup = open_chat(fl.engine, fl.chat, gen, *fl.sub);
    if (!setup.ok()) return fail("chat", setup.error().message);
    ChatSession& session = *setup->session;
    const Engine& engine = *setup->engine;
    for (const auto& note : engine.notes()) fmt::print(stderr, "retort: {}\n", note);

    const bool tty_in = isatty(STDIN_FILENO) != 0;
    const bool tty_out = isatty(STDOUT_FILENO) != 0;
    const SamplingParams& sp = session.options().generation.sampling;
    fmt::print("retort chat | {} | format {} | context {} | temperature {:g}, top-p {:g}{}\n"
               "/help for commands, Ctrl-C stops a reply, Ctrl-D quits.\n",
               fl.engine.model.empty() ? "embedded stories260K" : fl.engine.model,
               chat_format_name(session.chat_template().format()), engine.n_ctx(), sp.temperature, sp.top_p,
               fl.chat.reasoning_budget >= 0 ? fmt::format(", reasoning budget {}", fl.chat.reasoning_budget) : "");
    std::fflush(stdout);

    int wake[2] = {-1, -1};
    if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) == 0) g_wake_fd = wake[1];
    // No SA_RESTART: the signal interrupts select() at the prompt (when it lands on this thread).
    struct sigaction sa = {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);

    LineReader reader(tty_in, wake[0]);
    while (true) {
        g_chat_interrupted.store(false);
        auto msg = read_message(reader, tty_in);
        if (!msg) {
            if (tty_in) fmt::print("\n");
            break;
        }
        const std::string line = trim(*msg);
        if (line.empty()) continue;
        if (line[0] == '/' && line.find('\n') == std::string::npos) {
            if (!run_command(line, session, engine)) break;
            std::fflush(stdout);
            continue;
        }
        ReplyPrinter printer(stdout, tty_out, fl.chat.hide_reasoning);
        ChatSession::Callbacks cb;
        cb.on_delta = [&](const ReasoningDelta& d) { printer.on_delta(d); };
        cb.cancelled = [] { return g_chat_interrupted.load(); };
        g_chat_interrupted.store(false);
        auto reply = session.send(*msg, cb);
        printer.finish();
        if (!reply.ok()) {
            fmt::print("error: {}\n", reply.error().message);
            std::fflush(stdout);
            continue;
        }
        const ChatTurnStats& st = reply->stats;
        const std::string stats = fmt::format(
            "[{} tokens, {:.1f} tok/s | prompt {} new + {} cached tokens, {:.1f} ms{}{}]", st.n_generated,
            st.gen_tokens_per_s(), st.n_prompt - st.n_reused, st.n_reused, st.prompt_ms,
            st.budget_forced ? " | reasoning budget reached" : "",
            st.reason == FinishReason::kCancelled ? " | stopped" : fmt::format(" | {}", finish_reason_text(st.reason)));
        fmt::print("{}{}{}\n", tty_out ? kDim : "", stats, tty_out ? kReset : "");
        std::fflush(stdout);
    }
    signal(SIGINT, SIG_DFL);
    g_wake_fd = -1;
    for (int fd : wake)
        if (fd >= 0) close(fd);
    return 0;
}

}  // namespace

void register_chat(CLI::App& app, CommandList& commands) {
    CLI::App* sub =
        app.add_subcommand("chat", "Interactive chat with a model (history, /commands, Ctrl-C stops a reply)");
    auto fl = std::make_shared<ChatCliFlags>();
    fl->sub = sub;
    fl->engine.add_to(sub, /*model_required=*/false);
    fl->chat.add_to(sub);
    sub->add_option("-n,--n-predict", fl->n_predict, "Most tokens per reply (-1: until end of generation or context)")
        ->check(CLI::Range((int64_t)-1, (int64_t)1 << 30));
    add_sampling_flags(sub, fl->sampling, fl->seed, fl->seed_opt);
    sub->add_option("--stop", fl->stop, "Stop string (repeatable)");
    sub->add_flag("--ignore-eos", fl->ignore_eos, "Do not stop at end-of-generation tokens");
    sub->footer(
        "Input: a line ending in \\ continues on the next line; \"\"\" on its own line opens a block that another "
        "\"\"\" line closes. Commands: /help /reset /save FILE /load FILE /stats /exit. Ctrl-C stops the reply "
        "being generated; Ctrl-D quits. R1 models default to temperature 0.6 and top-p 0.95.");
    commands.push_back({sub, [fl] { return run_chat(*fl); }});
}

}  // namespace retort::cli
