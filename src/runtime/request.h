// What crosses between an HTTP thread and the worker: a typed generation request going in, and
// a RequestStream of token pieces and a final summary coming back. The stream is the only shared
// object per request; it is also how the HTTP side cancels (client gone) and how the worker
// reports a failure that hits this request alone.
#pragma once

#include "engine/generation.h"
#include "util/error.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace retort {

struct GenerateRequest {
    std::string id;                 // for logs ("chatcmpl-...")
    std::vector<int32_t> prompt;    // token ids, BOS included when wanted
    GenerationOptions generation;   // sampling, max_tokens, stop strings
    int top_logprobs = -1;          // -1: no log-probs; 0: the chosen token's only; k: also top k
};

// One generated token and the text it releases (possibly empty: held back for a stop string or
// an incomplete UTF-8 character). token -1: text flushed at the end, no token of its own.
struct TokenPiece {
    int32_t token = -1;
    std::string text;
    float logprob = 0.0f;                          // when top_logprobs >= 0
    std::vector<std::pair<int32_t, float>> top;    // when top_logprobs > 0, best first
};

struct RequestSummary {
    FinishReason finish = FinishReason::kNone;
    std::optional<Error> error;   // the request failed (the worker goes on)
    int64_t n_prompt = 0;
    int64_t n_cached = 0;         // prompt tokens reused from the KV cache
    int64_t n_generated = 0;
    int32_t n_preempted = 0;
    double queue_ms = 0;          // submitted -> first scheduled
    double ttft_ms = 0;           // submitted -> first token
    double duration_ms = 0;       // submitted -> finished
};

// A single-producer (worker), single-consumer (HTTP thread) channel for one request.
class RequestStream {
public:
    using Clock = std::chrono::steady_clock;

    struct Update {
        std::vector<TokenPiece> pieces;
        bool done = false;
        RequestSummary summary;  // when done
    };

    // Consumer: waits up to `timeout` for pieces or the end; returns everything pending.
    // An empty update that is not done means the wait timed out.
    Update wait(std::chrono::milliseconds timeout);
    // Consumer: the client is gone; the worker drops the request at its next step.
    void cancel() { cancelled_.store(true, std::memory_order_relaxed); }

    // Producer side.
    bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
    void push(TokenPiece piece);
    void finish(RequestSummary summary);
    bool finished() const;

    Clock::time_point submitted = Clock::now();

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<TokenPiece> pieces_;
    std::optional<RequestSummary> summary_;
    std::atomic<bool> cancelled_{false};
};

}  // namespace retort
