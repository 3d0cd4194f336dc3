// A fake executor for the scheduler: a KV cache that stores token ids instead of keys and
// values, with a block model of its own (written apart from kv/BlockPool, which the scheduler's
// books use): per slot a table of block ids, a reference count per block, a free block is one
// nobody holds. Sharing gives a slot the source's whole blocks and a fresh one for a partial
// tail; a write or a truncation that would land inside a shared block is reported. The "model"
// makes the next token a hash of everything in the slot. If the scheduler ever plans a row on
// top of the wrong cached tokens (a bad prefix reuse, a share from the wrong slot, a lost
// truncation), the generated tokens differ from a request run alone, and the block model
// disagrees with the scheduler's books.
#pragma once

#include "scheduler/scheduler.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace retort::test {

class FakeKv {
public:
    FakeKv(int32_t n_seq, int64_t n_blocks, int64_t block_size)
        : slots_((size_t)n_seq), tables_((size_t)n_seq), refs_((size_t)n_blocks, 0), bs_(block_size) {}

    int64_t n_free_blocks() const { return std::count(refs_.begin(), refs_.end(), 0); }
    int64_t n_shared_blocks() const {
        return std::count_if(refs_.begin(), refs_.end(), [](int32_t r) { return r > 1; });
    }
    int64_t blocks_of(int32_t slot) const { return (int64_t)tables_[(size_t)slot].size(); }
    const std::vector<int32_t>& tokens(int32_t slot) const { return slots_[(size_t)slot]; }

    // Returns "" or what went wrong.
    std::string apply(const KvOp& op) {
        auto& s = slots_[(size_t)op.slot];
        if (op.kind == KvOp::Kind::kTruncate) {
            if (op.n_pos < (int64_t)s.size()) {
                if (op.n_pos % bs_ != 0 && shared(op.slot, op.n_pos)) return "truncation inside a shared block";
                resize(op.slot, op.n_pos);
            }
            return "";
        }
        if (op.src == op.slot) return "prefix taken from the slot itself";
        const auto& src = slots_[(size_t)op.src];
        if ((int64_t)src.size() < op.n_pos) return "prefix past the end of the source slot";
        resize(op.slot, 0);
        if (op.kind == KvOp::Kind::kCopyPrefix) {
            if (!take(op.slot, blocks_for(op.n_pos))) return "copy: no free blocks";
        } else {
            const int64_t n_full = op.n_pos / bs_;
            for (int64_t i = 0; i < n_full; ++i) {
                const int32_t b = tables_[(size_t)op.src][(size_t)i];
                ++refs_[(size_t)b];
                tables_[(size_t)op.slot].push_back(b);
            }
            if (op.n_pos % bs_ != 0 && !take(op.slot, 1)) return "share: no free block for the tail";
        }
        s.assign(src.begin(), src.begin() + op.n_pos);
        return "";
    }

    // The forward pass of one row: positions must continue the slot (or overwrite its tail).
    std::string write(const StepRow& row) {
        auto& s = slots_[(size_t)row.slot];
        if (row.pos0 > (int64_t)s.size()) return "row leaves a gap";
        for (int64_t p = row.pos0; p < (int64_t)s.size(); ++p)
            if (shared(row.slot, p)) return "row overwrites a shared block";
        resize(row.slot, row.pos0);
        const int64_t end = row.pos0 + (int64_t)row.tokens.size();
        if (!take(row.slot, blocks_for(end) - blocks_of(row.slot))) return "KV pool exhausted";
        for (int64_t p = row.pos0; p < end; ++p)
            if (shared(row.slot, p)) return "row writes into a shared block";
        s.insert(s.end(), row.tokens.begin(), row.tokens.end());
        return "";
    }

private:
    int64_t blocks_for(int64_t n) const { return (n + bs_ - 1) / bs_; }
    bool shared(int32_t slot, int64_t pos) const {
        const auto& t = tables_[(size_t)slot];
        const size_t i = (size_t)(pos / bs_);
        return i < t.size() && refs_[(size_t)t[i]] > 1;
    }
    // Appends n free blocks to the slot's table; false (no change) when fewer are free.
    bool take(int32_t slot, int64_t n) {
        if (n <= 0) return true;
        if (n > n_free_blocks()) return false;
        for (size_t b = 0; b < refs_.size() && n > 0; ++b)
            if (refs_[b] == 0) {
                refs_[b] = 1;
                tables_[(size_t)slot].push_back((int32_t)b);
                --n;
            }
        return true;
    }
    void resize(int32_t slot, int64_t n) {
        auto& t = tables_[(size_t)slot];
        while ((int64_t)t.size() > blocks_for(n)) {
            --refs_[(size_t)t.back()];
            t.pop_back();
        }
        slots_[(size_t)slot].resize((size_t)n);
    }
    std::vector<std::vector<int32_t>> slots_;   // tokens per slot
    std::vector<std::vector<int32_t>> tables_;  // block ids per slot
    std::vector<int32_t> refs_;                 // holders per block
    int64_t bs_;
};

// The fake model: the next token depends on every earlier token, in order.
inline int32_t fake_next_token(const std::vector<int32_t>& context, int32_t n_vocab = 1000) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t t : context) h = (h ^ (uint64_t)(uint32_t)t) * 1099511628211ull;
    return (int32_t)(h % (uint64_t)n_vocab);
}

// What a request generates when run alone.
inline std::vector<int32_t> reference_generation(std::vector<int32_t> prompt, int64_t n_new) {
    std::vector<int32_t> out;
    for (int64_t i = 0; i < n_new; ++i) {
        const int32_t t = fake_next_token(prompt);
        out.push_back(t);
        prompt.push_back(t);
    }
    return out;
}

// Drives a Scheduler the way runtime/ does: plan, apply KV edits, "forward", commit, sample.
struct FakeRuntime {
    Scheduler& sched;
    FakeKv kv;
    std::map<RequestId, int64_t> max_new;                  // per request
    std::map<RequestId, std::vector<int32_t>> generated;   // while running
    std::map<RequestId, std::vector<int32_t>> finished;    // done requests' output
    std::string failure;                                   // the first thing that went wrong
    int64_t steps = 0;
    bool eager_ops = false;                                // take finish()'s KV edits right away

    explicit FakeRuntime(Scheduler& s)
        : sched(s), kv(s.options().n_seq, s.options().n_blocks, s.options().block_size) {}

    void add(RequestId id, std::vector<int32_t> prompt, int64_t n_new) {
        Status st = sched.add(id, std::move(prompt));
        if (!st.ok() && failure.empty()) failure = "add: " + st.error().message;
        max_new[id] = n_new;
        generated[id];
    }
    void cancel(RequestId id) {
        sched.finish(id);
        generated.erase(id);
    }
    void fail(const std::string& what) {
        if (failure.empty()) failure = "step " + std::to_string(steps) + ": " + what;
    }

    // One step; returns the plan it ran.
    StepPlan step() {
        StepPlan plan = sched.schedule();
        ++steps;
        for (const KvOp& op : plan.kv_ops)
            if (std::string e = kv.apply(op); !e.empty()) fail(e);
        for (const StepRow& row : plan.rows)
            if (std::string e = kv.write(row); !e.empty()) fail(e);
        sched.commit(plan);
        for (const StepRow& row : plan.rows) {
            if (!row.sample) continue;
            const int32_t t = fake_next_token(kv.tokens(row.slot));
            auto& g = generated[row.id];
            g.push_back(t);
            if ((int64_t)g.size() >= max_new[row.id]) {
                finished[row.id] = g;
                generated.erase(row.id);
                sched.finish(row.id);
            } else if (Status st = sched.append(row.id, t); !st.ok()) {
                fail(st.error().message);
            }
        }
        if (std::string e = sched.check_invariants(); !e.empty()) fail("invariant: " + e);
        check_books(eager_ops);
        return plan;
    }

    // The fake pool must agree with the scheduler's books. finish() queues truncations that
    // the next plan hands over; with `eager` the runtime takes them at once, as an idle one does.
    void check_books(bool eager = false) {
        if (eager)
            for (const KvOp& op : sched.take_kv_ops())
                if (std::string e = kv.apply(op); !e.empty()) fail(e);
        if (sched.has_pending_kv_ops()) return;
        SchedulerStats st = sched.stats();
        if (st.blocks_free != kv.n_free_blocks())
            fail("scheduler says " + std::to_string(st.blocks_free) + " blocks free, the pool has " +
                 std::to_string(kv.n_free_blocks()));
        if (st.blocks_shared != kv.n_shared_blocks())
            fail("scheduler says " + std::to_string(st.blocks_shared) + " blocks shared, the pool has " +
                 std::to_string(kv.n_shared_blocks()));
        if (st.blocks_running + st.blocks_cached + st.blocks_free != st.blocks_total)
            fail("running + cached + free blocks != total");
        for (int32_t s = 0; s < sched.options().n_seq; ++s)
            if (sched.slot_blocks(s) != kv.blocks_of(s))
                fail("slot " + std::to_string(s) + " books " + std::to_string(sched.slot_blocks(s)) +
                     " blocks, the cache holds " + std::to_string(kv.blocks_of(s)));
        for (int32_t s = 0; s < sched.options().n_seq; ++s)
            if (sched.slot_len(s) != (int64_t)kv.tokens(s).size())
                fail("slot " + std::to_string(s) + " books " + std::to_string(sched.slot_len(s)) +
                     " positions, the cache holds " + std::to_string(kv.tokens(s).size()));
    }

    // Steps until no work is left or max_steps pass.
    void run(int64_t max_steps) {
        for (int64_t i = 0; i < max_steps && sched.has_work() && failure.empty(); ++i) step();
    }
};

}  // namespace retort::test
