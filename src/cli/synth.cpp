// `retort synth --preset NAME --type TYPE -o FILE [--seed S] [--vocab VOCAB.gguf]`: writes a
// random-weight GGUF with a real model's shapes and llama-quantize's tensor mixture
// (model/synth.h does the work; this file parses flags and draws the progress bar).
#include "cli/commands.h"
#include "cli/common.h"
#include "model/synth.h"

#include <fmt/core.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace retort::cli {

namespace {

struct SynthFlags {
    std::string preset;
    std::string type;
    std::string output;
    uint64_t seed = 0;
    std::string vocab;
    int threads = 0;
    bool dry_run = false;
    bool list = false;
};

std::string human(uint64_t bytes) {
    if (bytes >= (1ull << 30)) return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
    return fmt::format("{:.1f} MiB", bytes / 1048576.0);
}

std::string shape_str(const std::vector<int64_t>& ne) {
    std::string s;
    for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
    return s;
}

std::string preset_names() {
    std::string s;
    for (const auto& p : synth_presets()) s += (s.empty() ? "" : ", ") + std::string(p.name);
    return s;
}

std::string type_names() {
    std::string s;
    for (const auto& t : synth_file_types()) s += (s.empty() ? "" : ", ") + std::string(t.name);
    return s;
}

// A bar on a terminal (redrawn at most 10 times a second), one line per 10% otherwise.
class Progress {
public:
    explicit Progress(bool tty) : tty_(tty), start_(Clock::now()) {}
    void update(uint64_t done, uint64_t total) {
        const double frac = total > 0 ? (double)done / (double)total : 1.0;
        const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
        const double rate = secs > 0 ? done / secs : 0;
        const double eta = rate > 0 ? (total - done) / rate : 0;
        if (tty_) {
            if (done < total && secs - last_draw_ < 0.1) return;
            last_draw_ = secs;
            const int width = 30, fill = (int)(frac * width);
            fmt::print(stderr, "\r[{}{}] {:5.1f}%  {} / {}  {:.0f} MiB/s  ETA {:.0f}s   ", std::string((size_t)fill, '#'),
                       std::string((size_t)(width - fill), ' '), 100 * frac, human(done), human(total),
                       rate / 1048576.0, eta);
            if (done >= total) fmt::print(stderr, "\n");
        } else {
            const int decile = (int)(frac * 10);
            if (decile <= last_decile_) return;
            last_decile_ = decile;
            fmt::print(stderr, "synth: {:3d}%  {} / {}  {:.1f}s\n", decile * 10, human(done), human(total), secs);
        }
    }

private:
    using Clock = std::chrono::steady_clock;
    bool tty_;
    Clock::time_point start_;
    double last_draw_ = -1;
    int last_decile_ = 0;
};

int run_synth(const SynthFlags& f) {
    if (f.list) {
        fmt::print("presets:\n");
        for (const auto& p : synth_presets())
            fmt::print("  {:22} {:6} n_embd {:5} n_ff {:5} layers {:2} heads {:2}/{:<2} vocab {}\n", p.name, p.arch,
                       p.n_embd, p.n_ff, p.n_layer, p.n_head, p.n_head_kv, p.n_vocab);
        fmt::print("types: {}\n", type_names());
        return 0;
    }
    if (f.preset.empty()) return fail("synth", "no --preset (presets: " + preset_names() + ")");
    if (f.type.empty()) return fail("synth", "no --type (types: " + type_names() + ")");
    const SynthPreset* preset = find_synth_preset(f.preset);
    if (preset == nullptr)
        return fail("synth", fmt::format("unknown preset '{}' (presets: {})", f.preset, preset_names()));
    const SynthFileType* type = find_synth_file_type(f.type);
    if (type == nullptr) return fail("synth", fmt::format("unknown type '{}' (types: {})", f.type, type_names()));
    if (f.output.empty() && !f.dry_run) return fail("synth", "no output file: give -o FILE (or --dry-run)");

    std::unique_ptr<GgufFile> vocab;
    if (!f.vocab.empty()) {
        auto v = GgufFile::open(f.vocab);
        if (!v.ok()) return fail("synth", v.error().message);
        vocab = std::move(v.value());
    }
    SynthOptions opt;
    opt.seed = f.seed;
    opt.vocab = vocab.get();
    opt.n_threads = f.threads;
    Progress progress(isatty(STDERR_FILENO) == 1);
    opt.progress = [&](uint64_t done, uint64_t total) { progress.update(done, total); };

    auto writer = SynthWriter::create(plan_synth(*preset, *type), std::move(opt));
    if (!writer.ok()) return fail("synth", writer.error().message);
    SynthWriter& w = *writer.value();
    const SynthPlan& plan = w.plan();

    if (f.dry_run) {
        for (const auto& t : plan.tensors)
            fmt::print("{:32} {:5} {:>16} {:>12}\n", t.name, traits(t.type).name, shape_str(t.ne), t.size_bytes);
        fmt::print("{} {}: {} tensors, {:.3f} B parameters, tensor data {} bytes, file {} bytes ({})\n",
                   preset->name, type->name, plan.tensors.size(), plan.n_params / 1e9, plan.tensor_bytes,
                   w.file_size(), human(w.file_size()));
        return 0;
    }

    const auto t0 = std::chrono::steady_clock::now();
    Status st = w.write_file(f.output);
    if (!st.ok()) return fail("synth", fmt::format("cannot write '{}': {}", f.output, st.error().message));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("wrote {}: {} {}, {} tensors, {:.3f} B parameters, {}, seed {}, {}, {:.1f}s ({:.0f} MiB/s)\n",
               f.output, preset->name, type->name, plan.tensors.size(), plan.n_params / 1e9,
               human(w.file_size()), f.seed, vocab ? "vocab from " + f.vocab : std::string("built-in vocab"), secs,
               w.file_size() / 1048576.0 / std::max(secs, 1e-9));
    return 0;
}

}  // namespace

void register_synth(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand(
        "synth", "Write a random-weight GGUF with a real R1 distill's shapes and llama.cpp's quant mixture");
    auto f = std::make_shared<SynthFlags>();
    sub->add_option("--preset", f->preset, "Model shape: " + preset_names());
    sub->add_option("--type", f->type, "File type: " + type_names());
    sub->add_option("-o,--output", f->output, "Output GGUF file");
    sub->add_option("--seed", f->seed, "Random seed (same seed, same file)");
    sub->add_option("--vocab", f->vocab, "Copy the tokenizer from this GGUF (e.g. a vocab-only file)");
    sub->add_option("-t,--threads", f->threads, "Threads (default: all cores)")->check(CLI::Range(1, 1024));
    sub->add_flag("--dry-run", f->dry_run, "Print the tensor plan and file size; write nothing");
    sub->add_flag("--list", f->list, "List presets and types");
    commands.push_back({sub, [f] { return run_synth(*f); }});
}

}  // namespace retort::cli
