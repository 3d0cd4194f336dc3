// Helpers shared by the subcommands: the model/engine flags, the default embedded model, and
// the one-line error convention (message + usage hint, exit 2).
#pragma once

#include "engine/engine.h"
#include "gguf/gguf.h"
#include "sampling/sampler.h"
#include "util/error.h"

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace retort::cli {

constexpr int kExitUsage = 2;

// Prints "retort CMD: error: MSG" and a usage hint to stderr; returns kExitUsage.
int fail(const std::string& cmd, const std::string& message);

// Flags that choose and configure an engine: -m, --threads, --ctx, --kv-type, --kernels, --no-repack.
struct EngineFlags {
    std::string model;  // empty: the embedded default model
    int threads = 0;
    int64_t ctx = 0;
    std::string kv_type = "f16";
    std::string kernels;
    bool no_repack = false;
    void add_to(CLI::App* sub, bool model_required);
    Result<EngineOptions> options() const;
};

// Opens the model file named by -m, or the embedded stories260K when none was given.
Result<std::unique_ptr<GgufFile>> open_model_file(const std::string& path);
// Loads an engine from -m (or the embedded default).
Result<std::unique_ptr<Engine>> load_engine(const EngineFlags& flags, int64_t n_seq = 1);

// Adds --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --presence-penalty
// --frequency-penalty --seed (seed_opt tells whether --seed was given).
void add_sampling_flags(CLI::App* sub, SamplingParams& s, uint64_t& seed, CLI::Option*& seed_opt);

// data/eval/<file> in the current directory or above the executable (a build tree inside the
// source tree finds the repository's copy); empty when there is none. `grade` and `eval` use it.
std::string find_default_data(std::string_view file);

// Parses "1,2,3" into ids; an Error names the bad item.
Result<std::vector<int32_t>> parse_id_list(const std::string& text);

}  // namespace retort::cli
