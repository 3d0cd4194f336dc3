#include "engine/chat_session.h"

#include <chrono>

namespace retort {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// What R1's generation prompt ends with: the model continues inside an open <think>.
constexpr const char* kOpenedReasoning = "<think>\n";
constexpr const char* kCloseTag = "</think>";

}  // namespace

void apply_chat_format_defaults(ChatFormat format, SamplingParams& s, bool temperature_set, bool top_p_set) {
    if (format != ChatFormat::kR1) return;
    if (!temperature_set) s.temperature = 0.6f;
    if (!top_p_set) s.top_p = 0.95f;
}

ChatSession::ChatSession(Engine& engine, ChatTemplate tmpl, ChatSessionOptions opt)
    : engine_(&engine), tmpl_(std::move(tmpl)), opt_(std::move(opt)) {
    reset();
}

void ChatSession::reset() {
    history_.clear();
    if (!opt_.system.empty()) history_.push_back(ChatMessage{"system", opt_.system, {}});
}

Status ChatSession::set_messages(std::vector<ChatMessage> messages) {
    auto text = tmpl_.render(messages, /*add_generation_prompt=*/false);
    if (!text.ok()) return text.error();
    history_ = std::move(messages);
    return ok_status();
}

Result<std::vector<int32_t>> ChatSession::prompt_tokens(bool add_generation_prompt) const {
    auto text = tmpl_.render(history_, add_generation_prompt);
    if (!text.ok()) return text.error();
    // The rendered text carries BOS and the special tokens as text.
    return engine_->tokenizer().encode(text.value(), /*add_bos=*/false, /*parse_special=*/true);
}

Result<std::vector<int32_t>> ChatSession::close_tag_tokens() const {
    const Tokenizer& tok = engine_->tokenizer();
    if (const int32_t id = tok.find_token(kCloseTag); id >= 0) return std::vector<int32_t>{id};
    std::vector<int32_t> ids = tok.encode(kCloseTag, /*add_bos=*/false, /*parse_special=*/true);
    if (ids.empty()) return Error::bad_argument("the vocabulary cannot spell '{}' to end the reasoning", kCloseTag);
    return ids;
}

Status ChatSession::evaluate(const std::vector<int32_t>& prompt, int64_t from, std::vector<float>& logits) {
    Batch batch;
    for (size_t i = (size_t)from; i < prompt.size(); ++i)
        batch.add(prompt[i], (int32_t)i, opt_.seq, i + 1 == prompt.size());
    return engine_->step(batch, logits);
}

Result<ChatReply> ChatSession::send(std::string user_text, const Callbacks& cb) {
    history_.push_back(ChatMessage{"user", std::move(user_text), {}});
    auto r = reply(cb);
    if (!r.ok()) history_.pop_back();
    return r;
}

Result<ChatReply> ChatSession::reply(const Callbacks& cb) {
    const Tokenizer& tok = engine_->tokenizer();
    auto rendered = prompt_tokens(/*add_generation_prompt=*/true);
    if (!rendered.ok()) return rendered.error();
    const std::vector<int32_t>& prompt = rendered.value();
    if (prompt.empty()) return Error::bad_argument("the conversation renders to no tokens");
    if ((int64_t)prompt.size() >= engine_->n_ctx())
        return Error::make(ErrorKind::kContextFull,
                           "the conversation is {} tokens; the context holds {} (raise --ctx or reset)", prompt.size(),
                           engine_->n_ctx());

    auto gen = Generation::create(tok, opt_.generation);
    if (!gen.ok()) return gen.error();
    Generation& g = gen.value();
    std::vector<int32_t> close_tag;
    if (opt_.reasoning_budget >= 0) {
        auto ct = close_tag_tokens();
        if (!ct.ok()) return ct.error();
        close_tag = std::move(ct.value());
    }

    // Keep the longest prefix the sequence already holds; at least the last prompt token is
    // evaluated again, for the logits the reply starts from. The KV cache is the truth: if
    // someone shortened the sequence, believe it.
    const int64_t held = engine_->kv().seq_len(opt_.seq);
    if ((int64_t)cached_.size() > held) cached_.resize((size_t)held);
    size_t keep = 0;
    while (keep < cached_.size() && keep < prompt.size() && cached_[keep] == prompt[keep]) ++keep;
    if (keep == prompt.size()) --keep;
    engine_->truncate(opt_.seq, (int64_t)keep);
    cached_.resize(keep);

    ChatReply out;
    ChatTurnStats& st = out.stats;
    st.n_prompt = (int64_t)prompt.size();
    st.n_reused = (int64_t)keep;

    const auto t_prompt = Clock::now();
    std::vector<float> logits;
    if (Status s = evaluate(prompt, (int64_t)keep, logits); !s.ok()) {
        engine_->truncate(opt_.seq, (int64_t)keep);
        return s.error();
    }
    cached_ = prompt;
    st.prompt_ms = ms_since(t_prompt);
    if (cb.on_prompt_logits) cb.on_prompt_logits(std::span<const float>(logits.data(), (size_t)engine_->n_vocab()));

    ReasoningSplitter::Options sopt;
    sopt.start_in_reasoning = tmpl_.generation_starts_in_reasoning();
    ReasoningSplitter split(sopt);
    if (sopt.start_in_reasoning) out.raw = kOpenedReasoning;
    const auto emit = [&](const ReasoningDelta& d) {
        if (!d.empty() && cb.on_delta) cb.on_delta(d);
    };
    const auto push = [&](const std::string& text) {
        if (text.empty()) return;
        out.raw += text;
        emit(split.push(text));
    };

    // One token per step until EOG, a stop string, the budget, the context end or a cancel.
    const auto t_gen = Clock::now();
    size_t n_forced_left = 0;  // close-tag tokens still to force after the first
    Batch batch;
    while (true) {
        if (cb.cancelled && cb.cancelled()) {
            g.end(FinishReason::kCancelled);
            break;
        }
        Generation::Step s;
        const bool was_reasoning = split.in_reasoning();
        if (n_forced_left > 0) {
            s = g.force(close_tag[close_tag.size() - n_forced_left--]);
        } else if (!st.budget_forced && opt_.reasoning_budget >= 0 && was_reasoning &&
                   st.n_reasoning >= opt_.reasoning_budget) {
            // The budget is spent: close the reasoning as the model would, and let it answer.
            st.budget_forced = true;
            n_forced_left = close_tag.size() - 1;
            s = g.force(close_tag[0]);
        } else {
            s = g.next(logits.data());
            if (was_reasoning) ++st.n_reasoning;
        }
        push(s.text);
        if (g.done()) break;
        if ((int64_t)cached_.size() >= engine_->n_ctx()) {
            g.end(FinishReason::kContextFull);
            break;
        }
        batch.clear();
        batch.add(s.token, (int32_t)cached_.size(), opt_.seq, true);
        if (Status e = engine_->step(batch, logits); !e.ok()) {
            engine_->truncate(opt_.seq, (int64_t)cached_.size());
            return e.error();
        }
        cached_.push_back(s.token);
    }
    push(g.flush());
    emit(split.finish());
    st.gen_ms = ms_since(t_gen);
    st.n_generated = g.n_generated();
    st.reason = g.reason();
    out.reasoning = split.reasoning();
    out.content = split.content();

    // The history keeps the reply as generated: R1's template drops the <think> part of earlier
    // turns itself. A reply cut off inside its reasoning keeps only its (empty) answer.
    history_.push_back(ChatMessage{"assistant", split.in_reasoning() ? out.content : out.raw, {}});

    ++totals_.turns;
    totals_.n_prompt += st.n_prompt;
    totals_.n_reused += st.n_reused;
    totals_.n_generated += st.n_generated;
    totals_.prompt_ms += st.prompt_ms;
    totals_.gen_ms += st.gen_ms;
    return out;
}

}  // namespace retort
