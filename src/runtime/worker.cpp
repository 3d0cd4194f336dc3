#include "runtime/worker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace retort {

namespace {

using Clock = RequestStream::Clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

Result<std::unique_ptr<Worker>> Worker::start(std::unique_ptr<Engine> engine, const WorkerOptions& opt) {
    if (!engine) return Error::bad_argument("worker: no engine");
    if (opt.max_queue < 0) return Error::bad_argument("worker: queue limit {} is negative", opt.max_queue);
    KvCache& kv = engine->kv();
    SchedulerOptions so;
    so.n_seq = (int32_t)kv.options().n_seq_max;
    so.block_size = kv.options().block_size;
    so.n_blocks = opt.kv_blocks > 0 ? std::min(opt.kv_blocks, kv.n_free_blocks()) : kv.n_free_blocks();
    so.n_ctx = engine->n_ctx();
    so.step_tokens = std::max<int64_t>(opt.step_tokens, so.n_seq);
    so.prefill_chunk = opt.prefill_chunk;
    so.prefix_cache = opt.prefix_cache;
    so.share_prefix = opt.share_prefix;
    so.min_prefix_copy = kv.options().block_size / 2;
    auto sched = Scheduler::create(so);
    if (!sched.ok()) return sched.error();
    for (int32_t s = 0; s < so.n_seq; ++s)
        if (kv.seq_len(s) != 0) return Error::bad_argument("worker: the engine's KV cache is not empty (sequence {})", s);
    std::unique_ptr<Worker> w(new Worker(std::move(engine), opt, std::move(sched.value())));
    w->thread_ = std::thread([p = w.get()] { p->loop(); });
    return w;
}

Worker::Worker(std::unique_ptr<Engine> engine, const WorkerOptions& opt, Scheduler sched)
    : engine_(std::move(engine)), opt_(opt), sched_(std::move(sched)) {
    n_seq_ = sched_.options().n_seq;
    metrics_.kv_blocks_total.store(sched_.options().n_blocks);
    publish_gauges();
}

Worker::~Worker() { shutdown(std::chrono::milliseconds(0)); }

bool Worker::accepting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepting_;
}

void Worker::stop_accepting() {
    std::lock_guard<std::mutex> lock(mu_);
    accepting_ = false;
}

void Worker::shutdown(std::chrono::milliseconds grace) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        accepting_ = false;
        if (!stop_) {
            stop_ = true;
            deadline_ = Clock::now() + grace;
        }
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

Submitted Worker::submit(GenerateRequest req) {
    Submitted out;
    const int64_t n_prompt = (int64_t)req.prompt.size();
    if (n_prompt == 0) {
        out.rejection = Rejection::kInvalid;
        out.message = "the prompt is empty";
        return out;
    }
    const int32_t n_vocab = (int32_t)config().n_vocab;
    for (int32_t t : req.prompt)
        if (t < 0 || t >= n_vocab) {
            out.rejection = Rejection::kInvalid;
            out.message = fmt::format("token id {} is outside the vocabulary [0, {})", t, n_vocab);
            return out;
        }
    const int64_t max_new = req.generation.max_tokens;
    if (n_prompt + std::max<int64_t>(max_new, 1) > n_ctx()) {
        out.rejection = Rejection::kTooLong;
        out.message = max_new > 0 ? fmt::format("the prompt ({} tokens) plus max_tokens ({}) is {} tokens, over the "
                                                "context of {} tokens",
                                                n_prompt, max_new, n_prompt + max_new, n_ctx())
                                  : fmt::format("the prompt ({} tokens) leaves no room to generate in the context "
                                                "of {} tokens",
                                                n_prompt, n_ctx());
        return out;
    }
    if (req.top_logprobs > 20) {
        out.rejection = Rejection::kInvalid;
        out.message = fmt::format("top_logprobs {} is over the limit of 20", req.top_logprobs);
        return out;
    }
    auto gen = Generation::create(tokenizer(), req.generation);
    if (!gen.ok()) {
        out.rejection = Rejection::kInvalid;
        out.message = gen.error().message;
        return out;
    }
    auto stream = std::make_shared<RequestStream>();
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!accepting_) {
            out.rejection = Rejection::kShuttingDown;
            out.message = "the server is shutting down";
            return out;
        }
        // Room for one request per slot plus max_queue waiting ones.
        if (n_active_ >= n_seq_ + opt_.max_queue) {
            metrics_.rejected_queue_full.fetch_add(1);
            out.rejection = Rejection::kQueueFull;
            out.message = fmt::format("the server is busy: {} requests are running or waiting ({} slots + "
                                      "--max-queue {}); retry later",
                                      n_active_, n_seq_, opt_.max_queue);
            return out;
        }
        ++n_queued_;
        ++n_active_;
        metrics_.active_requests.fetch_add(1);
        queue_.push_back(Pending{next_id_++, std::move(req), std::move(gen.value()), stream});
    }
    cv_.notify_one();
    out.stream = std::move(stream);
    return out;
}

void Worker::intake(std::vector<Pending>& incoming) {
    for (Pending& p : incoming) {
        const uint64_t id = p.id;
        std::vector<int32_t> prompt = p.req.prompt;
        Active a{std::move(p.req), std::move(p.gen), std::move(p.stream), {}, false, {}};
        a.summary.n_prompt = (int64_t)prompt.size();
        auto [it, inserted] = active_.emplace(id, std::move(a));
        (void)inserted;
        if (it->second.gen.done()) {  // max_tokens 0: nothing to generate
            finish(id, it->second.gen.reason());
            continue;
        }
        if (Status st = sched_.add(id, std::move(prompt)); !st.ok()) finish(id, FinishReason::kNone, st.error());
    }
    incoming.clear();
}

void Worker::finish(uint64_t id, FinishReason reason, std::optional<Error> error) {
    auto it = active_.find(id);
    if (it == active_.end()) return;
    Active& a = it->second;
    if (!error) {
        a.gen.end(reason);
        const std::string tail = a.gen.flush();
        if (!tail.empty()) a.stream->push(TokenPiece{-1, tail, 0.0f, {}});
    }
    const RequestInfo info = sched_.info(id);
    // A failed step leaves the slot's cache in doubt: clear it rather than keep it for reuse.
    sched_.finish(id, /*keep_cache=*/!error.has_value());
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!a.scheduled) --n_queued_;
        --n_active_;
    }
    const Clock::time_point now = Clock::now();
    a.summary.finish = error ? FinishReason::kNone : a.gen.reason();
    a.summary.error = std::move(error);
    a.summary.n_generated = a.gen.n_generated();
    a.summary.duration_ms = ms_between(a.stream->submitted, now);
    a.summary.n_preempted = std::max(a.summary.n_preempted, info.n_preempted);
    metrics_.request_seconds.observe(a.summary.duration_ms / 1000.0);
    const size_t idx = a.summary.error ? RuntimeMetrics::kFailedIndex : (size_t)a.summary.finish;
    metrics_.finished[idx].fetch_add(1);
    metrics_.active_requests.fetch_sub(1);
    a.stream->finish(a.summary);
    active_.erase(it);
}

Status Worker::copy_prefix(int32_t dst, int32_t src, int64_t n_pos) {
    KvCache& kv = engine_->kv();
    kv.clear(dst);
    RETORT_TRY(kv.reserve(dst, n_pos));
    const size_t row = kv.row_bytes();
    const int64_t bs = kv.options().block_size;
    // Rows of one block are contiguous per layer and K/V: copy a block's run at a time.
    for (int64_t il = 0; il < kv.options().n_layer; ++il)
        for (int64_t p = 0; p < n_pos; p += bs) {
            const int64_t n = std::min(bs, n_pos - p);
            std::memcpy(kv.k_row(il, dst, p), kv.k_row(il, src, p), row * (size_t)n);
            std::memcpy(kv.v_row(il, dst, p), kv.v_row(il, src, p), row * (size_t)n);
        }
    kv.set_len(dst, n_pos);
    return ok_status();
}

void Worker::apply(const std::vector<KvOp>& ops) {
    for (const KvOp& op : ops) {
        KvCache& kv = engine_->kv();
        if (op.kind == KvOp::Kind::kTruncate) {
            // The scheduler never cuts into a shared block, so the cache keeps exactly n_pos.
            const int64_t want = std::min(op.n_pos, kv.seq_len(op.slot));
            if (kv.truncate(op.slot, op.n_pos) != want) metrics_.kv_books_mismatch.store(1);
            continue;
        }
        const Status st = op.kind == KvOp::Kind::kSharePrefix ? kv.share_prefix(op.slot, op.src, op.n_pos)
                                                                : copy_prefix(op.slot, op.src, op.n_pos);
        if (!st.ok()) {
            // The books said the blocks were free; if the cache disagrees, the gauge shows it.
            metrics_.kv_books_mismatch.store(1);
            kv.clear(op.slot);
        }
    }
}

void Worker::publish_gauges() {
    apply(sched_.take_kv_ops());  // finish() queues edits; the cache is idle now, so apply them
    const SchedulerStats st = sched_.stats();
    int64_t queued;
    {
        std::lock_guard<std::mutex> lock(mu_);
        queued = n_queued_;
    }
    metrics_.queue_depth.store(queued);
    metrics_.running.store(st.n_running);
    metrics_.kv_blocks_running.store(st.blocks_running);
    metrics_.kv_blocks_cached.store(st.blocks_cached);
    metrics_.kv_blocks_shared.store(st.blocks_shared);
    // The cache's own count, so a leak in either the books or the cache shows up here.
    const KvCache& kv = engine_->kv();
    const int64_t unused = kv.n_blocks() - sched_.options().n_blocks;  // withheld by --kv-blocks
    metrics_.kv_blocks_free.store(kv.n_free_blocks() - unused);
    const int64_t used = kv.n_used_blocks();
    int64_t peak = metrics_.kv_blocks_used_peak.load();
    if (used > peak) metrics_.kv_blocks_used_peak.store(used);
    // Per slot: positions and blocks held; overall: physical blocks (a shared one once).
    bool slots_agree = true;
    for (int32_t s = 0; s < n_seq_; ++s)
        slots_agree = slots_agree && kv.seq_len(s) == sched_.slot_len(s) &&
                      kv.pool().n_held(s) == sched_.slot_blocks(s);
    const bool agree = slots_agree && kv.n_free_blocks() - unused == st.blocks_free &&
                       used == st.blocks_running + st.blocks_cached && kv.n_shared_blocks() == st.blocks_shared;
    if (!agree) metrics_.kv_books_mismatch.store(1);
}

void Worker::run_step(StepPlan& plan) {
    const Clock::time_point t0 = Clock::now();
    apply(plan.kv_ops);
    for (uint64_t id : plan.admitted) {
        auto it = active_.find(id);
        if (it == active_.end()) continue;
        Active& a = it->second;
        const RequestInfo info = sched_.info(id);
        if (!a.scheduled) {
            a.scheduled = true;
            a.summary.queue_ms = ms_between(a.stream->submitted, t0);
            a.summary.n_cached = info.n_reused;
            metrics_.prompt_tokens.fetch_add(a.summary.n_prompt);
            metrics_.cached_tokens.fetch_add(std::min(info.n_reused, a.summary.n_prompt));
            std::lock_guard<std::mutex> lock(mu_);
            --n_queued_;
        }
    }
    metrics_.preemptions.fetch_add((int64_t)plan.preempted.size());
    for (uint64_t id : plan.preempted)
        if (auto it = active_.find(id); it != active_.end()) ++it->second.summary.n_preempted;

    batch_.clear();
    for (const StepRow& row : plan.rows)
        for (size_t i = 0; i < row.tokens.size(); ++i)
            batch_.add(row.tokens[i], (int32_t)(row.pos0 + (int64_t)i), row.slot,
                       row.sample && i + 1 == row.tokens.size());
    Status st = engine_->step(batch_, logits_);
    sched_.commit(plan);
    metrics_.steps.fetch_add(1);
    metrics_.step_tokens.fetch_add(batch_.size());
    if (!st.ok()) {
        // The step failed as a whole (not something one request can cause once validated):
        // fail the requests it carried, keep serving the others.
        for (const StepRow& row : plan.rows) finish(row.id, FinishReason::kNone, st.error());
        return;
    }

    const int64_t n_vocab = engine_->n_vocab();
    size_t out = 0;
    const Clock::time_point now = Clock::now();
    for (const StepRow& row : plan.rows) {
        if (!row.sample) continue;
        const float* logits = &logits_[out++ * (size_t)n_vocab];
        auto it = active_.find(row.id);
        if (it == active_.end()) continue;
        Active& a = it->second;
        const Generation::Step step = a.gen.next(logits);
        TokenPiece piece{step.token, step.text, 0.0f, {}};
        if (a.req.top_logprobs >= 0) {
            piece.logprob = a.gen.sampler().token_logprob(logits, step.token);
            if (a.req.top_logprobs > 0) piece.top = a.gen.sampler().top_logprobs(logits, a.req.top_logprobs);
        }
        if (a.gen.n_generated() == 1) {
            a.summary.ttft_ms = ms_between(a.stream->submitted, now);
            metrics_.ttft_seconds.observe(a.summary.ttft_ms / 1000.0);
        } else {
            metrics_.itl_seconds.observe(std::chrono::duration<double>(now - a.last_token).count());
        }
        a.last_token = now;
        metrics_.generated_tokens.fetch_add(1);
        a.stream->push(std::move(piece));
        if (a.gen.done()) {
            finish(row.id, a.gen.reason());
        } else if (!sched_.append(row.id, step.token).ok()) {
            finish(row.id, FinishReason::kContextFull);
        }
    }
    metrics_.step_seconds.observe(std::chrono::duration<double>(Clock::now() - t0).count());
}

void Worker::loop() {
    std::vector<Pending> incoming;
    for (;;) {
        bool stopping = false, past_deadline = false;
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (queue_.empty() && !sched_.has_work() && !stop_) {
                // Idle: bring the cache in line with finished requests' edits, then sleep.
                lock.unlock();
                publish_gauges();
                lock.lock();
                cv_.wait(lock, [&] { return !queue_.empty() || stop_; });
            }
            incoming.swap(queue_);
            stopping = stop_;
            past_deadline = stop_ && Clock::now() >= deadline_;
        }
        intake(incoming);

        // Cancelled by the client, or cut by the shutdown deadline.
        std::vector<uint64_t> ended;
        for (auto& [id, a] : active_)
            if (past_deadline || a.stream->cancelled()) ended.push_back(id);
        for (uint64_t id : ended) finish(id, FinishReason::kCancelled);

        if (stopping && active_.empty()) break;
        if (!sched_.has_work()) continue;
        StepPlan plan = sched_.schedule();
        if (plan.empty()) {
            // Nothing fits right now (cannot happen while something runs; a guard against a spin).
            apply(plan.kv_ops);
            publish_gauges();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        run_step(plan);
        publish_gauges();
    }
    publish_gauges();
}

}  // namespace retort
