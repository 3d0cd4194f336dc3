// Counters, gauges and latency histograms of one worker, written by the worker thread and read
// by any thread (/metrics). Plain atomics: no lock is taken on the step path. Formatting them
// (Prometheus text) is the server's business.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace retort {

// A cumulative histogram with fixed upper bounds (Prometheus `le` buckets), in seconds.
class Histogram {
public:
    static constexpr size_t kMaxBuckets = 24;
    explicit Histogram(std::vector<double> upper_bounds);

    void observe(double v);

    struct Snapshot {
        std::vector<double> upper_bounds;
        std::vector<uint64_t> cumulative;  // [bounds + 1]: the last is +Inf (= count)
        double sum = 0;
        uint64_t count = 0;
        // Estimated quantile q in [0, 1] by linear interpolation inside the bucket.
        double quantile(double q) const;
    };
    Snapshot snapshot() const;

private:
    std::vector<double> bounds_;
    std::array<std::atomic<uint64_t>, kMaxBuckets + 1> counts_{};  // per bucket, not cumulative
    std::atomic<double> sum_{0.0};
    std::atomic<uint64_t> count_{0};
};

struct RuntimeMetrics {
    RuntimeMetrics();

    // Requests the worker finished, by how (index: FinishReason, plus one for failures).
    static constexpr size_t kFailedIndex = 6;
    std::array<std::atomic<int64_t>, 7> finished{};
    std::atomic<int64_t> prompt_tokens{0};     // prompt tokens of admitted requests
    std::atomic<int64_t> cached_tokens{0};     // of which reused from the KV cache
    std::atomic<int64_t> generated_tokens{0};
    std::atomic<int64_t> preemptions{0};
    std::atomic<int64_t> steps{0};
    std::atomic<int64_t> step_tokens{0};       // tokens evaluated over all steps
    std::atomic<int64_t> rejected_queue_full{0};

    // Gauges, published by the worker after each step (and when it goes idle).
    std::atomic<int64_t> queue_depth{0};       // submitted, not yet running
    std::atomic<int64_t> running{0};           // sequences holding a KV slot for a request
    std::atomic<int64_t> kv_blocks_total{0};
    std::atomic<int64_t> kv_blocks_free{0};    // free in the KV cache itself
    std::atomic<int64_t> kv_blocks_running{0}; // held by running requests (scheduler's books; a shared block once)
    std::atomic<int64_t> kv_blocks_cached{0};  // held by idle prefix caches only
    std::atomic<int64_t> kv_blocks_shared{0};  // held by two sequences or more (prefix sharing)
    std::atomic<int64_t> kv_blocks_used_peak{0};  // most physical blocks in use at once, since start
    std::atomic<int64_t> kv_books_mismatch{0}; // 1 if the cache and the scheduler disagree
    std::atomic<int64_t> active_requests{0};   // accepted and not finished (queued + running)

    Histogram ttft_seconds;        // submitted -> first token
    Histogram itl_seconds;         // between consecutive tokens of a request
    Histogram step_seconds;        // one scheduler step (forward + sampling)
    Histogram request_seconds;     // submitted -> finished
};

}  // namespace retort
