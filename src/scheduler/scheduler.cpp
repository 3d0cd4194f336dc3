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

Scheduler::Scheduler(const SchedulerOptions& opt) : opt_(opt), pool_(opt.n_blocks, opt.block_size, opt.n_seq) {
    slots_.resize((size_t)opt.n_seq);
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
    assert(n_pos <= (int64_t)s.tokens.size() && pool_.len(slot) == (int64_t)s.tokens.size());
    // Inside a block shared with another slot the whole block goes (BlockPool's rule): the op
    // carries the length actually kept, so the cache never has to round it.
    const int64_t kept = pool_.truncate(slot, n_pos);
    s.tokens.resize((size_t)kept);
    s.n_reserved = kept;
    ops.push_back({KvOp::Kind::kTruncate, slot, -1, kept});
}

int64_t Scheduler::reclaimable(int32_t protect_a, int32_t protect_b, int32_t trim, int64_t trim_len) const {
    std::vector<int64_t> keep(slots_.size(), -1);
    for (size_t i = 0; i < slots_.size(); ++i)
        if (slots_[i].owner == 0 && (int32_t)i != protect_a && (int32_t)i != protect_b) keep[i] = 0;
    if (trim >= 0) keep[(size_t)trim] = trim_len;
    return pool_.freed_if(keep);
}

bool Scheduler::make_room(int64_t need, int32_t protect_a, int32_t protect_b, bool allow_preempt,
                          uint64_t requester_arrival, Planning& p) {
    while (pool_.n_free() < need) {
        // Least recently used idle cache first: it is the least likely to be asked for again.
        // Only caches whose eviction frees something count: a block shared with a running
        // request (or a protected slot) stays held whoever else lets it go.
        std::vector<int64_t> keep(slots_.size(), -1);
        for (size_t i = 0; i < slots_.size(); ++i) {
            const Slot& s = slots_[i];
            if (s.owner == 0 && pool_.n_held((int32_t)i) > 0 && (int32_t)i != protect_a && (int32_t)i != protect_b)
                keep[i] = 0;
        }
        const int64_t all = pool_.freed_if(keep);
        int32_t victim = -1;
        for (size_t i = 0; i < slots_.size() && all > 0; ++i) {
            if (keep[i] < 0) continue;
            if (victim >= 0 && slots_[i].last_used >= slots_[(size_t)victim].last_used) continue;
            keep[i] = -1;  // does leaving this one out lose a block?
            if (pool_.freed_if(keep) < all) victim = (int32_t)i;
            keep[i] = 0;
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
    const Status st = pool_.reserve(r.slot, end);  // make_room() left the blocks free
    assert(st.ok());
    (void)st;
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
    const int64_t need = pool_.blocks_missing(r.slot, r.n_computed + n);
    if (need > 0 && !make_room(need, r.slot, -1, /*allow_preempt=*/true, r.arrival, p)) {
        // Take what the free blocks allow; with none, step aside so older requests can grow.
        const int64_t fit = (pool_.n_held(r.slot) + pool_.n_free()) * opt_.block_size - r.n_computed;
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
    // What dst keeps of its cache: less than dst_prefix when that ends inside a shared block.
    const int64_t dst_keep = pool_.truncated_len(dst, dst_prefix);
    const int64_t bs = opt_.block_size;

    // A clearly longer prefix elsewhere (a running request, or another cache) is shared or copied.
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
        // A running request still computing a longer prefix of this prompt (typically one
        // admitted a moment ago with the same system prompt): wait for its blocks rather than
        // compute them twice. Bounded: that request prefills every step until it is done.
        if (opt_.share_prefix) {
            const int64_t have = std::max(dst_keep, src_prefix);
            for (RequestId id : running_) {
                const Request& o = reqs_.at(id);
                if (o.n_computed >= (int64_t)o.tokens.size() - 1) continue;  // decoding: all cached
                if (std::min(common_prefix(o.tokens, r.tokens), cap) / bs > have / bs) return false;
            }
        }
        if (src_prefix < dst_keep + opt_.min_prefix_copy) src = -1;
    }

    // Admit only with room for the whole prompt plus one generated token, even when this step
    // computes a chunk of it: a request admitted on a sliver would be preempted at once. Free
    // blocks and what evicting idle caches would free count (never the source of a share: its
    // blocks are the ones taken); whole blocks taken from a prefix cost nothing.
    const int64_t want = blocks_for(std::min<int64_t>((int64_t)r.tokens.size() + 1, opt_.n_ctx));
    if (src >= 0 && opt_.share_prefix &&
        want - src_prefix / bs > pool_.n_free() + reclaimable(src, -1, dst, 0))
        src = -1;  // not affordable while src holds its blocks: keep dst's own prefix instead
    if (src >= 0 && !opt_.share_prefix && want > pool_.n_free() + reclaimable(-1, -1, dst, 0)) return false;
    if (src < 0 && want - blocks_for(dst_keep) > pool_.n_free() + reclaimable(-1, -1, dst, dst_keep)) return false;

    if (src >= 0) {
        // The share (or copy) needs its blocks free while the source still holds its rows.
        truncate_slot(dst, 0, p.plan.kv_ops);
        const int64_t cost = opt_.share_prefix ? pool_.share_cost(src_prefix) : blocks_for(src_prefix);
        if (!make_room(cost, dst, src, /*allow_preempt=*/false, 0, p)) {
            src = -1;  // fall back to computing the prompt in the (now empty) slot
        } else {
            Slot& d = slots_[(size_t)dst];
            const Slot& s = slots_[(size_t)src];
            if (opt_.share_prefix) {
                const auto tail = pool_.share_prefix(dst, src, src_prefix);
                assert(tail.ok());
                (void)tail;
            } else {
                const Status st = pool_.reserve(dst, src_prefix);
                assert(st.ok());
                (void)st;
                pool_.set_len(dst, src_prefix);
            }
            d.tokens.assign(s.tokens.begin(), s.tokens.begin() + src_prefix);
            d.n_reserved = src_prefix;
            p.plan.kv_ops.push_back(
                {opt_.share_prefix ? KvOp::Kind::kSharePrefix : KvOp::Kind::kCopyPrefix, dst, src, src_prefix});
        }
    } else {
        truncate_slot(dst, dst_prefix, p.plan.kv_ops);
    }
    Slot& d = slots_[(size_t)dst];
    r.n_computed = (int64_t)d.tokens.size();
    r.n_reused = r.n_computed;

    int64_t n = chunk_for(r, p.budget);
    const int64_t need = pool_.blocks_missing(dst, r.n_computed + n);
    if (need > 0 && !make_room(need, dst, -1, /*allow_preempt=*/false, 0, p)) {
        n = std::min(n, (pool_.n_held(dst) + pool_.n_free()) * opt_.block_size - r.n_computed);
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
        pool_.set_len(r.slot, (int64_t)s.tokens.size());
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
    st.blocks_free = pool_.n_free();
    st.blocks_shared = pool_.n_shared();
    // A block any running request holds counts as running, even if an idle cache shares it.
    std::vector<bool> running((size_t)opt_.n_blocks, false);
    for (size_t i = 0; i < slots_.size(); ++i)
        if (slots_[i].owner != 0)
            for (int32_t b : pool_.table((int32_t)i)) running[(size_t)b] = true;
    st.blocks_running = std::count(running.begin(), running.end(), true);
    st.blocks_cached = pool_.n_used() - st.blocks_running;
    st.n_preemptions = n_preemptions_;
    st.n_reused_tokens = n_reused_tokens_;
    return st;
}

std::string Scheduler::check_invariants() const {
    if (std::string e = pool_.check(); !e.empty()) return "books: " + e;
    for (size_t i = 0; i < slots_.size(); ++i) {
        const Slot& s = slots_[i];
        if (pool_.n_held((int32_t)i) != blocks_for(s.n_reserved))
            return fmt::format("slot {} books {} positions in {} blocks", i, s.n_reserved, pool_.n_held((int32_t)i));
        if (pool_.len((int32_t)i) != (int64_t)s.tokens.size())
            return fmt::format("slot {}: the pool holds {} positions, the slot {} tokens", i, pool_.len((int32_t)i),
                               s.tokens.size());
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
