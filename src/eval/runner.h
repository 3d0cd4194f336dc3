// The generation half of `retort eval`: every (item, sample) of a suite through a generator,
// --parallel at once, each output appended and flushed to DIR/outputs.jsonl as soon as it is
// complete, so that an interrupted run loses at most what was in flight and `--resume` picks
// up from the file. Grading (grader.h) comes after, over the file's outputs.
#pragma once

#include "eval/generated.h"
#include "eval/grader.h"
#include "eval/suite.h"
#include "util/error.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace retort::eval {

struct GenerationJob {
    const EvalItem* item = nullptr;
    int sample = 0;
    std::string prompt;  // the user message (build_prompt)
    uint64_t seed = 0;   // item_seed(): the same for an item and sample in every run
};
using GenerateFn = std::function<Result<Generated>(const GenerationJob&)>;

// A seed per item and sample, from the run's seed: reproducible whatever the order or
// parallelism, and across --resume.
uint64_t item_seed(uint64_t seed, std::string_view id, int sample);

struct GenerationProgress {
    size_t done = 0, total = 0;  // outputs written (resumed ones included), outputs wanted
    size_t resumed = 0;          // of done, read back from outputs.jsonl
    size_t checked = 0, correct = 0;  // math suites: outputs whose answer was checked on the way
    int64_t tokens = 0;          // tokens generated in this run
    double elapsed_s = 0;        // since generation started
};

struct RunnerOptions {
    int parallel = 1;   // generator calls in flight
    int samples = 1;    // outputs per item
    uint64_t seed = 0;
    std::string outputs_path;  // DIR/outputs.jsonl
    bool resume = false;       // keep the file's outputs and generate only what is missing
    // When set (Ctrl-C), no new call starts; those in flight finish and are written.
    const std::atomic<bool>* stop = nullptr;
    // After each output (one call at a time, from the generating threads).
    std::function<void(const GenerationProgress&)> progress;
};

struct GenerationRun {
    std::vector<ModelOutput> outputs;  // item order, then sample order; resumed ones included
    size_t generated = 0, resumed = 0;
    size_t dropped_lines = 0;  // unreadable (cut-off) lines dropped from outputs.jsonl on resume
    int64_t tokens = 0;        // tokens generated in this run
    double wall_s = 0;         // wall time of this run's generation
    bool stopped = false;      // `stop` ended it before every output was made; outputs is partial
};

// Generates what is missing for `items` x samples. The first generator error stops the run
// (calls in flight finish and are kept) and is returned; the file holds everything completed.
Result<GenerationRun> run_generation(const Suite& suite, const std::vector<EvalItem>& items, const GenerateFn& gen,
                                     const RunnerOptions& opt);

// outputs.jsonl lines as ModelOutputs; a line that does not parse (a write cut off by a kill)
// is dropped and counted in `dropped`, and the file is rewritten without it.
Result<std::vector<ModelOutput>> read_outputs_for_resume(const std::string& path, size_t& dropped);

}  // namespace retort::eval
