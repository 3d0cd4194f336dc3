#include "eval/local_generator.h"

#include "tokenizer/reasoning.h"

#include <chrono>

namespace retort::eval {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kCloseTag = "</think>";

}  // namespace

// One request through the worker: the tokens and text it produced and the worker's summary.
struct LocalGenerator::Phase {
    std::vector<int32_t> tokens;
    std::vector<std::string> texts;  // per piece (token -1: flushed text)
    std::vector<int32_t> piece_tokens;
    RequestSummary summary;
};

Result<std::unique_ptr<LocalGenerator>> LocalGenerator::start(std::unique_ptr<Engine> engine, ChatTemplate tmpl,
                                                              const WorkerOptions& wo) {
    auto w = Worker::start(std::move(engine), wo);
    if (!w.ok()) return w.error();
    return std::unique_ptr<LocalGenerator>(new LocalGenerator(std::move(w.value()), std::move(tmpl)));
}

LocalGenerator::~LocalGenerator() {
    if (worker_) worker_->shutdown(std::chrono::milliseconds(0));
}

Result<LocalGenerator::Phase> LocalGenerator::run_phase(const std::vector<int32_t>& prompt,
                                                        const GenerationOptions& gen) const {
    GenerateRequest gr;
    gr.id = "eval";
    gr.prompt = prompt;
    gr.generation = gen;
    Submitted sub = worker_->submit(std::move(gr));
    if (!sub.stream) return Error::bad_argument("{}", sub.message);
    Phase p;
    while (true) {
        RequestStream::Update u = sub.stream->wait(std::chrono::milliseconds(200));
        for (auto& piece : u.pieces) {
            if (piece.token >= 0) p.tokens.push_back(piece.token);
            p.piece_tokens.push_back(piece.token);
            p.texts.push_back(std::move(piece.text));
        }
        if (u.done) {
            p.summary = u.summary;
            break;
        }
    }
    if (p.summary.error) return *p.summary.error;
    return p;
}

Result<Generated> LocalGenerator::generate(const LocalRequest& req) const {
    const Tokenizer& tok = worker_->tokenizer();
    auto text = tmpl_.render({ChatMessage{"user", req.user, {}}}, /*add_generation_prompt=*/true);
    if (!text.ok()) return text.error();
    std::vector<int32_t> prompt = tok.encode(text.value(), /*add_bos=*/false, /*parse_special=*/true);
    const int64_t n_ctx = worker_->n_ctx();
    const int64_t room = n_ctx - (int64_t)prompt.size();
    if (room < 1)
        return Error::make(ErrorKind::kContextFull, "the prompt is {} tokens; the context holds {} (raise --ctx)",
                           prompt.size(), n_ctx);
    const int64_t total_max = req.generation.max_tokens > 0 ? std::min(req.generation.max_tokens, room) : room;

    const bool starts_in_reasoning = tmpl_.generation_starts_in_reasoning();
    ReasoningSplitter::Options so;
    so.start_in_reasoning = starts_in_reasoning;
    ReasoningSplitter splitter(so);
    Generated g;
    g.output = starts_in_reasoning ? "<think>\n" : "";
    int64_t n_reasoning = 0, n_answer = 0;
    auto take = [&](const Phase& p) {
        for (size_t i = 0; i < p.texts.size(); ++i) {
            if (p.piece_tokens[i] >= 0) ++(splitter.in_reasoning() ? n_reasoning : n_answer);
            splitter.push(p.texts[i]);
            g.output += p.texts[i];
        }
    };

    const auto t0 = Clock::now();
    GenerationOptions gen = req.generation;
    const bool budgeted = req.reasoning_budget >= 0 && req.reasoning_budget < total_max;
    gen.max_tokens = budgeted ? req.reasoning_budget : total_max;
    FinishReason finish = FinishReason::kMaxTokens;
    int64_t used = 0;
    if (gen.max_tokens > 0) {
        auto p1 = run_phase(prompt, gen);
        if (!p1.ok()) return p1.error();
        take(p1.value());
        g.ttft_ms = p1->summary.n_generated > 0 ? std::optional<double>(p1->summary.ttft_ms) : std::nullopt;
        finish = p1->summary.finish;
        used = (int64_t)p1->tokens.size();
        prompt.insert(prompt.end(), p1->tokens.begin(), p1->tokens.end());
    }
    if (budgeted && finish == FinishReason::kMaxTokens) {
        // The budget is spent. Still reasoning: close the block as the model would, then let it
        // answer in a second request that continues this one (the worker's prefix cache keeps
        // the KV of what came before).
        if (splitter.in_reasoning()) {
            std::vector<int32_t> close;
            if (const int32_t id = tok.find_token(kCloseTag); id >= 0) close = {id};
            else close = tok.encode(kCloseTag, false, true);
            n_reasoning += (int64_t)close.size();
            used += (int64_t)close.size();
            prompt.insert(prompt.end(), close.begin(), close.end());
            splitter.push(kCloseTag);
            g.output += kCloseTag;
        }
        const int64_t left = std::min(total_max - used, n_ctx - (int64_t)prompt.size());
        if (left > 0) {
            gen.max_tokens = left;
            gen.sampling.seed = req.generation.sampling.seed.value_or(0) + 1;
            auto p2 = run_phase(prompt, gen);
            if (!p2.ok()) return p2.error();
            take(p2.value());
            if (!g.ttft_ms && p2->summary.n_generated > 0)
                g.ttft_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() -
                            p2->summary.duration_ms + p2->summary.ttft_ms;
            finish = p2->summary.finish;
        }
    }
    g.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    g.finish_reason = finish_reason_api_name(finish);
    g.reasoning_tokens = (double)n_reasoning;
    g.answer_tokens = (double)n_answer;
    g.n_tokens = n_reasoning + n_answer;
    return g;
}

}  // namespace retort::eval
