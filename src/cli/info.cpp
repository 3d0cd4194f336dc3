// `retort info -m FILE [--ctx N]`: what a GGUF file holds and the memory it needs to run.
#include "cli/commands.h"
#include "cli/common.h"
#include "model/config.h"
#include "tensor/dtype.h"

#include <fmt/core.h>

#include <map>

namespace retort::cli {

namespace {

std::string gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", bytes / 1073741824.0); }
std::string mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }
std::string human(uint64_t bytes) { return bytes >= (1ull << 30) ? gib(bytes) : mib(bytes); }

int run_info(const EngineFlags& flags) {
    auto file = open_model_file(flags.model);
    if (!file.ok()) return fail("info", file.error().message);
    const GgufFile& f = *file.value();
    auto cfg = read_model_config(f);
    if (!cfg.ok()) return fail("info", cfg.error().message);
    const ModelConfig& c = cfg.value();

    fmt::print("file            {}\n", f.path());
    fmt::print("file size       {} ({} bytes), GGUF v{}, {} metadata keys, {} tensors\n", human(f.file_size()),
               f.file_size(), f.version(), f.metadata().size(), f.tensors().size());
    if (!c.name.empty()) fmt::print("name            {}\n", c.name);
    fmt::print("architecture    {} — {}\n", c.arch->gguf_arch, c.arch->description);
    fmt::print("layers          {}\n", c.n_layer);
    fmt::print("embedding       {}\n", c.n_embd);
    fmt::print("feed-forward    {}\n", c.n_ff);
    fmt::print("heads           {} query, {} key/value (GQA {}), head dim {}\n", c.n_head, c.n_head_kv, c.n_gqa(),
               c.head_dim);
    fmt::print("vocabulary      {}\n", c.n_vocab);
    fmt::print("context         {} (trained)\n", c.n_ctx_train);
    fmt::print("rope            base {}, {} dims, {}{}{}\n", c.rope_base, c.n_rot,
               c.arch->rope_style == RopeStyle::kNeoX ? "NeoX pairs" : "adjacent pairs",
               f.find_tensor("rope_freqs.weight") ? ", per-dimension factors (rope_freqs)" : "",
               c.rope_llama3 ? ", llama3 scaling keys" : (c.rope_freq_scale != 1 ? ", linear scaling" : ""));
    fmt::print("rms epsilon     {}\n", c.rms_eps);
    fmt::print("chat template   {}\n", c.has_chat_template ? "present" : "absent");
    if (auto tm = f.get_string("tokenizer.ggml.model"); tm.ok() && tm.value().has_value()) {
        std::string pre;
        if (auto p = f.get_string("tokenizer.ggml.pre"); p.ok() && p.value().has_value()) pre = ", pre " + std::string(**p);
        fmt::print("tokenizer       {}{}\n", **tm, pre);
    }

    // Tensor count and bytes per type; unsupported types are flagged now, not at run time.
    std::map<std::string, std::pair<int, uint64_t>> by_type;
    std::vector<std::string> unsupported;
    for (const auto& t : f.tensors()) {
        auto& e = by_type[ggml_type_name(t.ggml_type)];
        ++e.first;
        e.second += t.size_bytes;
        const TypeTraits* tr = find_traits(t.ggml_type);
        if (tr == nullptr || !tr->is_weight_type) unsupported.push_back(t.name);
    }
    if (c.file_type != 0 || f.find("general.file_type") != nullptr)
        fmt::print("file type       {}\n", file_type_name(c.file_type));
    fmt::print("tensors by type\n");
    for (const auto& [name, e] : by_type) fmt::print("  {:8} {:5} tensors  {:>12}\n", name, e.first, human(e.second));
    if (!unsupported.empty())
        fmt::print("warning: {} tensors have types retort cannot run (first: '{}')\n", unsupported.size(),
                   unsupported.front());

    if (f.tensors().empty()) {
        fmt::print("memory          vocab-only file: no weights\n");
        return 0;
    }
    auto opt = flags.options();
    const int64_t n_ctx = flags.ctx > 0 ? flags.ctx : c.n_ctx_train;
    const int n_threads = flags.threads > 0 ? flags.threads : ThreadPool::hardware_threads();
    const MemoryEstimate m = estimate_memory(f, c, n_ctx, opt->kv_type, 512, n_threads);
    fmt::print("memory at --ctx {} (KV {}): weights {} + KV cache {} + scratch {} = {}\n", n_ctx,
               flags.kv_type, human(m.weights), human(m.kv_cache), human(m.scratch), human(m.total()));
    return 0;
}

}  // namespace

void register_info(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("info", "Describe a GGUF model and the memory it needs");
    auto flags = std::make_shared<EngineFlags>();
    flags->add_to(sub, /*model_required=*/false);
    commands.push_back({sub, [flags] { return run_info(*flags); }});
}

}  // namespace retort::cli
