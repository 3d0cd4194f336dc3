#include "cli/common.h"

#include <fmt/core.h>

#include <charconv>
#include <cstdio>
#include <filesystem>

// The embedded default model (models/stories260K.gguf), linked in by CMake via .incbin.
extern "C" const uint8_t retort_default_model[];
extern "C" const uint8_t retort_default_model_end[];

namespace retort::cli {

int fail(const std::string& cmd, const std::string& message) {
    fmt::print(stderr, "retort {}: error: {}\nRun 'retort {} --help' for usage.\n", cmd, message, cmd);
    return kExitUsage;
}

void EngineFlags::add_to(CLI::App* sub, bool model_required) {
    auto* m = sub->add_option("-m,--model", model, "GGUF model file");
    if (model_required) m->required();
    else m->description("GGUF model file (default: the embedded stories260K)");
    sub->add_option("-t,--threads", threads, "Threads (default: all cores)")->check(CLI::Range(1, 1024));
    sub->add_option("-c,--ctx", ctx, "Context size in tokens (default: the model's, capped to memory)")
        ->check(CLI::Range((int64_t)1, kMaxContext));
    sub->add_option("--kv-type", kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}));
    sub->add_option("--kernels", kernels, "Force a kernel set")->check(CLI::IsMember({"ref", "avx2", "avx512"}));
    sub->add_flag("--no-repack", no_repack,
                  "Run the weights in the file's layout instead of repacking them at load for the matrix kernels");
}

Result<EngineOptions> EngineFlags::options() const {
    EngineOptions o;
    o.n_threads = threads;
    o.n_ctx = ctx;
    o.kv_type = kv_type == "f32" ? DType::F32 : DType::F16;
    o.kernels = kernels;
    o.repack = !no_repack;
    return o;
}

Result<std::unique_ptr<GgufFile>> open_model_file(const std::string& path) {
    if (!path.empty()) return GgufFile::open(path);
    return GgufFile::parse("<embedded stories260K.gguf>", retort_default_model,
                           (size_t)(retort_default_model_end - retort_default_model));
}

Result<std::unique_ptr<Engine>> load_engine(const EngineFlags& flags, int64_t n_seq) {
    auto opt = flags.options();
    if (!opt.ok()) return opt.error();
    opt->n_seq = n_seq;
    auto file = open_model_file(flags.model);
    if (!file.ok()) return file.error();
    return Engine::load(std::shared_ptr<const GgufFile>(std::move(file.value())), opt.value());
}

std::string find_default_data(std::string_view file) {
    namespace fs = std::filesystem;
    std::vector<fs::path> roots = {fs::current_path()};
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
        for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) roots.push_back(p);
    for (const auto& root : roots) {
        const fs::path candidate = root / "data" / "eval" / std::string(file);
        if (fs::exists(candidate, ec)) return candidate.string();
    }
    return {};
}

Result<std::vector<int32_t>> parse_id_list(const std::string& text) {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i <= text.size()) {
        size_t j = text.find(',', i);
        if (j == std::string::npos) j = text.size();
        std::string item = text.substr(i, j - i);
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        int32_t v = 0;
        auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || ec != std::errc() || p != item.data() + item.size())
            return Error::bad_argument("'{}' is not a token id (expected a list like 1,2,3)", item);
        ids.push_back(v);
        i = j + 1;
    }
    return ids;
}

}  // namespace retort::cli
