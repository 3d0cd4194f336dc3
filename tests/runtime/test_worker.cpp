// Worker: real engines on the fixture models (stories260K, tiny qwen2/llama), driven the way the
// server drives them. Batching must not change what a request generates: the same greedy (or
// seeded) request gives identical tokens alone, beside 7 others, after a preemption, and when
// its prompt comes from a prefix cache.
#include "runtime/worker.h"
#include "support/test_files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <thread>

namespace retort {
namespace {

const std::string kStories = kData + "/stories260K/stories260K.gguf";

std::unique_ptr<Engine> load(const std::string& path, int64_t n_seq, int64_t n_ctx = 0, int n_threads = 1) {
    EngineOptions o;
    o.n_seq = n_seq;
    o.n_ctx = n_ctx;
    o.n_threads = n_threads;
    o.kv_type = DType::F32;
    auto e = Engine::load(path, o);
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().message);
    return e.ok() ? std::move(e.value()) : nullptr;
}

std::unique_ptr<Worker> start(std::unique_ptr<Engine> e, WorkerOptions o = {}) {
    auto w = Worker::start(std::move(e), o);
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().message);
    return w.ok() ? std::move(w.value()) : nullptr;
}

struct Outcome {
    std::vector<int32_t> tokens;
    std::string text;
    std::vector<TokenPiece> pieces;
    RequestSummary summary;
};

Outcome collect(RequestStream& s, std::chrono::seconds limit = std::chrono::seconds(120)) {
    Outcome o;
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        RequestStream::Update u = s.wait(std::chrono::milliseconds(100));
        for (auto& p : u.pieces) {
            if (p.token >= 0) o.tokens.push_back(p.token);
            o.text += p.text;
            o.pieces.push_back(std::move(p));
        }
        if (u.done) {
            o.summary = u.summary;
            return o;
        }
        if (std::chrono::steady_clock::now() > until) {
            ADD_FAILURE() << "request did not finish in time";
            return o;
        }
    }
}

GenerateRequest greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
    GenerateRequest r;
    r.prompt = std::move(prompt);
    r.generation.sampling.temperature = 0.0f;
    r.generation.max_tokens = max_tokens;
    r.generation.ignore_eog = true;
    return r;
}

std::shared_ptr<RequestStream> submit(Worker& w, GenerateRequest r) {
    Submitted s = w.submit(std::move(r));
    EXPECT_EQ(s.rejection, Rejection::kNone) << s.message;
    return s.stream;
}

// Everything a worker holds is given back once it is idle.
void expect_no_leak(const Worker& w) {
    const RuntimeMetrics& m = w.metrics();
    for (int i = 0; i < 100 && (m.running.load() != 0 || m.active_requests.load() != 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(m.running.load(), 0);
    EXPECT_EQ(m.queue_depth.load(), 0);
    EXPECT_EQ(m.active_requests.load(), 0);
    EXPECT_EQ(m.kv_blocks_running.load(), 0);
    EXPECT_EQ(m.kv_blocks_free.load() + m.kv_blocks_cached.load(), m.kv_blocks_total.load());
    EXPECT_EQ(m.kv_books_mismatch.load(), 0);
}

nlohmann::json stories_reference() {
    std::ifstream in(kData + "/stories260K/reference.json");
    return nlohmann::json::parse(in);
}

TEST(Worker, StoriesGreedyMatchesLlamaCpp) {
    auto w = start(load(kStories, 4));
    ASSERT_TRUE(w);
    const auto ref = stories_reference();
    for (const auto& p : ref["prompts"]) {
        std::vector<int32_t> ids = p["eval_ids"].get<std::vector<int32_t>>();
        std::vector<int32_t> want = p["greedy_ids"].get<std::vector<int32_t>>();
        want.resize(32);
        auto s = submit(*w, greedy(ids, 32));
        Outcome o = collect(*s);
        EXPECT_EQ(o.tokens, want) << p["text"];
        EXPECT_EQ(o.summary.finish, FinishReason::kMaxTokens);
        EXPECT_EQ(o.summary.n_generated, 32);
        EXPECT_EQ(o.summary.n_prompt, (int64_t)ids.size());
    }
    expect_no_leak(*w);
}

// The batching check: one greedy request alone, then the same request together with 7
// others of different lengths. Identical tokens, for each fixture architecture.
class BatchingInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchingInvariance, AloneVsWithSevenOthers) {
    const std::string path = kData + "/" + GetParam();
    WorkerOptions wo;
    wo.prefix_cache = false;  // the crowd below must compute its prompts, not copy them
    auto w = start(load(path, 8, 256), wo);
    ASSERT_TRUE(w);
    const int32_t n_vocab = (int32_t)w->config().n_vocab;
    auto prompt_of = [&](int seed, int len) {
        std::vector<int32_t> v;
        uint32_t x = 2463534242u + (uint32_t)seed * 7919u;
        for (int i = 0; i < len; ++i) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            v.push_back((int32_t)(x % (uint32_t)n_vocab));
        }
        return v;
    };
    const std::vector<int32_t> probe = prompt_of(0, 21);
    Outcome alone = collect(*submit(*w, greedy(probe, 48)));
    ASSERT_EQ(alone.tokens.size(), 48u);

    std::vector<std::shared_ptr<RequestStream>> crowd;
    const int lens[7] = {3, 70, 12, 140, 33, 1, 57};
    const int gens[7] = {60, 10, 80, 30, 5, 90, 40};
    for (int i = 0; i < 7; ++i) {
        // Half arrive before the probe (it joins running sequences), half after (they join it).
        if (i == 3) crowd.push_back(submit(*w, greedy(probe, 48)));
        crowd.push_back(submit(*w, greedy(prompt_of(i + 1, lens[i]), gens[i])));
    }
    std::vector<Outcome> outs;
    for (auto& s : crowd) outs.push_back(collect(*s));
    EXPECT_EQ(outs[3].tokens, alone.tokens) << "the probe changed when batched with 7 others";
    // And each of the others is what it generates alone.
    for (int i = 0; i < 7; ++i) {
        const Outcome& o = outs[(size_t)(i < 3 ? i : i + 1)];
        Outcome solo = collect(*submit(*w, greedy(prompt_of(i + 1, lens[i]), gens[i])));
        EXPECT_EQ(o.tokens, solo.tokens) << "request " << i;
    }
    expect_no_leak(*w);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BatchingInvariance,
                         ::testing::Values("stories260K/stories260K.gguf", "tiny/tiny-qwen2-F32.gguf",
                                           "tiny/tiny-llama-F32.gguf", "tiny/tiny-qwen2-Q8_0.gguf",
                                           "tiny/tiny-llama-Q4_K_M.gguf"));

TEST(Worker, SeededSamplingIsReproducibleUnderLoad) {
    auto w = start(load(kStories, 4));
    ASSERT_TRUE(w);
    auto req = [](uint64_t seed) {
        GenerateRequest r = greedy({1, 403, 407, 261, 378}, 40);
        r.generation.sampling.temperature = 1.0f;
        r.generation.sampling.seed = seed;
        return r;
    };
    Outcome a = collect(*submit(*w, req(42)));
    auto s1 = submit(*w, req(42));
    auto s2 = submit(*w, req(7));
    auto s3 = submit(*w, req(42));
    Outcome b = collect(*s1), c = collect(*s2), d = collect(*s3);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.tokens, d.tokens);
    EXPECT_NE(a.tokens, c.tokens);
    expect_no_leak(*w);
}

TEST(Worker, PreemptionKeepsOutputs) {
    // 8 slots but KV blocks for ~2 full sequences: the scheduler must preempt and recompute.
    WorkerOptions wo;
    wo.kv_blocks = 8;  // 8 blocks of 32 = 256 positions; each request grows to ~100
    wo.prefix_cache = false;
    auto w = start(load(kStories, 8), wo);
    ASSERT_TRUE(w);
    const auto ref = stories_reference();
    std::vector<std::shared_ptr<RequestStream>> streams;
    std::vector<std::vector<int32_t>> want;
    for (const auto& p : ref["prompts"]) {
        std::vector<int32_t> g = p["greedy_ids"].get<std::vector<int32_t>>();
        want.push_back(g);
        streams.push_back(submit(*w, greedy(p["eval_ids"].get<std::vector<int32_t>>(), 64)));
    }
    int32_t preempted = 0;
    for (size_t i = 0; i < streams.size(); ++i) {
        Outcome o = collect(*streams[i]);
        EXPECT_EQ(o.tokens, want[i]) << "prompt " << i;
        preempted += o.summary.n_preempted;
    }
    EXPECT_GT(preempted, 0);
    EXPECT_GT(w->metrics().preemptions.load(), 0);
    expect_no_leak(*w);
}

TEST(Worker, PrefixCacheReusesAndMatches) {
    auto w = start(load(kStories, 2));
    ASSERT_TRUE(w);
    const auto ref = stories_reference();
    const auto& p = ref["prompts"][5];  // 37 tokens
    const std::vector<int32_t> ids = p["eval_ids"].get<std::vector<int32_t>>();
    Outcome first = collect(*submit(*w, greedy(ids, 16)));
    EXPECT_EQ(first.summary.n_cached, 0);
    Outcome again = collect(*submit(*w, greedy(ids, 16)));
    EXPECT_EQ(again.summary.n_cached, (int64_t)ids.size() - 1);
    EXPECT_EQ(again.tokens, first.tokens);
    // A longer conversation that starts with the first one (next turn) reuses it too.
    std::vector<int32_t> turn = ids;
    turn.insert(turn.end(), first.tokens.begin(), first.tokens.end() - 1);
    turn.push_back(13);
    Outcome next = collect(*submit(*w, greedy(turn, 8)));
    EXPECT_GE(next.summary.n_cached, (int64_t)ids.size());
    WorkerOptions off;
    off.prefix_cache = false;
    auto cold = start(load(kStories, 2), off);
    Outcome cold_next = collect(*submit(*cold, greedy(turn, 8)));
    EXPECT_EQ(cold_next.summary.n_cached, 0);
    EXPECT_EQ(next.tokens, cold_next.tokens);
    expect_no_leak(*w);
}

TEST(Worker, ConcurrentSharedPrefixIsTaken) {
    auto w = start(load(kStories, 4));
    ASSERT_TRUE(w);
    const auto ref = stories_reference();
    const std::vector<int32_t> ids = ref["prompts"][5]["eval_ids"].get<std::vector<int32_t>>();
    auto long_runner = submit(*w, greedy(ids, 80));
    // Wait until the first request is decoding, so its prompt is in the cache.
    for (int i = 0; i < 500 && w->metrics().generated_tokens.load() < 2; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::vector<int32_t> other = ids;
    other.back() = 300;  // same 36-token prefix, different last token
    Outcome o = collect(*submit(*w, greedy(other, 10)));
    EXPECT_GE(o.summary.n_cached, 16);
    WorkerOptions off;
    off.prefix_cache = false;
    auto cold = start(load(kStories, 1), off);
    EXPECT_EQ(o.tokens, collect(*submit(*cold, greedy(other, 10))).tokens);
    collect(*long_runner);
    expect_no_leak(*w);
}

// The sharing check: 8 concurrent greedy requests with one 1,000-token system prompt
// (and a different user turn each) give exactly the tokens each gives alone, while the prompt's
// KV blocks are held once, not 8 times; nothing is left held when they are done. Run with
// sharing, with copying (--no-prefix-share) and with no prefix cache, printing blocks and TTFT.
TEST(Worker, SharedSystemPromptIsHeldOnce) {
    const std::string path = kData + "/tiny/tiny-qwen2-F32.gguf";
    const int64_t n_ctx = 1280, n_sys = 1000, n_user = 6, n_gen = 12;
    std::vector<int32_t> system;
    for (int64_t i = 0; i < n_sys; ++i) system.push_back((int32_t)(3 + (i * 37 + 11) % 300));
    std::vector<std::vector<int32_t>> prompts;
    for (int32_t r = 0; r < 8; ++r) {
        std::vector<int32_t> p = system;
        for (int64_t i = 0; i < n_user; ++i) p.push_back((int32_t)(3 + (r * 41 + i * 13) % 300));
        prompts.push_back(std::move(p));
    }
    // Each alone, on a worker with no cache at all.
    WorkerOptions alone_opt;
    alone_opt.prefix_cache = false;
    auto alone = start(load(path, 1, n_ctx), alone_opt);
    ASSERT_TRUE(alone);
    std::vector<std::vector<int32_t>> want;
    for (const auto& p : prompts) want.push_back(collect(*submit(*alone, greedy(p, n_gen))).tokens);

    const int64_t per_request = (n_sys + n_user + n_gen + 31) / 32;  // 32 blocks
    struct Mode {
        const char* name;
        bool cache, share;
    };
    for (const Mode mode : {Mode{"shared", true, true}, Mode{"copied", true, false}, Mode{"no cache", false, false}}) {
        WorkerOptions o;
        o.prefix_cache = mode.cache;
        o.share_prefix = mode.share;
        auto w = start(load(path, 8, n_ctx), o);
        ASSERT_TRUE(w);
        std::vector<std::shared_ptr<RequestStream>> streams;
        for (const auto& p : prompts) streams.push_back(submit(*w, greedy(p, n_gen)));
        double ttft_sum = 0, ttft_max = 0;
        int64_t cached = 0;
        for (size_t r = 0; r < streams.size(); ++r) {
            Outcome out = collect(*streams[r]);
            EXPECT_EQ(out.tokens, want[r]) << mode.name << ", request " << r;
            ttft_sum += out.summary.ttft_ms;
            ttft_max = std::max(ttft_max, out.summary.ttft_ms);
            cached += out.summary.n_cached;
        }
        expect_no_leak(*w);
        const int64_t peak = w->metrics().kv_blocks_used_peak.load();
        std::printf("[ sharing  ] %-8s: peak KV blocks %3lld (8 x %lld = %lld unshared), prompt tokens reused %lld, "
                    "TTFT mean %.1f ms, max %.1f ms\n",
                    mode.name, (long long)peak, (long long)per_request, (long long)(8 * per_request),
                    (long long)cached, ttft_sum / 8, ttft_max);
        RecordProperty(std::string(mode.name) + "_peak_blocks", (int)peak);
        if (mode.share) {
            // One copy of the prompt plus, per other request, its partial block and what it grew.
            EXPECT_LE(peak, per_request + 7 * 2);
            EXPECT_EQ(cached, 7 * n_sys);
        } else if (mode.cache) {
            EXPECT_GE(peak, 7 * per_request);  // every request holds its own copy
        }
    }
}

TEST(Worker, CancelFreesTheSequence) {
    auto w = start(load(kStories, 2));
    ASSERT_TRUE(w);
    GenerateRequest r = greedy({1, 403}, 120);
    auto s = submit(*w, r);
    RequestStream::Update u;
    while ((u = s->wait(std::chrono::milliseconds(100))).pieces.empty() && !u.done) {
    }
    s->cancel();
    Outcome o = collect(*s);
    EXPECT_EQ(o.summary.finish, FinishReason::kCancelled);
    EXPECT_LT(o.summary.n_generated, 120);
    expect_no_leak(*w);
}

TEST(Worker, RejectsWhatCannotRun) {
    auto w = start(load(kStories, 1));
    ASSERT_TRUE(w);
    EXPECT_EQ(w->submit(greedy({}, 4)).rejection, Rejection::kInvalid);
    EXPECT_EQ(w->submit(greedy({1, 9999}, 4)).rejection, Rejection::kInvalid);
    Submitted s = w->submit(greedy(std::vector<int32_t>(100, 5), 50));  // 150 > 128
    EXPECT_EQ(s.rejection, Rejection::kTooLong);
    EXPECT_NE(s.message.find("150"), std::string::npos) << s.message;
    EXPECT_NE(s.message.find("128"), std::string::npos) << s.message;
    GenerateRequest bad = greedy({1, 2}, 4);
    bad.generation.sampling.top_p = 2.0f;
    EXPECT_EQ(w->submit(bad).rejection, Rejection::kInvalid);
    bad = greedy({1, 2}, 4);
    bad.top_logprobs = 21;
    EXPECT_EQ(w->submit(bad).rejection, Rejection::kInvalid);
    expect_no_leak(*w);
}

TEST(Worker, QueueLimitRefusesWithQueueFull) {
    WorkerOptions wo;
    wo.max_queue = 2;
    auto w = start(load(kStories, 1), wo);
    ASSERT_TRUE(w);
    std::vector<std::shared_ptr<RequestStream>> ok;
    int full = 0;
    for (int i = 0; i < 8; ++i) {
        Submitted s = w->submit(greedy({1, 403, 407}, 100));
        if (s.rejection == Rejection::kQueueFull) ++full;
        else if (s.stream) ok.push_back(s.stream);
    }
    EXPECT_GE(full, 5);  // one may run, two may wait
    for (auto& s : ok) collect(*s);
    EXPECT_EQ(w->metrics().rejected_queue_full.load(), full);
    expect_no_leak(*w);
}

TEST(Worker, LogprobsAreReported) {
    auto w = start(load(kStories, 1));
    ASSERT_TRUE(w);
    GenerateRequest r = greedy({1, 403, 407, 261, 378}, 5);
    r.top_logprobs = 3;
    Outcome o = collect(*submit(*w, r));
    ASSERT_EQ(o.pieces.size(), 5u);
    for (const TokenPiece& p : o.pieces) {
        ASSERT_EQ(p.top.size(), 3u);
        EXPECT_EQ(p.top[0].first, p.token);  // greedy: the chosen token is the most likely
        EXPECT_NEAR(p.logprob, p.top[0].second, 1e-6);
        EXPECT_LE(p.logprob, 0.0f);
        EXPECT_GE(p.top[0].second, p.top[1].second);
    }
}

TEST(Worker, StopStringsAndEogEndRequests) {
    auto w = start(load(kStories, 2));
    ASSERT_TRUE(w);
    Outcome full = collect(*submit(*w, greedy({1, 403, 407, 261, 378}, 40)));
    ASSERT_GT(full.text.size(), 20u);
    GenerateRequest r = greedy({1, 403, 407, 261, 378}, 40);
    const std::string stop = full.text.substr(10, 5);
    r.generation.stop = {stop};
    Outcome o = collect(*submit(*w, r));
    EXPECT_EQ(o.summary.finish, FinishReason::kStopString);
    EXPECT_EQ(o.text, full.text.substr(0, full.text.find(stop)));
    // Without ignore_eog, EOS (</s> = 2) ends a story.
    GenerateRequest eog = greedy({1, 403, 407, 261, 378}, 120);
    eog.generation.ignore_eog = false;
    Outcome e = collect(*submit(*w, eog));
    EXPECT_TRUE(e.summary.finish == FinishReason::kEndOfGeneration || e.summary.finish == FinishReason::kMaxTokens);
    expect_no_leak(*w);
}

TEST(Worker, ShutdownCancelsAfterGraceAndRefusesNew) {
    auto w = start(load(kStories, 2));
    ASSERT_TRUE(w);
    auto s = submit(*w, greedy({1, 403}, 120));
    s->wait(std::chrono::milliseconds(200));
    w->shutdown(std::chrono::milliseconds(0));
    Outcome o = collect(*s);
    EXPECT_TRUE(o.summary.finish == FinishReason::kCancelled || o.summary.finish == FinishReason::kMaxTokens);
    EXPECT_EQ(w->submit(greedy({1, 403}, 4)).rejection, Rejection::kShuttingDown);
}

TEST(Worker, ShutdownWithGraceLetsRequestsFinish) {
    auto w = start(load(kStories, 2));
    ASSERT_TRUE(w);
    auto s = submit(*w, greedy({1, 403}, 30));
    w->shutdown(std::chrono::seconds(60));
    Outcome o = collect(*s);
    EXPECT_EQ(o.summary.finish, FinishReason::kMaxTokens);
    EXPECT_EQ(o.summary.n_generated, 30);
}

}  // namespace
}  // namespace retort
