// ChatSession on the tiny random-weight Qwen2 fixture (R1 special tokens and template in its
// vocab): KV prefix reuse between turns gives the logits a from-scratch evaluation gives, the
// reasoning budget forces </think>, cancel and errors leave the history sound.
#include "engine/chat_session.h"
#include "support/test_files.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

namespace retort {
namespace {


struct Loaded {
    std::shared_ptr<const GgufFile> file;
    std::unique_ptr<Engine> engine;
    std::unique_ptr<ChatTemplate> tmpl;
};

Loaded load(int64_t n_ctx = 1024) {
    Loaded l;
    auto f = GgufFile::open(kTinyQwen2);
    EXPECT_TRUE(f.ok()) << f.error().message;
    l.file = std::shared_ptr<const GgufFile>(std::move(f.value()));
    EngineOptions opt;
    opt.n_threads = 2;
    opt.n_ctx = n_ctx;
    auto e = Engine::load(l.file, opt);
    EXPECT_TRUE(e.ok()) << e.error().message;
    l.engine = std::move(e.value());
    auto t = ChatTemplate::from_gguf(*l.file, l.engine->tokenizer());
    EXPECT_TRUE(t.ok()) << t.error().message;
    l.tmpl = std::make_unique<ChatTemplate>(t.value());
    return l;
}

ChatSessionOptions greedy(int64_t max_tokens) {
    ChatSessionOptions o;
    o.generation.sampling.temperature = 0.0f;
    o.generation.max_tokens = max_tokens;
    o.generation.ignore_eog = true;  // random weights: fixed lengths, whatever they pick
    return o;
}

// NMSE of got against ref, and the index of the worst element.
double nmse(const std::vector<float>& got, const std::vector<float>& ref, size_t& worst) {
    double err = 0, norm = 0, worst_d = -1;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double d = (double)got[i] - ref[i];
        err += d * d;
        norm += (double)ref[i] * ref[i];
        if (std::fabs(d) > worst_d) worst_d = std::fabs(d), worst = i;
    }
    return err / (norm > 0 ? norm : 1);
}

TEST(ChatSession, FixtureTemplateIsR1) {
    Loaded l = load();
    EXPECT_EQ(l.tmpl->format(), ChatFormat::kR1);
    EXPECT_TRUE(l.tmpl->generation_starts_in_reasoning());
}

TEST(ChatSession, PrefixReuseGivesFromScratchLogits) {
    for (int64_t budget : {-1, 2}) {  // reply 1 without / with a closed <think> (the answer kept)
        SCOPED_TRACE(budget);
        Loaded a = load();
        ChatSessionOptions opt = greedy(8);
        opt.reasoning_budget = budget;
        ChatSession sa(*a.engine, *a.tmpl, opt);
        auto r1 = sa.send("What is 17 * 24?");
        ASSERT_TRUE(r1.ok()) << r1.error().message;
        EXPECT_EQ(r1->stats.n_reused, 0);
        const std::vector<ChatMessage> before = sa.messages();  // user, assistant

        std::vector<float> reused_logits;
        ChatSession::Callbacks cb;
        cb.on_prompt_logits = [&](std::span<const float> l) { reused_logits.assign(l.begin(), l.end()); };
        auto r2 = sa.send("And 408 / 8?", cb);
        ASSERT_TRUE(r2.ok()) << r2.error().message;
        // Everything up to the first reply's <｜Assistant｜> at least is reused; R1 drops the
        // <think> part of earlier replies, so not all of the cache can be.
        EXPECT_GT(r2->stats.n_reused, 5);
        EXPECT_LT(r2->stats.n_reused, r2->stats.n_prompt);

        // The same conversation on a fresh engine, evaluated from scratch.
        Loaded b = load();
        ChatSession sb(*b.engine, *b.tmpl, opt);
        ASSERT_TRUE(sb.set_messages(before).ok());
        std::vector<float> scratch_logits;
        cb.on_prompt_logits = [&](std::span<const float> l) { scratch_logits.assign(l.begin(), l.end()); };
        auto r2b = sb.send("And 408 / 8?", cb);
        ASSERT_TRUE(r2b.ok()) << r2b.error().message;
        EXPECT_EQ(r2b->stats.n_reused, 0);
        EXPECT_EQ(r2b->stats.n_prompt, r2->stats.n_prompt);

        ASSERT_EQ(reused_logits.size(), scratch_logits.size());
        ASSERT_FALSE(reused_logits.empty());
        size_t worst = 0;
        const double e = nmse(reused_logits, scratch_logits, worst);
        EXPECT_LE(e, 1e-6) << "worst index " << worst << ": got " << reused_logits[worst] << ", from scratch "
                           << scratch_logits[worst];
        EXPECT_EQ(r2->raw, r2b->raw);  // greedy: the same reply
        EXPECT_EQ(sa.cached_tokens(), sb.cached_tokens());
    }
}

TEST(ChatSession, ReasoningBudgetForcesCloseTag) {
    Loaded l = load();
    const Tokenizer& tok = l.engine->tokenizer();
    const int32_t close_id = tok.find_token("</think>");
    ASSERT_GE(close_id, 0);
    for (int64_t budget : {0, 1, 3}) {
        SCOPED_TRACE(budget);
        ChatSessionOptions opt = greedy(10);
        opt.reasoning_budget = budget;
        ChatSession s(*l.engine, *l.tmpl, opt);
        std::string streamed_reasoning, streamed_content;
        ChatSession::Callbacks cb;
        cb.on_delta = [&](const ReasoningDelta& d) {
            streamed_reasoning += d.reasoning;
            streamed_content += d.content;
        };
        auto r = s.send("Hi", cb);
        ASSERT_TRUE(r.ok()) << r.error().message;
        const ChatTurnStats& st = r->stats;
        EXPECT_TRUE(st.budget_forced);
        EXPECT_EQ(st.n_reasoning, budget);
        EXPECT_EQ(st.n_generated, 10);
        // The token after the budget's reasoning tokens is </think>, fed to the model.
        const auto& cached = s.cached_tokens();
        ASSERT_GT((int64_t)cached.size(), st.n_prompt + budget);
        EXPECT_EQ(cached[(size_t)(st.n_prompt + budget)], close_id);
        EXPECT_NE(r->raw.find("</think>"), std::string::npos) << r->raw;
        EXPECT_EQ(r->raw.rfind("<think>\n", 0), 0u);
        EXPECT_EQ(streamed_reasoning, r->reasoning);
        EXPECT_EQ(streamed_content, r->content);
        // The history keeps the reply whole; the next rendering drops its <think> part.
        ASSERT_EQ(s.messages().size(), 2u);
        EXPECT_EQ(s.messages()[1].content.value_or(""), r->raw);
    }
}

TEST(ChatSession, NoBudgetNoForcing) {
    Loaded l = load();
    ChatSession s(*l.engine, *l.tmpl, greedy(6));
    auto r = s.send("Hi");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->stats.budget_forced);
    EXPECT_EQ(r->stats.n_generated, 6);
}

TEST(ChatSession, CancelStopsBetweenTokens) {
    Loaded l = load();
    ChatSession s(*l.engine, *l.tmpl, greedy(100));
    int polls = 0;
    ChatSession::Callbacks cb;
    cb.cancelled = [&] { return ++polls > 4; };
    auto r = s.send("Hi", cb);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->stats.reason, FinishReason::kCancelled);
    EXPECT_EQ(r->stats.n_generated, 4);
    EXPECT_EQ(s.messages().size(), 2u);
    // The session goes on after a cancel.
    auto r2 = s.send("Again");
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    EXPECT_GT(r2->stats.n_reused, 0);
}

TEST(ChatSession, ResetKeepsSystemAndReusesCache) {
    Loaded l = load();
    ChatSessionOptions opt = greedy(4);
    opt.system = "You are terse.";
    ChatSession s(*l.engine, *l.tmpl, opt);
    ASSERT_EQ(s.messages().size(), 1u);
    ASSERT_TRUE(s.send("One").ok());
    ASSERT_TRUE(s.send("Two").ok());
    EXPECT_EQ(s.messages().size(), 5u);
    s.reset();
    ASSERT_EQ(s.messages().size(), 1u);
    EXPECT_EQ(s.messages()[0].role, "system");
    auto r = s.send("Three");
    ASSERT_TRUE(r.ok()) << r.error().message;
    // BOS + system text + <｜User｜> are still in the cache.
    EXPECT_GE(r->stats.n_reused, 3);
    EXPECT_EQ(s.messages().size(), 3u);
}

TEST(ChatSession, ContextFullIsAnErrorAndHistoryUnchanged) {
    Loaded l = load(/*n_ctx=*/64);
    ChatSession s(*l.engine, *l.tmpl, greedy(4));
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "word ";
    auto r = s.send(long_text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::kContextFull);
    EXPECT_TRUE(s.messages().empty());
    auto ok = s.send("Hi");
    EXPECT_TRUE(ok.ok());
}

TEST(ChatSession, GenerationStopsAtContextEnd) {
    Loaded l = load(/*n_ctx=*/64);
    ChatSession s(*l.engine, *l.tmpl, greedy(-1));
    auto r = s.send("Hi");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->stats.reason, FinishReason::kContextFull);
    EXPECT_LE((int64_t)s.cached_tokens().size(), l.engine->n_ctx());
}

TEST(ChatSession, R1SamplingDefaults) {
    SamplingParams s;
    apply_chat_format_defaults(ChatFormat::kR1, s, false, false);
    EXPECT_FLOAT_EQ(s.temperature, 0.6f);
    EXPECT_FLOAT_EQ(s.top_p, 0.95f);
    SamplingParams u;
    u.temperature = 0.2f;
    u.top_p = 0.5f;
    apply_chat_format_defaults(ChatFormat::kR1, u, true, true);
    EXPECT_FLOAT_EQ(u.temperature, 0.2f);
    EXPECT_FLOAT_EQ(u.top_p, 0.5f);
    SamplingParams c;
    apply_chat_format_defaults(ChatFormat::kChatML, c, false, false);
    EXPECT_FLOAT_EQ(c.temperature, SamplingParams{}.temperature);
}

}  // namespace
}  // namespace retort
