// `retort run`: generate from a prompt. Text streams to stdout; a final line on stderr gives
// prompt and generation speed and peak memory. With --chat the prompt is one user turn in the
// model's chat format (chat.h does that part).
#include "cli/chat.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "engine/generation.h"
#include "util/memory.h"

#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace retort::cli {

namespace {

struct RunFlags {
    EngineFlags engine;
    std::string prompt, file;
    CLI::Option* prompt_opt = nullptr;
    CLI::Option* file_opt = nullptr;
    CLI::Option* seed_opt = nullptr;
    int64_t n_predict = -1;
    SamplingParams sampling;
    uint64_t seed = 0;
    std::vector<std::string> stop;
    bool ignore_eos = false;
    bool no_echo = false;
    bool chat = false;
    ChatFlags chat_flags;
    CLI::App* sub = nullptr;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

void write_out(const std::string& s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

Result<std::string> read_prompt(const RunFlags& fl) {
    if (fl.file_opt->count() == 0) return fl.prompt;
    std::stringstream ss;
    if (fl.file == "-") {
        ss << std::cin.rdbuf();
    } else {
        std::ifstream in(fl.file, std::ios::binary);
        if (!in) return Error::bad_argument("cannot read prompt file '{}'", fl.file);
        ss << in.rdbuf();
    }
    return ss.str();
}

int run_generate(RunFlags& fl) {
    if (fl.prompt_opt->count() > 0 && fl.file_opt->count() > 0) return fail("run", "give -p TEXT or -f FILE, not both");
    auto prompt = read_prompt(fl);
    if (!prompt.ok()) return fail("run", prompt.error().message);
    if (fl.seed_opt->count() > 0) fl.sampling.seed = fl.seed;
    if (fl.chat) {
        GenerationOptions gopt;
        gopt.sampling = fl.sampling;
        gopt.max_tokens = fl.n_predict;
        gopt.stop = fl.stop;
        gopt.ignore_eog = fl.ignore_eos;
        return run_chat_once(fl.engine, fl.chat_flags, gopt, *fl.sub, prompt.value());
    }
    if (fl.chat_flags.any_given())
        return fail("run", "--system, --hide-reasoning, --reasoning-budget and --chat-template need --chat");
    if (Status st = fl.sampling.validate(); !st.ok()) return fail("run", st.error().message);

    auto loaded = load_engine(fl.engine);
    if (!loaded.ok()) return fail("run", loaded.error().message);
    Engine& e = *loaded.value();
    for (const auto& note : e.notes()) fmt::print(stderr, "retort: {}\n", note);
    const Tokenizer& tok = e.tokenizer();

    const std::vector<int32_t> ids = tok.encode(prompt.value(), tok.add_bos_default(), /*parse_special=*/true);
    if (ids.empty()) return fail("run", "the prompt is empty and the vocabulary adds no BOS token");
    if ((int64_t)ids.size() >= e.n_ctx())
        return fail("run", fmt::format("the prompt is {} tokens; the context holds {} (raise --ctx)", ids.size(), e.n_ctx()));

    GenerationOptions gopt;
    gopt.sampling = fl.sampling;
    gopt.max_tokens = fl.n_predict;
    gopt.stop = fl.stop;
    gopt.ignore_eog = fl.ignore_eos;
    auto gen = Generation::create(tok, gopt);
    if (!gen.ok()) return fail("run", gen.error().message);
    Generation& g = gen.value();

    if (!fl.no_echo) write_out(prompt.value());  // the prompt exactly as given

    // Prompt: one batch (split into micro-batches by the decoder), logits for the last token.
    const auto t_prompt = Clock::now();
    Batch batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.add(ids[i], (int32_t)i, 0, i + 1 == ids.size());
    std::vector<float> logits;
    if (Status st = e.step(batch, logits); !st.ok()) return fail("run", st.error().message);
    const double prompt_ms = ms_since(t_prompt);

    // Generation: one token per step until EOG, a stop string, -n or the context end.
    const auto t_gen = Clock::now();
    int64_t pos = (int64_t)ids.size();
    while (true) {
        const Generation::Step s = g.next(logits.data());
        write_out(s.text);
        if (g.done()) break;
        if (pos >= e.n_ctx()) {
            g.end(FinishReason::kContextFull);
            break;
        }
        batch.clear();
        batch.add(s.token, (int32_t)pos++, 0, true);
        if (Status st = e.step(batch, logits); !st.ok()) return fail("run", st.error().message);
    }
    write_out(g.flush());
    const double gen_ms = ms_since(t_gen);
    write_out("\n");
    fmt::print(stderr,
               "retort: prompt {} tokens in {:.1f} ms ({:.1f} tok/s) | generated {} tokens in {:.1f} ms ({:.1f} tok/s), "
               "stopped by {} | {} threads, {} kernels | peak memory {:.1f} MiB\n",
               ids.size(), prompt_ms, ids.size() * 1000.0 / prompt_ms, g.n_generated(), gen_ms,
               g.n_generated() > 0 ? g.n_generated() * 1000.0 / gen_ms : 0.0, finish_reason_text(g.reason()),
               e.n_threads(), e.kernels().isa, peak_rss_bytes() / 1048576.0);
    return 0;
}

}  // namespace

void add_sampling_flags(CLI::App* sub, SamplingParams& s, uint64_t& seed, CLI::Option*& seed_opt) {
    sub->add_option("--temp", s.temperature, "Temperature (0 = greedy)");
    sub->add_option("--top-k", s.top_k, "Top-k (0 = off)");
    sub->add_option("--top-p", s.top_p, "Top-p (1 = off)");
    sub->add_option("--min-p", s.min_p, "Min-p (0 = off)");
    sub->add_option("--repeat-penalty", s.repeat_penalty, "Repetition penalty (1 = off)");
    sub->add_option("--repeat-last-n", s.repeat_last_n, "Tokens the penalties look back over");
    sub->add_option("--presence-penalty", s.presence_penalty, "Presence penalty");
    sub->add_option("--frequency-penalty", s.frequency_penalty, "Frequency penalty");
    seed_opt = sub->add_option("--seed", seed, "RNG seed (same seed, same output)");
}

void register_run(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("run", "Generate text from a prompt");
    auto fl = std::make_shared<RunFlags>();
    fl->sub = sub;
    fl->engine.add_to(sub, /*model_required=*/false);
    fl->prompt_opt = sub->add_option("-p,--prompt", fl->prompt, "Prompt text");
    fl->file_opt = sub->add_option("-f,--file", fl->file, "Read the prompt from a file ('-' for stdin)");
    sub->add_option("-n,--n-predict", fl->n_predict, "Tokens to generate (-1: until end of generation or context)")
        ->check(CLI::Range((int64_t)-1, (int64_t)1 << 30));
    add_sampling_flags(sub, fl->sampling, fl->seed, fl->seed_opt);
    sub->add_option("--stop", fl->stop, "Stop string (repeatable)");
    sub->add_flag("--ignore-eos", fl->ignore_eos, "Do not stop at end-of-generation tokens");
    sub->add_flag("--no-echo", fl->no_echo, "Do not print the prompt before the generated text");
    sub->add_flag("--chat", fl->chat,
                  "The prompt is one user turn in the model's chat format; prints the reply (reasoning in "
                  "<think> tags, dimmed on a terminal)");
    fl->chat_flags.add_to(sub);
    commands.push_back({sub, [fl] { return run_generate(*fl); }});
}

}  // namespace retort::cli
