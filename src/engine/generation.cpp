#include "engine/generation.h"

namespace retort {

const char* finish_reason_api_name(FinishReason r) {
    switch (r) {
        case FinishReason::kEndOfGeneration:
        case FinishReason::kStopString: return "stop";
        case FinishReason::kMaxTokens:
        case FinishReason::kContextFull: return "length";
        case FinishReason::kCancelled: return "cancelled";
        case FinishReason::kNone: break;
    }
    return "none";
}

const char* finish_reason_text(FinishReason r) {
    switch (r) {
        case FinishReason::kEndOfGeneration: return "end of generation";
        case FinishReason::kStopString: return "stop string";
        case FinishReason::kMaxTokens: return "max tokens";
        case FinishReason::kContextFull: return "context full";
        case FinishReason::kCancelled: return "cancelled";
        case FinishReason::kNone: break;
    }
    return "not finished";
}

Result<Generation> Generation::create(const Tokenizer& tok, const GenerationOptions& opt) {
    for (const auto& s : opt.stop)
        if (s.empty()) return Error::bad_argument("stop strings must not be empty");
    auto sampler = Sampler::create(opt.sampling, tok.n_vocab());
    if (!sampler.ok()) return sampler.error();
    return Generation(tok, opt, std::move(sampler.value()));
}

Generation::Generation(const Tokenizer& tok, const GenerationOptions& opt, Sampler sampler)
    : tok_(&tok), opt_(opt), sampler_(std::move(sampler)), decoder_(tok), stops_(opt.stop) {
    if (opt_.max_tokens == 0) reason_ = FinishReason::kMaxTokens;
}

Generation::Step Generation::next(const float* logits) { return advance(sampler_.sample(logits)); }

Generation::Step Generation::force(int32_t token) { return advance(token); }

Generation::Step Generation::advance(int32_t token) {
    Step step;
    step.token = token;
    if (done()) return step;
    sampler_.accept(token);
    tokens_.push_back(token);
    ++n_generated_;
    if (!opt_.ignore_eog && tok_->is_eog(token)) {
        reason_ = FinishReason::kEndOfGeneration;
        return step;
    }
    const StopMatcher::Output out = stops_.feed(decoder_.push(token));
    step.text = out.text;
    if (out.stopped) {
        reason_ = FinishReason::kStopString;
    } else if (opt_.max_tokens > 0 && n_generated_ >= opt_.max_tokens) {
        reason_ = FinishReason::kMaxTokens;
    }
    return step;
}

std::string Generation::flush() {
    if (reason_ == FinishReason::kStopString) return "";
    return stops_.feed(decoder_.flush()).text + stops_.flush();
}

}  // namespace retort
