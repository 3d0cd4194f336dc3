// An OpenAI-compatible chat endpoint as a generator for `retort eval --endpoint`: one user
// message in, the reply out (reasoning and answer, token counts, latency, time to first token).
// Requests stream (SSE) so that the first token's time is seen; a server that answers with a
// plain chat.completion body is read too. Failures that may pass (connection errors, 408, 429,
// 5xx) are retried with exponential backoff, honouring Retry-After; a RateLimiter spaces
// request starts. Everything here is thread-safe: eval runs --parallel calls at once.
#pragma once

#include "util/error.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace retort::eval {

// How failed requests are retried. Attempt k (1-based) that fails with a retryable error
// waits min(max_delay_s, base_delay_s * 2^(k-1)), scaled by a jitter in [0.5, 1], or the
// server's Retry-After (seconds, capped at max_retry_after_s), then tries again, at most
// max_attempts attempts in all.
struct RetryPolicy {
    int max_attempts = 6;
    double base_delay_s = 1.0;
    double max_delay_s = 60.0;
    double max_retry_after_s = 300.0;
    // The wait before attempt `attempt + 1` after attempt `attempt` failed (no jitter).
    double backoff_s(int attempt) const;
};

// Spaces request starts at least 1/rps apart (all threads together); rps <= 0: no limit.
class RateLimiter {
public:
    explicit RateLimiter(double rps) : rps_(rps) {}
    // Blocks until this caller may start a request.
    void acquire();

private:
    double rps_;
    std::mutex mu_;
    std::chrono::steady_clock::time_point next_{};
};

struct EndpointOptions {
    std::string url;      // http(s)://host[:port][/prefix]; a trailing "/v1" is dropped
    std::string api_key;  // sent as "Authorization: Bearer KEY" when set
    std::string model;    // the "model" field of each request
    double connect_timeout_s = 10.0;
    double request_timeout_s = 1800.0;  // one request, first byte to last, before giving up
    RetryPolicy retry;
    double rps = 0.0;     // request starts per second, all threads together; 0: unlimited
};

struct ChatRequest {
    std::string user;  // the one user message (no system prompt)
    std::optional<double> temperature, top_p;
    std::optional<int64_t> max_tokens;
    std::optional<uint64_t> seed;
};

struct ChatReply {
    std::string reasoning;      // reasoning_content (or "reasoning"), when the server splits it
    std::string content;        // the answer
    std::string finish_reason;  // "stop", "length", ... ("" when the server did not say)
    std::optional<int64_t> prompt_tokens, completion_tokens, reasoning_tokens;  // from usage
    double latency_ms = 0;             // request start (last attempt) to the end of the reply
    std::optional<double> ttft_ms;     // to the first reasoning or content text (streamed replies)
    int attempts = 1;
};

// The full output as the model wrote it: "<think>\n" + reasoning + "\n</think>\n\n" + content
// when the server split the reasoning off. Reasoning with no answer leaves the block open, as
// the model left it (cut off, or stopped, while reasoning; the API cannot tell a "</think>"
// right before the end apart). Without reasoning: the content as is.
std::string assemble_output(const ChatReply& r);

class EndpointClient {
public:
    // Checks the URL (scheme http or https, a host); an Error names what is wrong.
    static Result<std::unique_ptr<EndpointClient>> create(EndpointOptions opt);

    // GET /v1/models: the ids the endpoint serves. A connection failure, 401 or 403 is an Error
    // (eval's check that the endpoint is reachable and the key accepted); no retries.
    Result<std::vector<std::string>> list_models() const;

    // POST /v1/chat/completions, with retries and the rate limit.
    Result<ChatReply> chat(const ChatRequest& req) const;

    const EndpointOptions& options() const { return opt_; }
    std::string base_url() const { return scheme_host_port_ + prefix_; }
    // Attempts that failed and were retried, over all calls so far.
    int64_t retries() const { return retries_.load(); }

private:
    explicit EndpointClient(EndpointOptions opt) : opt_(std::move(opt)), limiter_(opt_.rps) {}

    struct Attempt;  // endpoint.cpp: one HTTP exchange
    Attempt attempt(const std::string& body) const;

    EndpointOptions opt_;
    std::string scheme_host_port_;  // "http://127.0.0.1:8080"
    std::string prefix_;            // "" or "/api" (no trailing slash)
    mutable RateLimiter limiter_;
    mutable std::atomic<int64_t> retries_{0};
};

}  // namespace retort::eval
