// Scheduler policy, driven by the fake executor (no model): budget, chunked prefill, admission,
// preemption, prefix reuse and copy, cancellation, and a seeded random workload that checks
// every invariant after every step.
#include "scheduler/fake_executor.h"
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace retort {
namespace {

using test::FakeRuntime;
using test::reference_generation;

SchedulerOptions opts(int32_t n_seq, int64_t n_blocks, int64_t step_tokens = 64, int64_t n_ctx = 256) {
    SchedulerOptions o;
    o.n_seq = n_seq;
    o.n_blocks = n_blocks;
    o.block_size = 8;
    o.n_ctx = n_ctx;
    o.step_tokens = step_tokens;
    o.min_prefix_copy = 4;
    return o;
}

Scheduler make(const SchedulerOptions& o) {
    auto s = Scheduler::create(o);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return std::move(s.value());
}

std::vector<int32_t> seq(int32_t start, int64_t n) {
    std::vector<int32_t> v;
    for (int64_t i = 0; i < n; ++i) v.push_back((int32_t)((start + i * 7) % 997));
    return v;
}

TEST(SchedulerOptions, RejectsBadSizes) {
    EXPECT_TRUE(opts(4, 128).validate().ok());
    SchedulerOptions o = opts(4, 128);
    o.n_seq = 0;
    EXPECT_FALSE(o.validate().ok());
    o = opts(4, 10);  // 10 blocks of 8 cannot hold one context of 256
    EXPECT_FALSE(o.validate().ok());
    o = opts(4, 128, /*step_tokens=*/3);  // below one decode token per sequence
    EXPECT_FALSE(o.validate().ok());
    o = opts(4, 128);
    o.block_size = 0;
    EXPECT_FALSE(o.validate().ok());
}

TEST(Scheduler, RejectsBadRequests) {
    Scheduler s = make(opts(2, 64));
    EXPECT_FALSE(s.add(1, {}).ok());
    EXPECT_FALSE(s.add(2, seq(0, 257)).ok());
    EXPECT_EQ(s.add(3, seq(0, 300)).error().kind, ErrorKind::kContextFull);
    EXPECT_TRUE(s.add(4, seq(0, 256)).ok());
    EXPECT_FALSE(s.add(4, seq(0, 3)).ok());  // duplicate id
    EXPECT_FALSE(s.add(0, seq(0, 3)).ok());  // reserved id
    EXPECT_EQ(s.check_invariants(), "");
}

TEST(Scheduler, OneRequestMatchesRunningAlone) {
    Scheduler s = make(opts(1, 32));
    FakeRuntime rt(s);
    rt.add(1, seq(5, 20), 30);
    rt.run(1000);
    ASSERT_EQ(rt.failure, "");
    ASSERT_EQ(rt.finished.size(), 1u);
    EXPECT_EQ(rt.finished[1], reference_generation(seq(5, 20), 30));
    EXPECT_FALSE(s.has_work());
    // The finished request stays as an idle cache of its computed tokens: 20 + 29.
    EXPECT_EQ(s.slot_len(0), 49);
    EXPECT_EQ(s.stats().blocks_running, 0);
    EXPECT_EQ(s.stats().blocks_cached, 7);
}

TEST(Scheduler, PlanKeepsBudgetAndDecodesFirst) {
    Scheduler s = make(opts(4, 256, /*step_tokens=*/16, /*n_ctx=*/512));
    FakeRuntime rt(s);
    rt.add(1, seq(1, 5), 40);
    rt.step();  // request 1 prefilled, now decoding
    rt.add(2, seq(2, 100), 5);  // a long prompt arrives
    rt.add(3, seq(3, 3), 5);
    int64_t steps_with_decode = 0, steps_while_1_runs = 0;
    while (s.has_work() && rt.failure.empty()) {
        const bool one_running = rt.generated.count(1) != 0;
        StepPlan plan = rt.step();
        EXPECT_LE(plan.n_tokens(), 16);
        if (one_running) {
            ++steps_while_1_runs;
            // request 1 decodes every step, and its row comes first
            ASSERT_FALSE(plan.rows.empty());
            if (plan.rows[0].id == 1 && plan.rows[0].tokens.size() == 1) ++steps_with_decode;
        }
        for (const StepRow& r : plan.rows) EXPECT_GT(r.tokens.size(), 0u);
    }
    ASSERT_EQ(rt.failure, "");
    EXPECT_EQ(steps_with_decode, steps_while_1_runs);
    EXPECT_EQ(rt.finished[1], reference_generation(seq(1, 5), 40));
    EXPECT_EQ(rt.finished[2], reference_generation(seq(2, 100), 5));
    EXPECT_EQ(rt.finished[3], reference_generation(seq(3, 3), 5));
}

TEST(Scheduler, ChunkedPrefillSplitsLongPrompt) {
    SchedulerOptions o = opts(2, 256, /*step_tokens=*/64, /*n_ctx=*/512);
    o.prefill_chunk = 24;
    Scheduler s = make(o);
    FakeRuntime rt(s);
    rt.add(1, seq(9, 100), 2);
    std::vector<int64_t> chunks;
    while (s.has_work() && rt.failure.empty()) {
        StepPlan plan = rt.step();
        for (const StepRow& r : plan.rows) chunks.push_back((int64_t)r.tokens.size());
    }
    ASSERT_EQ(rt.failure, "");
    // 100 prompt tokens in chunks of <= 24, then one decode row.
    EXPECT_EQ(chunks, (std::vector<int64_t>{24, 24, 24, 24, 4, 1}));
    EXPECT_EQ(rt.finished[1], reference_generation(seq(9, 100), 2));
}

TEST(Scheduler, AdmissionLimitedBySlots) {
    Scheduler s = make(opts(2, 256));
    FakeRuntime rt(s);
    for (RequestId id = 1; id <= 5; ++id) rt.add(id, seq((int32_t)id * 100, 10), 8);
    while (s.has_work() && rt.failure.empty()) {
        rt.step();
        EXPECT_LE(s.stats().n_running, 2);
    }
    ASSERT_EQ(rt.failure, "");
    for (RequestId id = 1; id <= 5; ++id)
        EXPECT_EQ(rt.finished[id], reference_generation(seq((int32_t)id * 100, 10), 8)) << id;
}

TEST(Scheduler, AdmissionLimitedByBlocks) {
    // 40 blocks of 8 = 320 positions; each request needs 100 + 20 = 120 = 15 blocks at most.
    SchedulerOptions o = opts(8, 40, /*step_tokens=*/256, /*n_ctx=*/256);
    o.prefix_cache = false;
    Scheduler s = make(o);
    FakeRuntime rt(s);
    for (RequestId id = 1; id <= 6; ++id) rt.add(id, seq((int32_t)id * 31, 100), 20);
    int64_t max_running = 0;
    while (s.has_work() && rt.failure.empty()) {
        rt.step();
        max_running = std::max(max_running, s.stats().n_running);
    }
    ASSERT_EQ(rt.failure, "");
    EXPECT_LE(max_running, 3);
    for (RequestId id = 1; id <= 6; ++id)
        EXPECT_EQ(rt.finished[id], reference_generation(seq((int32_t)id * 31, 100), 20)) << id;
    EXPECT_EQ(s.stats().blocks_free, 40);
}

TEST(Scheduler, PreemptsNewestWhenBlocksRunOut) {
    // 3 requests of 8-token prompts that each grow to 8 + 60 positions; the pool holds 17 blocks
    // (136 positions), so not all three fit at their full length.
    SchedulerOptions o = opts(3, 17, /*step_tokens=*/32, /*n_ctx=*/128);
    o.prefix_cache = false;
    Scheduler s = make(o);
    FakeRuntime rt(s);
    for (RequestId id = 1; id <= 3; ++id) rt.add(id, seq((int32_t)id * 13, 8), 60);
    std::vector<RequestId> preempted;
    while (s.has_work() && rt.failure.empty() && rt.steps < 2000) {
        StepPlan plan = rt.step();
        preempted.insert(preempted.end(), plan.preempted.begin(), plan.preempted.end());
    }
    ASSERT_EQ(rt.failure, "");
    ASSERT_FALSE(s.has_work()) << "starved";
    ASSERT_FALSE(preempted.empty());
    EXPECT_EQ(preempted.front(), 3u);  // the newest goes first
    EXPECT_EQ(std::count(preempted.begin(), preempted.end(), 1u), 0);  // the oldest never
    for (RequestId id = 1; id <= 3; ++id)
        EXPECT_EQ(rt.finished[id], reference_generation(seq((int32_t)id * 13, 8), 60)) << id;
    EXPECT_GT(s.stats().n_preemptions, 0);
    EXPECT_EQ(s.stats().blocks_free, 17);
}

TEST(Scheduler, ReusesFinishedPrefixInPlace) {
    Scheduler s = make(opts(2, 64));
    FakeRuntime rt(s);
    const std::vector<int32_t> system = seq(1, 40);
    rt.add(1, system, 5);
    rt.run(100);
    // Next turn: the first conversation plus what was generated plus a new message.
    std::vector<int32_t> turn2 = system;
    const auto gen1 = rt.finished[1];
    turn2.insert(turn2.end(), gen1.begin(), gen1.end() - 1);  // the last token was never fed
    const auto extra = seq(500, 10);
    turn2.insert(turn2.end(), extra.begin(), extra.end());
    rt.add(2, turn2, 5);
    StepPlan first = rt.step();
    ASSERT_EQ(first.rows.size(), 1u);
    EXPECT_EQ(first.rows[0].pos0, 44);  // 40 + 4 generated tokens were in the cache
    EXPECT_EQ(s.info(2).n_reused, 44);
    rt.run(100);
    ASSERT_EQ(rt.failure, "");
    EXPECT_EQ(rt.finished[2], reference_generation(turn2, 5));
    EXPECT_EQ(s.stats().n_reused_tokens, 44);
}

TEST(Scheduler, SamePromptRecomputesOnlyTheLastToken) {
    Scheduler s = make(opts(1, 64));
    FakeRuntime rt(s);
    rt.add(1, seq(3, 30), 1);
    rt.run(100);
    rt.add(2, seq(3, 30), 3);
    StepPlan plan = rt.step();
    ASSERT_EQ(plan.rows.size(), 1u);
    EXPECT_EQ(plan.rows[0].pos0, 29);  // the last prompt token again, for its logits
    rt.run(100);
    ASSERT_EQ(rt.failure, "");
    EXPECT_EQ(rt.finished[2], reference_generation(seq(3, 30), 3));
}

// A later request with the same system prompt takes it from the running request: shared blocks
// (the default), or copied rows with share_prefix off.
class SchedulerPrefixFromRunning : public ::testing::TestWithParam<bool> {};

TEST_P(SchedulerPrefixFromRunning, TakesPrefixFromRunningRequest) {
    SchedulerOptions o = opts(4, 128);
    o.share_prefix = GetParam();
    Scheduler s = make(o);
    FakeRuntime rt(s);
    std::vector<int32_t> system = seq(7, 50);
    std::vector<int32_t> a = system, b = system;
    a.push_back(1);
    b.push_back(2);
    b.push_back(3);
    rt.add(1, a, 40);
    rt.step();  // request 1's prompt is in slot 0 now, and it keeps running
    rt.add(2, b, 10);
    StepPlan plan = rt.step();
    int n_taken = 0;
    const KvOp::Kind want = o.share_prefix ? KvOp::Kind::kSharePrefix : KvOp::Kind::kCopyPrefix;
    for (const KvOp& op : plan.kv_ops)
        if (op.kind == want) {
            ++n_taken;
            EXPECT_EQ(op.n_pos, 50);
            EXPECT_NE(op.slot, op.src);
        }
    EXPECT_EQ(n_taken, 1);
    EXPECT_EQ(s.info(2).n_reused, 50);
    // Shared: the 6 whole blocks of the prompt are held once (50 = 6 x 8 + 2).
    EXPECT_EQ(s.stats().blocks_shared, o.share_prefix ? 6 : 0);
    rt.run(1000);
    ASSERT_EQ(rt.failure, "");
    EXPECT_EQ(rt.finished[1], reference_generation(a, 40));
    EXPECT_EQ(rt.finished[2], reference_generation(b, 10));
}

INSTANTIATE_TEST_SUITE_P(ShareOrCopy, SchedulerPrefixFromRunning, ::testing::Bool());

// Requests arriving together with one system prompt: with sharing, the second waits one step for
// the first to compute the prompt, then shares it instead of computing it again.
TEST(Scheduler, WaitsForAPrefixBeingComputed) {
    Scheduler s = make(opts(4, 128, /*step_tokens=*/128));
    FakeRuntime rt(s);
    const std::vector<int32_t> system = seq(11, 40);
    std::vector<int32_t> a = system, b = system;
    a.push_back(1);
    b.push_back(2);
    rt.add(1, a, 5);
    rt.add(2, b, 5);
    StepPlan p1 = rt.step();
    EXPECT_EQ(p1.admitted, std::vector<RequestId>{1});  // the budget had room for both
    StepPlan p2 = rt.step();
    EXPECT_EQ(p2.admitted, std::vector<RequestId>{2});
    EXPECT_EQ(s.info(2).n_reused, 40);
    rt.run(100);
    ASSERT_EQ(rt.failure, "");
    EXPECT_EQ(rt.finished[2], reference_generation(b, 5));

    // Without sharing nothing waits: both prompts are computed in the first step.
    SchedulerOptions o = opts(4, 128, 128);
    o.share_prefix = false;
    Scheduler c = make(o);
    FakeRuntime rc(c);
    rc.add(1, a, 5);
    rc.add(2, b, 5);
    EXPECT_EQ(rc.step().admitted.size(), 2u);
}

// Eight requests with one 200-token system prompt: shared, the prompt's blocks are held once.
TEST(Scheduler, CommonSystemPromptUsesFarFewerBlocks) {
    const std::vector<int32_t> system = seq(5, 200);
    auto peak_blocks = [&](bool share, int64_t* shared_peak) {
        SchedulerOptions o = opts(8, 512, /*step_tokens=*/64, /*n_ctx=*/256);
        o.share_prefix = share;
        Scheduler s = make(o);
        FakeRuntime rt(s);
        std::map<RequestId, std::vector<int32_t>> prompts;
        for (RequestId id = 1; id <= 8; ++id) {
            std::vector<int32_t> p = system;
            const auto user = seq(300 + (int32_t)id * 17, 6);
            p.insert(p.end(), user.begin(), user.end());
            prompts[id] = p;
            rt.add(id, p, 12);
        }
        int64_t peak = 0;
        *shared_peak = 0;
        for (int i = 0; i < 500 && s.has_work() && rt.failure.empty(); ++i) {
            rt.step();
            const SchedulerStats st = s.stats();
            peak = std::max(peak, st.blocks_total - st.blocks_free);
            *shared_peak = std::max(*shared_peak, st.blocks_shared);
        }
        EXPECT_EQ(rt.failure, "");
        for (const auto& [id, p] : prompts) EXPECT_EQ(rt.finished[id], reference_generation(p, 12)) << id;
        rt.check_books(/*eager=*/true);
        // Nothing leaks: every block is free or held by an idle cache, and the caches hold exactly
        // the distinct blocks of their tables.
        const SchedulerStats st = s.stats();
        EXPECT_EQ(st.blocks_running, 0);
        EXPECT_EQ(st.blocks_free + st.blocks_cached, st.blocks_total);
        return peak;
    };
    int64_t shared_peak_on = 0, shared_peak_off = 0;
    const int64_t with = peak_blocks(true, &shared_peak_on);
    const int64_t without = peak_blocks(false, &shared_peak_off);
    RecordProperty("blocks_peak_shared", (int)with);
    RecordProperty("blocks_peak_copied", (int)without);
    // 206 + 12 positions = 28 blocks of 8 per request: 8 x 28 = 224 without sharing; with it the
    // 25 whole blocks of the system prompt are held once.
    EXPECT_GE(without, 8 * 26);
    EXPECT_LE(with, 28 + 7 * 4);
    EXPECT_EQ(shared_peak_on, 25);
    EXPECT_EQ(shared_peak_off, 0);
}

// An idle cache whose first blocks a running request shares: evicting it frees only its own
// blocks; the shared ones stay with the running request, whose output does not change.
TEST(Scheduler, EvictingASharedCacheFreesOnlyItsOwnBlocks) {
    Scheduler s = make(opts(3, 20, /*step_tokens=*/256, /*n_ctx=*/128));
    FakeRuntime rt(s);
    rt.eager_ops = true;
    const std::vector<int32_t> system = seq(9, 32);  // 4 whole blocks
    std::vector<int32_t> a = system, b = system;
    a.push_back(1);
    b.push_back(2);
    rt.add(1, a, 20);   // keeps running while request 2 comes and goes
    rt.step();
    rt.add(2, b, 6);    // shares the 4 blocks, finishes, stays as an idle cache
    for (int i = 0; i < 8 && !rt.finished.count(2); ++i) rt.step();
    ASSERT_TRUE(rt.finished.count(2));
    rt.check_books(true);
    SchedulerStats st = s.stats();
    EXPECT_EQ(st.blocks_shared, 4);
    const int32_t cache_slot = 1;
    ASSERT_EQ(s.slot_len(cache_slot), 32 + 1 + 5);  // prompt + 5 fed tokens: 38 positions, 5 blocks
    const int64_t own = s.slot_blocks(cache_slot) - 4;
    ASSERT_EQ(own, 1);
    // A request that needs every block left after request 1's next token plus the one the
    // cache's eviction frees.
    const int64_t free_before = st.blocks_free - (s.slot_len(0) % 8 == 0 ? 1 : 0);
    rt.add(3, seq(600, 8 * (free_before + own) - 1), 1);
    StepPlan plan = rt.step();
    ASSERT_EQ(rt.failure, "");
    bool evicted = false;
    for (const KvOp& op : plan.kv_ops) evicted |= op.kind == KvOp::Kind::kTruncate && op.slot == cache_slot && op.n_pos == 0;
    EXPECT_TRUE(evicted);
    EXPECT_EQ(s.slot_len(cache_slot), 0);
    st = s.stats();
    EXPECT_EQ(st.blocks_shared, 0);
    EXPECT_EQ(st.blocks_free, 0);  // request 3 took everything that became free, and only that
    rt.run(1000);
    ASSERT_EQ(rt.failure, "");
    EXPECT_EQ(rt.finished[1], reference_generation(a, 20));
    EXPECT_EQ(rt.finished[3].size(), 1u);
}

TEST(Scheduler, NoReuseWhenCacheOff) {
    SchedulerOptions o = opts(2, 64);
    o.prefix_cache = false;
    Scheduler s = make(o);
    FakeRuntime rt(s);
    rt.add(1, seq(3, 30), 2);
    rt.run(100);
    EXPECT_EQ(s.stats().blocks_free, 64);  // nothing kept
    rt.add(2, seq(3, 30), 2);
    StepPlan plan = rt.step();
    EXPECT_EQ(plan.rows[0].pos0, 0);
    rt.run(100);
    ASSERT_EQ(rt.failure, "");
}

TEST(Scheduler, CancelFreesWaitingAndRunning) {
    Scheduler s = make(opts(2, 64));
    FakeRuntime rt(s);
    rt.eager_ops = true;
    rt.add(1, seq(1, 20), 100);
    rt.add(2, seq(2, 20), 100);
    rt.add(3, seq(3, 20), 100);  // waits: two slots
    rt.step();
    rt.step();
    EXPECT_EQ(s.stats().n_running, 2);
    rt.cancel(3);  // waiting
    rt.cancel(1);  // running
    EXPECT_EQ(s.check_invariants(), "");
    rt.check_books(true);
    EXPECT_EQ(s.stats().n_running, 1);
    EXPECT_EQ(s.stats().n_waiting, 0);
    rt.cancel(2);
    rt.check_books(true);
    ASSERT_EQ(rt.failure, "");
    EXPECT_FALSE(s.has_work());
    EXPECT_EQ(s.stats().blocks_running, 0);
    // The cancelled requests' computed prompts stay as caches, and evict cleanly when needed.
    EXPECT_EQ(s.stats().blocks_free + s.stats().blocks_cached, 64);
    rt.add(4, seq(9, 250), 5);  // needs nearly the whole pool
    rt.run(1000);
    ASSERT_EQ(rt.failure, "");
    EXPECT_EQ(rt.finished[4], reference_generation(seq(9, 250), 5));
}

TEST(Scheduler, FinishWithoutCacheClearsSlot) {
    Scheduler s = make(opts(1, 64));
    FakeRuntime rt(s);
    rt.add(1, seq(1, 20), 100);
    rt.step();
    s.finish(1, /*keep_cache=*/false);
    EXPECT_EQ(s.slot_len(0), 0);
    EXPECT_EQ(s.stats().blocks_free, 64);
    auto ops = s.take_kv_ops();
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0].kind, KvOp::Kind::kTruncate);
    EXPECT_EQ(ops[0].n_pos, 0);
}

TEST(Scheduler, AppendRefusesPastContext) {
    Scheduler s = make(opts(1, 64, 64, /*n_ctx=*/16));
    ASSERT_TRUE(s.add(1, seq(1, 15)).ok());
    StepPlan p = s.schedule();
    s.commit(p);
    EXPECT_TRUE(s.append(1, 5).ok());  // 16 tokens: fits
    p = s.schedule();
    s.commit(p);
    Status st = s.append(1, 6);  // the 17th would not
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().kind, ErrorKind::kContextFull);
}

// A seeded random workload: arrivals, cancellations, varied lengths, a tight pool. After every
// step the invariants hold, the fake pool agrees with the books, and at the end every request
// generated exactly what it would alone, and no block is held by a request.
class SchedulerRandom : public ::testing::TestWithParam<int> {};

TEST_P(SchedulerRandom, Workload) {
    std::mt19937 rng((uint32_t)GetParam());
    const bool tight = GetParam() % 2 == 0;
    SchedulerOptions o = opts(6, tight ? 40 : 200, /*step_tokens=*/48, /*n_ctx=*/160);
    o.prefill_chunk = GetParam() % 3 == 0 ? 16 : 0;
    o.prefix_cache = GetParam() % 5 != 0;
    o.share_prefix = GetParam() % 3 != 1;
    Scheduler s = make(o);
    FakeRuntime rt(s);
    rt.eager_ops = GetParam() % 4 == 1;
    std::map<RequestId, std::vector<int32_t>> prompts;
    std::vector<int32_t> shared = seq(77, 40);  // a "system prompt" many requests start with
    RequestId next = 1;
    std::set<RequestId> cancelled;
    int64_t n_copies = 0;
    for (int it = 0; it < 400 && rt.failure.empty(); ++it) {
        if (next <= 60 && rng() % 3 == 0) {
            const int64_t len = 1 + rng() % 100;
            std::vector<int32_t> p;
            if (rng() % 2) p.assign(shared.begin(), shared.begin() + std::min<int64_t>(len, 40));
            const auto tail = seq((int32_t)(rng() % 1000), len - (int64_t)p.size());
            p.insert(p.end(), tail.begin(), tail.end());
            if (p.empty()) p.push_back(1);
            const int64_t n_new = 1 + rng() % std::max<int64_t>(1, 160 - (int64_t)p.size());
            prompts[next] = p;
            rt.add(next, p, std::min<int64_t>(n_new, 60));
            ++next;
        }
        if (!rt.generated.empty() && rng() % 17 == 0) {
            auto itg = rt.generated.begin();
            std::advance(itg, rng() % rt.generated.size());
            cancelled.insert(itg->first);
            rt.cancel(itg->first);
        }
        StepPlan plan = rt.step();
        for (const KvOp& op : plan.kv_ops)
            n_copies += op.kind == KvOp::Kind::kCopyPrefix || op.kind == KvOp::Kind::kSharePrefix;
    }
    rt.run(5000);
    ASSERT_EQ(rt.failure, "");
    ASSERT_FALSE(s.has_work());
    for (const auto& [id, out] : rt.finished) {
        ASSERT_EQ(out, reference_generation(prompts[id], (int64_t)out.size())) << "request " << id;
        EXPECT_EQ((int64_t)out.size(), rt.max_new[id]);
    }
    EXPECT_EQ(rt.finished.size() + cancelled.size(), (size_t)(next - 1));
    EXPECT_GE(rt.finished.size(), 25u);
    RecordProperty("finished", (int)rt.finished.size());
    RecordProperty("preemptions", (int)s.stats().n_preemptions);
    RecordProperty("reused_tokens", (int)s.stats().n_reused_tokens);
    RecordProperty("copies", (int)n_copies);
    const SchedulerStats st = s.stats();
    EXPECT_EQ(st.blocks_running, 0);
    EXPECT_EQ(st.blocks_free + st.blocks_cached, st.blocks_total);
    if (!o.prefix_cache) {
        EXPECT_EQ(st.blocks_cached, 0);
    }
    if (tight) {
        EXPECT_GT(st.n_preemptions, 0) << "the tight pool should have forced preemptions";
    }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SchedulerRandom, ::testing::Range(1, 41));

}  // namespace
}  // namespace retort
