#include "scheduler/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <limits>

namespace retort {

namespace {

int64_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return (int64_t)i;
}

}  // namespace

Status SchedulerOptions::validate() const {
    if (n_seq < 1) return Error::bad_argument("scheduler: {} sequences; need at least 1", n_seq);
    if (block_size < 1) return Error::bad_argument("scheduler: block size {} must be positive", block_size);
    if (n_ctx < 1) return Error::bad_argument("scheduler: context {} must be positive", n_ctx);
    // The oldest request must always be able to grow to a full context by preempting the rest.
    if (n_blocks * block_size < n_ctx)
        return Error::bad_argument("scheduler: {} KV blocks of {} positions cannot hold one context of {}", n_blocks,
                                   block_size, n_ctx);
    // Every running request gets its decode token each step.
    if (step_tokens < n_seq)
        return Error::bad_argument("scheduler: step budget {} tokens is below the {} sequences it must serve",
                                   step_tokens, n_seq);
    if (prefill_chunk < 0) return Error::bad_argument("scheduler: prefill chunk {} is negative", prefill_chunk);
    if (min_prefix_copy < 1) return Error::bad_argument("scheduler: min prefix copy {} must be positive", min_prefix_copy);
    return ok_status();
}

int64_t StepPlan::n_tokens() const {
    int64_t n = 0;
    for (const StepRow& r : rows) n += (int64_t)r.tokens.size();
    return n;
}

// schedule()'s working state. A preempted request's row is removed (id 0) and its budget given
// back; rows are compacted at the end.
struct Scheduler::Planning {
    StepPlan plan;
    int64_t budget = 0;
    std::unordered_map<RequestId, size_t> row_of;
};

Scheduler::Scheduler(const SchedulerOptions& opt) : opt_(opt) {
    slots_.resize((size_t)opt.n_seq);
    blocks_free_ = opt.n_blocks;
}

Result<Scheduler> Scheduler::create(const SchedulerOptions& opt) {
    RETORT_TRY(opt.validate());
    return Scheduler(opt);
}

Status Scheduler::add(RequestId id, std::vector<int32_t> prompt) {
    if (id == 0) return Error::bad_argument("request id 0 is reserved");
    if (reqs_.count(id)) return Error::bad_argument("request {} is already queued", id);
    if (prompt.empty()) return Error::bad_argument("request {}: the prompt is empty", id);
    if ((int64_t)prompt.size() > opt_.n_ctx)
        return Error::make(ErrorKind::kContextFull, "request {}: prompt of {} tokens exceeds the context of {}", id,
                           prompt.size(), opt_.n_ctx);
    Request r;
    r.id = id;
    r.n_prompt = (int64_t)prompt.size();
    r.tokens = std::move(prompt);
    r.arrival = next_arrival_++;
    reqs_.emplace(id, std::move(r));
    waiting_.push_back(id);
    return ok_status();
}

void Scheduler::truncate_slot(int32_t slot, int64_t n_pos, std::vector<KvOp>& ops) {
    Slot& s = slots_[(size_t)slot];
    if (n_pos >= s.n_reserved && n_pos >= (int64_t)s.tokens.size()) return;
    if ((int64_t)s.tokens.size() > n_pos) s.tokens.resize((size_t)n_pos);
    blocks_free_ += blocks_for(s.n_reserved) - blocks_for(n_pos);
    s.n_reserved = n_pos;
    ops.push_back({KvOp::Kind::kTruncate, slot, -1, n_pos});
}

int64_t Scheduler::reclaimable(int32_t protect_a, int32_t protect_b) const {
    int64_t n = 0;
    for (size_t i = 0; i < slots_.size(); ++i)
        if (slots_[i].owner == 0 && (int32_t)i != protect_a && (int32_t)i != protect_b)
            n += blocks_for(slots_[i].n_reserved);
    return n;
}

bool Scheduler::make_room(int64_t need, int32_t protect_a, int32_t protect_b, bool allow_preempt,
                          uint64_t requester_arrival, Planning& p) {
    while (blocks_free_ < need) {
        // Least recently used idle cache first: it is the least likely to be asked for again.
        int32_t victim = -1;
        for (size_t i = 0; i < slots_.size(); ++i) {
            const Slot& s = slots_[i];
            if (s.owner != 0 || s.n_reserved == 0 || (int32_t)i == protect_a || (int32_t)i == protect_b) continue;
            if (victim < 0 || s.last_used < slots_[(size_t)victim].last_used) victim = (int32_t)i;
        }
        if (victim >= 0) {
            truncate_slot(victim, 0, p.plan.kv_ops);
            continue;
        }
        if (!allow_preempt) return false;
        // Then the newest running request younger than the one asking (recomputed later).
        Request* newest = nullptr;
        for (RequestId id : running_) {
            Request& r = reqs_.at(id);
            if (r.arrival > requester_arrival && r.slot != protect_a && r.slot != protect_b &&
                (newest == nullptr || r.arrival > newest->arrival))
                newest = &r;
        }
        if (newest == nullptr) return false;
        preempt(*newest, p);
    }
    return true;
}

void Scheduler::preempt(Request& r, Planning& p) {
    assert(r.running);
    if (auto it = p.row_of.find(r.id); it != p.row_of.end()) {
        StepRow& row = p.plan.rows[it->second];
        p.budget += (int64_t)row.tokens.size();
        row.id = 0;  // removed; compacted at the end of schedule()
        p.row_of.erase(it);
    }
    Slot& s = slots_[(size_t)r.slot];
    s.owner = 0;
    s.last_used = ++tick_;
    truncate_slot(r.slot, 0, p.plan.kv_ops);
    r.slot = -1;
    r.running = false;
    r.n_computed = 0;
    r.n_reused = 0;
    ++r.n_preempted;
    ++n_preemptions_;
    running_.erase(std::find(running_.begin(), running_.end(), r.id));
    // Back into the waiting queue at its arrival place: it was admitted before anything waiting.
    auto pos = std::find_if(waiting_.begin(), waiting_.end(),
                            [&](RequestId w) { return reqs_.at(w).arrival > r.arrival; });
    waiting_.insert(pos, r.id);
    p.plan.preempted.push_back(r.id);
}

int64_t Scheduler::chunk_for(const Request& r, int64_t budget) const {
    int64_t n = (int64_t)r.tokens.size() - r.n_computed;
    n = std::min(n, budget);
    if (opt_.prefill_chunk > 0) n = std::min(n, std::max<int64_t>(opt_.prefill_chunk, 1));
    return std::max<int64_t>(n, 0);
}

void Scheduler::add_row(Request& r, int64_t n, Planning& p) {
    assert(n >= 1 && r.n_computed + n <= (int64_t)r.tokens.size());
    Slot& s = slots_[(size_t)r.slot];
    const int64_t end = r.n_computed + n;
    blocks_free_ -= blocks_for(end) - blocks_for(s.n_reserved);
    assert(blocks_free_ >= 0);
    s.n_reserved = end;
    StepRow row;
    row.id = r.id;
    row.slot = r.slot;
    row.pos0 = r.n_computed;
    row.tokens.assign(r.tokens.begin() + r.n_computed, r.tokens.begin() + end);
    row.sample = end == (int64_t)r.tokens.size();
    p.row_of[r.id] = p.plan.rows.size();
    p.plan.rows.push_back(std::move(row));
    p.budget -= n;
}

bool Scheduler::schedule_running(Request& r, Planning& p) {
    int64_t n = chunk_for(r, p.budget);
    if (n == 0) return false;
    const Slot& s = slots_[(size_t)r.slot];
    const int64_t need = blocks_for(r.n_computed + n) - blocks_for(s.n_reserved);
    if (need > 0 && !make_room(need, r.slot, -1, /*allow_preempt=*/true, r.arrival, p)) {
        // Take what the free blocks allow; with none, step aside so older requests can grow.
        const int64_t fit = (blocks_for(s.n_reserved) + blocks_free_) * opt_.block_size - r.n_computed;
        n = std::min(n, fit);
        if (n <= 0) {
            preempt(r, p);
            return false;
        }
    }
    add_row(r, n, p);
    return true;
}

bool Scheduler::admit(Request& r, Planning& p) {
    if (p.budget <= 0) return false;
    // At least the last prompt token is computed: its logits give the first sampled token.
    const int64_t cap = (int64_t)r.tokens.size() - 1;
    int32_t dst = -1;
    int64_t dst_prefix = -1;
    for (size_t i = 0; i < slots_.size(); ++i) {
        const Slot& s = slots_[i];
        if (s.owner != 0) continue;
        const int64_t l = opt_.prefix_cache ? std::min(common_prefix(s.tokens, r.tokens), cap) : 0;
        // Longest shared prefix; without one, an empty slot, then the least recently used cache.
        bool better = dst < 0 || l > dst_prefix;
        if (!better && l == dst_prefix) {
            const Slot& d = slots_[(size_t)dst];
            const bool s_empty = s.n_reserved == 0, d_empty = d.n_reserved == 0;
            better = s_empty != d_empty ? s_empty : s.last_used < d.last_used;
        }
        if (better) {
            dst = (int32_t)i;
            dst_prefix = l;
        }
    }
    if (dst < 0) return false;  // every slot runs a request

    // A clearly longer prefix elsewhere (a running request, or another cache) is copied.
    int32_t src = -1;
    int64_t src_prefix = 0;
    if (opt_.prefix_cache) {
        for (size_t i = 0; i < slots_.size(); ++i) {
            if ((int32_t)i == dst) continue;
            const int64_t l = std::min(common_prefix(slots_[i].tokens, r.tokens), cap);
            if (l > src_prefix) {
                src = (int32_t)i;
                src_prefix = l;
            }
        }
        if (src_prefix < dst_prefix + opt_.min_prefix_copy) src = -1;
    }

    // Admit only with room for the whole prompt plus one generated token, even when this step
    // computes a chunk of it: a request admitted on a sliver would be preempted at once. The
    // slot's own blocks, the free ones and the idle caches that could be evicted (the copy
    // source only after the copy) all count.
    const int64_t avail = blocks_free_ + blocks_for(slots_[(size_t)dst].n_reserved) + reclaimable(dst, -1);
    const int64_t want = std::min<int64_t>((int64_t)r.tokens.size() + 1, opt_.n_ctx);
    if (blocks_for(want) > avail) return false;

    if (src >= 0) {
        // The copy needs its blocks free while the source still holds its rows.
        truncate_slot(dst, 0, p.plan.kv_ops);
        if (!make_room(blocks_for(src_prefix), dst, src, /*allow_preempt=*/false, 0, p)) {
            src = -1;  // fall back to computing the prompt in the (now empty) slot
        } else {
            Slot& d = slots_[(size_t)dst];
            const Slot& s = slots_[(size_t)src];
            d.tokens.assign(s.tokens.begin(), s.tokens.begin() + src_prefix);
            d.n_reserved = src_prefix;
            blocks_free_ -= blocks_for(src_prefix);
            p.plan.kv_ops.push_back({KvOp::Kind::kCopyPrefix, dst, src, src_prefix});
        }
    } else {
        truncate_slot(dst, dst_prefix, p.plan.kv_ops);
    }
    Slot& d = slots_[(size_t)dst];
    r.n_computed = (int64_t)d.tokens.size();
    r.n_reused = r.n_computed;

    int64_t n = chunk_for(r, p.budget);
    const int64_t need = blocks_for(r.n_computed + n) - blocks_for(d.n_reserved);
    if (need > 0 && !make_room(need, dst, -1, /*allow_preempt=*/false, 0, p)) {
        n = std::min(n, (blocks_for(d.n_reserved) + blocks_free_) * opt_.block_size - r.n_computed);
        if (n <= 0) {  // the slot keeps the prepared prefix as an idle cache
            r.n_computed = 0;
            r.n_reused = 0;
            return false;
        }
    }
    d.owner = r.id;
    d.last_used = ++tick_;
    r.slot = dst;
    r.running = true;
    n_reused_tokens_ += r.n_reused;
    running_.push_back(r.id);
    p.plan.admitted.push_back(r.id);
    add_row(r, n, p);
    return true;
}

StepPlan Scheduler::schedule() {
    assert(!in_step_ && "commit() the previous plan first");
    Planning p;
    p.plan.kv_ops = std::move(pending_ops_);
    pending_ops_.clear();
    p.budget = opt_.step_tokens;

    // 1. decode rows, oldest first; 2. prefill chunks of requests already running. A request
    // preempted along the way drops out of running_, so iterate over a copy, by arrival
    // (running_ is in admission order, and a re-admitted request may be older than others).
    std::vector<RequestId> running = running_;
    std::sort(running.begin(), running.end(),
              [&](RequestId a, RequestId b) { return reqs_.at(a).arrival < reqs_.at(b).arrival; });
    for (int pass = 0; pass < 2; ++pass) {
        for (RequestId id : running) {
            Request& r = reqs_.at(id);
            if (!r.running || p.row_of.count(id)) continue;
            const int64_t remaining = (int64_t)r.tokens.size() - r.n_computed;
            assert(remaining >= 1 && "a sampled row needs append() or finish() before the next plan");
            if (remaining < 1) continue;
            if ((remaining == 1) != (pass == 0)) continue;
            if (p.budget <= 0) break;
            schedule_running(r, p);
        }
    }
    // 3. waiting requests, oldest first; no overtaking, so a long prompt is not starved. Not
    // after a preemption: blocks are short, and a new request would only be preempted in turn.
    while (!waiting_.empty() && p.budget > 0 && p.plan.preempted.empty()) {
        Request& r = reqs_.at(waiting_.front());
        if (!admit(r, p)) break;
        waiting_.pop_front();
    }

    std::erase_if(p.plan.rows, [](const StepRow& row) { return row.id == 0; });
    in_step_ = !p.plan.rows.empty();
    return std::move(p.plan);
}

void Scheduler::commit(const StepPlan& plan) {
    for (const StepRow& row : plan.rows) {
        auto it = reqs_.find(row.id);
        if (it == reqs_.end() || !it->second.running || it->second.slot != row.slot) continue;  // finished meanwhile
        Request& r = it->second;
        Slot& s = slots_[(size_t)r.slot];
        assert(r.n_computed == row.pos0 && (int64_t)s.tokens.size() == row.pos0);
        s.tokens.insert(s.tokens.end(), row.tokens.begin(), row.tokens.end());
        r.n_computed += (int64_t)row.tokens.size();
    }
    in_step_ = false;
}

Status Scheduler::append(RequestId id, int32_t token) {
    auto it = reqs_.find(id);
    if (it == reqs_.end()) return Error::bad_argument("request {} is unknown", id);
    Request& r = it->second;
    if ((int64_t)r.tokens.size() >= opt_.n_ctx)
        return Error::make(ErrorKind::kContextFull, "request {} holds {} positions, the context's limit", id,
                           r.tokens.size());
    r.tokens.push_back(token);
    return ok_status();
}

void Scheduler::finish(RequestId id, bool keep_cache) {
    auto it = reqs_.find(id);
    if (it == reqs_.end()) return;
    Request& r = it->second;
    if (r.running) {
        Slot& s = slots_[(size_t)r.slot];
        s.owner = 0;
        s.last_used = ++tick_;
        // Only computed positions stay; rows booked but not committed are dropped.
        truncate_slot(r.slot, keep_cache && opt_.prefix_cache ? (int64_t)s.tokens.size() : 0, pending_ops_);
        running_.erase(std::find(running_.begin(), running_.end(), id));
    } else {
        waiting_.erase(std::find(waiting_.begin(), waiting_.end(), id));
    }
    reqs_.erase(it);
}

std::vector<KvOp> Scheduler::take_kv_ops() {
    std::vector<KvOp> ops = std::move(pending_ops_);
    pending_ops_.clear();
    return ops;
}

RequestInfo Scheduler::info(RequestId id) const {
    RequestInfo i;
    auto it = reqs_.find(id);
    if (it == reqs_.end()) return i;
    const Request& r = it->second;
    i.n_prompt = r.n_prompt;
    i.n_tokens = (int64_t)r.tokens.size();
    i.n_computed = r.n_computed;
    i.n_reused = r.n_reused;
    i.n_preempted = r.n_preempted;
    i.slot = r.slot;
    i.running = r.running;
    return i;
}

SchedulerStats Scheduler::stats() const {
    SchedulerStats st;
    st.n_waiting = (int64_t)waiting_.size();
    st.n_running = (int64_t)running_.size();
    st.blocks_total = opt_.n_blocks;
    st.blocks_free = blocks_free_;
    for (const Slot& s : slots_) (s.owner != 0 ? st.blocks_running : st.blocks_cached) += blocks_for(s.n_reserved);
    st.n_preemptions = n_preemptions_;
    st.n_reused_tokens = n_reused_tokens_;
    return st;
}

std::string Scheduler::check_invariants() const {
    int64_t used = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
        const Slot& s = slots_[i];
        used += blocks_for(s.n_reserved);
        if ((int64_t)s.tokens.size() > s.n_reserved)
            return fmt::format("slot {} holds {} tokens but books only {} positions", i, s.tokens.size(), s.n_reserved);
        if (!in_step_ && (int64_t)s.tokens.size() != s.n_reserved)
            return fmt::format("slot {}: {} positions booked for {} tokens outside a step", i, s.n_reserved,
                               s.tokens.size());
        if (s.n_reserved > opt_.n_ctx)
            return fmt::format("slot {} books {} positions, past the context {}", i, s.n_reserved, opt_.n_ctx);
        if (s.owner != 0) {
            auto it = reqs_.find(s.owner);
            if (it == reqs_.end()) return fmt::format("slot {} is owned by unknown request {}", i, s.owner);
            const Request& r = it->second;
            if (!r.running || r.slot != (int32_t)i)
                return fmt::format("slot {} owner {} is not running in it (slot {})", i, r.id, r.slot);
            if (r.n_computed != (int64_t)s.tokens.size() ||
                !std::equal(s.tokens.begin(), s.tokens.end(), r.tokens.begin()))
                return fmt::format("slot {}: its tokens are not request {}'s computed prefix", i, r.id);
        }
    }
    if (used + blocks_free_ != opt_.n_blocks)
        return fmt::format("blocks: {} used + {} free != {} total", used, blocks_free_, opt_.n_blocks);
    if (blocks_free_ < 0) return fmt::format("blocks: {} free", blocks_free_);
    if (running_.size() + waiting_.size() != reqs_.size())
        return fmt::format("{} running + {} waiting != {} requests", running_.size(), waiting_.size(), reqs_.size());
    if (running_.size() > slots_.size()) return fmt::format("{} running in {} slots", running_.size(), slots_.size());
    for (RequestId id : running_) {
        const Request& r = reqs_.at(id);
        if (!r.running || r.slot < 0 || slots_[(size_t)r.slot].owner != id)
            return fmt::format("running request {} does not own its slot {}", id, r.slot);
        if ((int64_t)r.tokens.size() > opt_.n_ctx)
            return fmt::format("request {} has {} tokens, past the context {}", id, r.tokens.size(), opt_.n_ctx);
    }
    uint64_t last = 0;
    for (RequestId id : waiting_) {
        const Request& r = reqs_.at(id);
        if (r.running || r.slot != -1 || r.n_computed != 0)
            return fmt::format("waiting request {} has a slot {} or computed tokens {}", id, r.slot, r.n_computed);
        if (r.arrival < last) return fmt::format("waiting queue out of arrival order at request {}", id);
        last = r.arrival;
    }
    return "";
}

}  // namespace retort
