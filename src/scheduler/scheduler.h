// Scheduler: the continuous-batching policy, and nothing else. It tracks each request's tokens
// (known vs. computed into the KV cache), which KV slot it occupies and how many KV blocks every
// slot holds, and each step returns a StepPlan: the KV edits to apply, then the token rows of one
// batched forward. It never touches a model, a cache or a thread (runtime/ executes the plan),
// so tests drive it with a fake executor.
//
// Policy (after vLLM's v1 scheduler, "no prefill phase, no decode phase"): a request has
// `tokens` (prompt + sampled so far) and `n_computed` (those already in the KV cache); a step
// fills a token budget with, in order,
//   1. the next token of every running request that is decoding (one uncomputed token),
//   2. the next chunk of every running request still prefilling (chunked prefill),
//   3. the first chunk of waiting requests, oldest first, while a slot and KV blocks are free.
// KV blocks are booked exactly as KvCache hands them out: the books are a kv/BlockPool fed the
// same operations, so a slot holding n positions holds ceil(n / block_size) blocks and a block
// shared by several slots is counted once. When a running request cannot grow, idle prefix
// caches are evicted first (least recently used, among those whose eviction frees a block: a
// cache whose blocks a running request shares frees nothing), then the newest running request
// is preempted: its KV is dropped and it waits again, to be recomputed from its tokens later.
//
// Prefix reuse: a finished request leaves its computed tokens in its slot (an idle cache). A new
// request takes the idle slot sharing the longest prefix with its prompt and keeps those
// positions; if another slot (idle or running) shares a clearly longer prefix, the plan shares
// that prefix's whole KV blocks with the new request's slot (kSharePrefix: reference counts,
// only a partly filled last block is copied), or copies its rows with share_prefix off. With
// sharing, a waiting request whose prompt starts with at least one more whole block than any
// cache holds, while a running request is still computing that prefix, waits for it (at most
// until that prefill ends) instead of computing the same blocks a second time.
#pragma once

#include "kv/block_pool.h"
#include "util/error.h"

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace retort {

using RequestId = uint64_t;

struct SchedulerOptions {
    int32_t n_seq = 1;              // KV slots: sequence ids 0 .. n_seq-1
    int64_t n_blocks = 0;           // KV blocks in the pool (all slots together)
    int64_t block_size = 32;        // positions per block
    int64_t n_ctx = 0;              // positions one sequence may hold
    int64_t step_tokens = 256;      // token budget of one step (one batched forward)
    int64_t prefill_chunk = 0;      // most prompt tokens one request computes per step; 0: the budget
    bool prefix_cache = true;       // keep finished requests' KV for prefix reuse
    int64_t min_prefix_copy = 16;   // shortest extra prefix worth taking from another slot
    bool share_prefix = true;       // take it by sharing whole blocks (false: copy every row)

    [[nodiscard]] Status validate() const;
};

// A KV cache edit, applied in plan order before the step's forward pass.
struct KvOp {
    enum class Kind {
        kTruncate,    // slot keeps positions [0, n_pos); whole blocks past that are freed
        kCopyPrefix,  // slot is cleared, then gets copies of positions [0, n_pos) of src
        kSharePrefix, // slot is cleared, then shares src's blocks of [0, n_pos) (KvCache::share_prefix)
    };
    Kind kind = Kind::kTruncate;
    int32_t slot = -1;
    int32_t src = -1;  // kCopyPrefix, kSharePrefix
    int64_t n_pos = 0;
};

// A run of consecutive tokens of one request, evaluated at positions pos0, pos0+1, ...
struct StepRow {
    RequestId id = 0;
    int32_t slot = -1;
    int64_t pos0 = 0;
    std::vector<int32_t> tokens;
    bool sample = false;  // the run reaches the request's last known token: sample its next one
};

struct StepPlan {
    std::vector<KvOp> kv_ops;
    std::vector<StepRow> rows;
    std::vector<RequestId> preempted;  // sent back to waiting this step, their KV dropped
    std::vector<RequestId> admitted;   // started (or restarted) this step

    bool empty() const { return rows.empty(); }
    int64_t n_tokens() const;
};

// Per-request figures the runtime reports (usage, logs).
struct RequestInfo {
    int64_t n_prompt = 0;
    int64_t n_tokens = 0;     // prompt + appended
    int64_t n_computed = 0;
    int64_t n_reused = 0;     // prompt positions taken from a cache instead of computed (last admission)
    int32_t n_preempted = 0;
    int32_t slot = -1;        // -1 while waiting
    bool running = false;
};

struct SchedulerStats {
    int64_t n_waiting = 0;
    int64_t n_running = 0;
    int64_t blocks_total = 0;
    int64_t blocks_free = 0;
    int64_t blocks_running = 0;  // held by running requests (a shared block once)
    int64_t blocks_cached = 0;   // held by idle slots (prefix caches) only
    int64_t blocks_shared = 0;   // held by two slots or more (running + cached + free = total)
    int64_t n_preemptions = 0;   // since creation
    int64_t n_reused_tokens = 0;  // prompt positions reused since creation
};

class Scheduler {
public:
    static Result<Scheduler> create(const SchedulerOptions& opt);

    // Queues a request. Fails on an empty prompt, one longer than n_ctx, or a known id.
    Status add(RequestId id, std::vector<int32_t> prompt);
    // Plans the next step; also hands over KV edits queued since the last plan (finish/cancel).
    StepPlan schedule();
    // The plan's forward pass ran: its rows' tokens are now in the KV cache.
    void commit(const StepPlan& plan);
    // A row with sample=true produced this token; it is fed in a later step. Fails when the
    // request would pass n_ctx positions (the caller ends it as context-full instead).
    Status append(RequestId id, int32_t token);
    // Ends a request (done, cancelled or failed), waiting or running. Its slot becomes an idle
    // prefix cache, unless keep_cache is false (or prefix caching is off): then it is cleared.
    void finish(RequestId id, bool keep_cache = true);
    // KV edits queued by finish() and not yet handed out by schedule(); lets an idle runtime
    // bring the cache in line with the books at once.
    std::vector<KvOp> take_kv_ops();
    bool has_pending_kv_ops() const { return !pending_ops_.empty(); }

    bool has_work() const { return !running_.empty() || !waiting_.empty(); }
    bool contains(RequestId id) const { return reqs_.count(id) != 0; }
    RequestInfo info(RequestId id) const;
    SchedulerStats stats() const;
    const SchedulerOptions& options() const { return opt_; }
    // Positions a slot holds according to the books (what the KV cache must agree with).
    int64_t slot_len(int32_t slot) const { return (int64_t)slots_[(size_t)slot].tokens.size(); }
    // Blocks a slot holds according to the books, shared ones included.
    int64_t slot_blocks(int32_t slot) const { return pool_.n_held(slot); }
    const BlockPool& books() const { return pool_; }
    // Every internal invariant; an empty string when all hold, else what broke (for tests).
    std::string check_invariants() const;

private:
    struct Request {
        RequestId id = 0;
        std::vector<int32_t> tokens;  // prompt + appended
        int64_t n_prompt = 0;
        int64_t n_computed = 0;       // tokens[0, n_computed) are in the slot's KV
        int64_t n_reused = 0;
        int32_t slot = -1;
        int32_t n_preempted = 0;
        uint64_t arrival = 0;         // order of add(): the oldest goes first, the newest is preempted
        bool running = false;
    };
    struct Slot {
        RequestId owner = 0;          // 0: idle
        std::vector<int32_t> tokens;  // tokens whose K/V the slot holds, position order
        int64_t n_reserved = 0;       // positions booked: tokens.size() plus this step's rows
        uint64_t last_used = 0;
    };

    explicit Scheduler(const SchedulerOptions& opt);
    int64_t blocks_for(int64_t n_pos) const { return (n_pos + opt_.block_size - 1) / opt_.block_size; }
    struct Planning;  // schedule()'s scratch: the plan being built, budget, row per request
    // Books slot to hold n_pos positions (a truncation when fewer); emits a kTruncate op when the
    // cache must drop positions.
    void truncate_slot(int32_t slot, int64_t n_pos, std::vector<KvOp>& ops);
    // Frees until `need` blocks are free: evicts idle caches (least recently used first, never
    // the protected slots), then, when allow_preempt, preempts running requests newer than
    // `requester_arrival`, newest first. False if it cannot.
    bool make_room(int64_t need, int32_t protect_a, int32_t protect_b, bool allow_preempt,
                   uint64_t requester_arrival, Planning& p);
    // Blocks that would become free if every idle cache other than the protected slots were
    // evicted, and slot `trim` (if >= 0) truncated to trim_len positions.
    int64_t reclaimable(int32_t protect_a, int32_t protect_b, int32_t trim = -1, int64_t trim_len = 0) const;
    void preempt(Request& r, Planning& p);
    // Grows a running request by its next chunk; false when it could not be given any.
    bool schedule_running(Request& r, Planning& p);
    // Picks a slot for a waiting request, reuses, shares or copies the longest cached prefix, and
    // plans its first chunk; false (request stays waiting) when no slot or block is free.
    bool admit(Request& r, Planning& p);
    void add_row(Request& r, int64_t n, Planning& p);
    int64_t chunk_for(const Request& r, int64_t budget) const;

    SchedulerOptions opt_;
    std::unordered_map<RequestId, Request> reqs_;
    std::vector<RequestId> running_;  // admission order
    std::deque<RequestId> waiting_;   // by arrival (preempted requests go back in arrival order)
    std::vector<Slot> slots_;
    std::vector<KvOp> pending_ops_;
    bool in_step_ = false;            // between schedule() with rows and commit()
    BlockPool pool_;                  // the books: every slot's blocks, as KvCache holds them
    uint64_t next_arrival_ = 1;
    uint64_t tick_ = 0;
    int64_t n_preemptions_ = 0;
    int64_t n_reused_tokens_ = 0;
};

}  // namespace retort
