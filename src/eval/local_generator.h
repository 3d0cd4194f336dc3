// The in-process generator for `retort eval`: one model on a runtime Worker (the same worker
// and continuous batching `retort serve` uses). Each call renders one user message with the
// model's chat template, submits it and waits for the reply; eval calls it from --parallel
// threads at once and the worker decodes those requests together in one batch per step.
#pragma once

#include "eval/generated.h"
#include "runtime/worker.h"
#include "tokenizer/chat_template.h"
#include "util/error.h"

#include <memory>
#include <optional>
#include <string>

namespace retort::eval {

struct LocalRequest {
    std::string user;             // the user message (no system prompt)
    GenerationOptions generation; // sampling (seed included), max_tokens (capped to the context)
    int64_t reasoning_budget = -1;  // >= 0: after that many reasoning tokens force "</think>"
};

class LocalGenerator {
public:
    // Starts a worker on the engine (its n_seq slots are the batch width). `tmpl` is the chat
    // format prompts are rendered in.
    static Result<std::unique_ptr<LocalGenerator>> start(std::unique_ptr<Engine> engine, ChatTemplate tmpl,
                                                         const WorkerOptions& wo);
    ~LocalGenerator();

    // Thread-safe; blocks until the reply is complete. The output starts with "<think>\n" when
    // the template opens the reasoning block in the prompt (R1), so it reads as the model's
    // whole turn. Reasoning tokens: those generated inside <think>, "</think>" included.
    Result<Generated> generate(const LocalRequest& req) const;

    const Worker& worker() const { return *worker_; }
    const ChatTemplate& chat_template() const { return tmpl_; }

private:
    LocalGenerator(std::unique_ptr<Worker> w, ChatTemplate tmpl) : worker_(std::move(w)), tmpl_(std::move(tmpl)) {}
    struct Phase;
    Result<Phase> run_phase(const std::vector<int32_t>& prompt, const GenerationOptions& gen) const;

    std::unique_ptr<Worker> worker_;
    ChatTemplate tmpl_;
};

}  // namespace retort::eval
