// Generation: the state of one sequence being generated — its sampler, the streaming
// detokenizer, stop strings, end-of-generation tokens and the token budget. It turns each
// row of logits into a token and the text that may be shown now. Drivers (the CLI's run
// loop, the server's worker) own the batching; this owns what happens per sequence.
#pragma once

#include "sampling/sampler.h"
#include "sampling/stop_strings.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace retort {

struct GenerationOptions {
    SamplingParams sampling;
    int64_t max_tokens = -1;          // -1: until end of generation or the context is full
    std::vector<std::string> stop;    // stop strings; the text from a stop string on is dropped
    bool ignore_eog = false;          // keep generating past end-of-generation tokens
};

enum class FinishReason { kNone, kEndOfGeneration, kStopString, kMaxTokens, kContextFull, kCancelled };
// "stop" for EOG and stop strings, "length" for the budgets, "cancelled" (OpenAI's vocabulary).
const char* finish_reason_api_name(FinishReason r);
// A phrase for people: "end of generation", "stop string", "max tokens" ...
const char* finish_reason_text(FinishReason r);

class Generation {
public:
    static Result<Generation> create(const Tokenizer& tok, const GenerationOptions& opt);

    struct Step {
        int32_t token = -1;
        std::string text;  // what can be shown now (may be empty: held back or a control token)
    };
    // Picks the next token from this sequence's logits and advances the state.
    Step next(const float* logits);
    // Forces a token (e.g. `</think>` when a reasoning budget runs out) as if sampled.
    Step force(int32_t token);
    // The caller ends the sequence (context full, client gone).
    void end(FinishReason reason) { if (reason_ == FinishReason::kNone) reason_ = reason; }
    // Text still held back (incomplete UTF-8, possible stop-string prefix); call once at the end.
    std::string flush();

    bool done() const { return reason_ != FinishReason::kNone; }
    FinishReason reason() const { return reason_; }
    int64_t n_generated() const { return n_generated_; }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    Sampler& sampler() { return sampler_; }

private:
    Generation(const Tokenizer& tok, const GenerationOptions& opt, Sampler sampler);
    Step advance(int32_t token);

    const Tokenizer* tok_;
    GenerationOptions opt_;
    Sampler sampler_;
    StreamDecoder decoder_;
    StopMatcher stops_;
    std::vector<int32_t> tokens_;
    int64_t n_generated_ = 0;
    FinishReason reason_ = FinishReason::kNone;
};

}  // namespace retort
