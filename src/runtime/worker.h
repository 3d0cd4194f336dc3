// Worker: the one thread that owns a loaded model. It takes typed requests from a bounded queue,
// asks the scheduler for a plan each step, applies the plan's KV edits, runs one batched
// Engine::step over every scheduled row, samples each finished row with that request's own
// Generation, and streams the pieces back. Nothing inside the loop is shared except the queue
// and the per-request streams; the engine, KV cache and scheduler are touched by this thread only.
// HTTP, JSON and chat templates are the server's; the policy is the scheduler's.
#pragma once

#include "engine/engine.h"
#include "runtime/metrics.h"
#include "runtime/request.h"
#include "scheduler/scheduler.h"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace retort {

struct WorkerOptions {
    int64_t max_queue = 64;       // requests that may wait beyond one per slot; more are refused
    int64_t step_tokens = 256;    // token budget of one step
    int64_t prefill_chunk = 0;    // prompt tokens one request may compute per step; 0: the budget
    bool prefix_cache = true;     // keep finished requests' KV for prefix reuse
    bool share_prefix = true;     // share a common prefix's KV blocks (false: copy its rows)
    int64_t kv_blocks = 0;        // KV blocks the scheduler may hand out; 0: the whole cache
};

enum class Rejection { kNone, kInvalid, kTooLong, kQueueFull, kShuttingDown };

struct Submitted {
    std::shared_ptr<RequestStream> stream;  // set when accepted
    Rejection rejection = Rejection::kNone;
    std::string message;                    // why it was refused
};

class Worker {
public:
    // Takes the engine (its n_seq slots become the scheduler's) and starts the thread.
    static Result<std::unique_ptr<Worker>> start(std::unique_ptr<Engine> engine, const WorkerOptions& opt);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Thread-safe. Validates what the HTTP side cannot (sizes against the context, sampling
    // params), builds the request's Generation and queues it.
    Submitted submit(GenerateRequest req);

    // Stops accepting; running and queued requests may finish until `grace` has passed, then
    // the rest are cancelled. Joins the thread. Idempotent.
    void shutdown(std::chrono::milliseconds grace);
    // Stops accepting new requests but keeps serving (the first half of shutdown).
    void stop_accepting();
    bool accepting() const;

    // Read-only facts, safe from any thread (the engine's config and tokenizer do not change).
    const Tokenizer& tokenizer() const { return engine_->tokenizer(); }
    const ModelConfig& config() const { return engine_->config(); }
    int64_t n_ctx() const { return engine_->n_ctx(); }
    int64_t n_seq() const { return n_seq_; }
    const RuntimeMetrics& metrics() const { return metrics_; }

private:
    struct Pending {
        uint64_t id;
        GenerateRequest req;
        Generation gen;
        std::shared_ptr<RequestStream> stream;
    };
    struct Active {
        GenerateRequest req;
        Generation gen;
        std::shared_ptr<RequestStream> stream;
        RequestSummary summary;
        bool scheduled = false;
        RequestStream::Clock::time_point last_token;
    };

    Worker(std::unique_ptr<Engine> engine, const WorkerOptions& opt, Scheduler sched);
    void loop();
    void intake(std::vector<Pending>& incoming);
    void apply(const std::vector<KvOp>& ops);
    Status copy_prefix(int32_t dst, int32_t src, int64_t n_pos);
    void run_step(StepPlan& plan);
    void finish(uint64_t id, FinishReason reason, std::optional<Error> error = std::nullopt);
    void publish_gauges();

    std::unique_ptr<Engine> engine_;
    WorkerOptions opt_;
    int64_t n_seq_ = 1;
    RuntimeMetrics metrics_;

    // Shared with submitters.
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Pending> queue_;
    int64_t n_queued_ = 0;            // accepted, never scheduled yet (the queue-depth gauge)
    int64_t n_active_ = 0;            // accepted, not finished: at most n_seq + max_queue
    bool accepting_ = true;
    bool stop_ = false;
    RequestStream::Clock::time_point deadline_{};
    uint64_t next_id_ = 1;

    // Worker thread only.
    Scheduler sched_;
    std::unordered_map<uint64_t, Active> active_;
    std::vector<float> logits_;
    Batch batch_;
    std::thread thread_;
};

}  // namespace retort
