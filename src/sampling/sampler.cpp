// The sampler chain: penalties -> top-k -> top-p -> min-p -> temperature -> draw.
// Semantics follow llama.cpp's samplers of the same names; the code is ours and avoids touching
// the whole vocabulary more than once per stage (152K entries for Qwen2).
#include "sampling/sampler.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

namespace retort {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A NaN logit (a broken model row) ranks as -inf, so every comparison below is a strict weak
// order and std::sort / heaps stay in bounds whatever the model produced.
inline float sane(float x) { return x == x ? x : kNegInf; }

// The one order every selection and sort uses: higher logit first, lower id on ties. It is
// total, so which tokens survive, and in what order, never depends on the standard library's
// algorithms, and a seed gives the same tokens everywhere.
inline bool before(const TokenData& a, const TokenData& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Writes the k best of logits[0 .. n) (by `before`, NaN as -inf) to out[0 .. k), unsorted.
// A heap of the k best so far whose root is the worst of them: one compare per token, and the
// heap is touched only when a token beats the root. k <= n.
void scan_top(const float* logits, size_t n, TokenData* out, size_t k) {
    for (size_t i = 0; i < k; ++i) out[i] = {static_cast<int32_t>(i), sane(logits[i]), 0.0f};
    std::make_heap(out, out + k, before);
    float worst = out[0].logit;
    for (size_t i = k; i < n; ++i) {
        const float x = logits[i];
        // Strictly greater: on a tie the root has the lower id, so it ranks first and stays.
        // A NaN compares false and never enters.
        if (x > worst) {
            std::pop_heap(out, out + k, before);
            out[k - 1] = {static_cast<int32_t>(i), x, 0.0f};
            std::push_heap(out, out + k, before);
            worst = out[0].logit;
        }
    }
}

// Moves candidates with logit >= min_logit to the front, keeping their order; returns how many.
size_t keep_at_least(TokenData* c, size_t n, float min_logit) {
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
        if (c[i].logit >= min_logit) c[m++] = c[i];
    }
    return m;
}

// max + log(sum(exp(x - max))) over the raw logits, NaN as -inf; accumulated in double.
double log_sum_exp(const float* logits, size_t n) {
    float max_logit = kNegInf;
    for (size_t i = 0; i < n; ++i) max_logit = std::max(max_logit, sane(logits[i]));
    if (!std::isfinite(max_logit)) return max_logit;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(sane(logits[i]) - max_logit);
    return static_cast<double>(max_logit) + std::log(sum);
}

uint64_t random_seed() {
    uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    try {
        std::random_device rd;
        seed ^= (static_cast<uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
        // No entropy source: the clock alone still differs from run to run.
    }
    return seed;
}

}  // namespace

Status SamplingParams::validate() const {
    if (!std::isfinite(temperature) || temperature < 0.0f)
        return Error::bad_argument("sampling: temperature = {} is out of range; expected a finite "
                                   "value >= 0 (0 = greedy)", temperature);
    if (top_k < -1)
        return Error::bad_argument("sampling: top_k = {} is out of range; expected >= 0 "
                                   "(0 or -1 = off)", top_k);
    if (!(top_p > 0.0f && top_p <= 1.0f))
        return Error::bad_argument("sampling: top_p = {} is out of range; expected 0 < top_p <= 1 "
                                   "(1 = off)", top_p);
    if (!(min_p >= 0.0f && min_p <= 1.0f))
        return Error::bad_argument("sampling: min_p = {} is out of range; expected 0 <= min_p <= 1 "
                                   "(0 = off)", min_p);
    if (!std::isfinite(repeat_penalty) || repeat_penalty <= 0.0f)
        return Error::bad_argument("sampling: repeat_penalty = {} is out of range; expected a "
                                   "finite value > 0 (1 = off)", repeat_penalty);
    if (repeat_last_n < 0 || repeat_last_n > kMaxRepeatLastN)
        return Error::bad_argument("sampling: repeat_last_n = {} is out of range; expected 0 <= "
                                   "repeat_last_n <= {} (0 = off); -1 (whole context) is resolved "
                                   "to n_ctx by the caller", repeat_last_n, kMaxRepeatLastN);
    if (!std::isfinite(presence_penalty))
        return Error::bad_argument("sampling: presence_penalty = {} is not a finite number",
                                   presence_penalty);
    if (!std::isfinite(frequency_penalty))
        return Error::bad_argument("sampling: frequency_penalty = {} is not a finite number",
                                   frequency_penalty);
    return ok_status();
}

Result<Sampler> Sampler::create(const SamplingParams& params, int32_t n_vocab) {
    RETORT_TRY(params.validate());
    if (n_vocab <= 0)
        return Error::bad_argument("sampling: n_vocab = {} is out of range; expected > 0", n_vocab);
    return Sampler(params, n_vocab, params.seed ? *params.seed : random_seed());
}

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab, uint64_t seed)
    : params_(params), n_vocab_(n_vocab), seed_(seed), rng_(seed) {
    params_.seed = seed;
    cand_.resize(static_cast<size_t>(n_vocab));
    const bool any_penalty = params.repeat_penalty != 1.0f || params.presence_penalty != 0.0f ||
                             params.frequency_penalty != 0.0f;
    if (any_penalty && params.repeat_last_n > 0) {
        ring_.resize(static_cast<size_t>(params.repeat_last_n));
        counts_.assign(static_cast<size_t>(n_vocab), 0);
    }
}

void Sampler::accept(int32_t token) {
    if (!penalties_on() || token < 0 || token >= n_vocab_) return;
    // While filling, entries sit in ring_[0 .. ring_size_) and ring_head_ == ring_size_; once
    // full, ring_head_ is the oldest entry, which the new token replaces.
    if (ring_size_ == ring_.size()) {
        --counts_[static_cast<size_t>(ring_[ring_head_])];
    } else {
        ++ring_size_;
    }
    ring_[ring_head_] = token;
    ++counts_[static_cast<size_t>(token)];
    ring_head_ = (ring_head_ + 1) % ring_.size();
}

void Sampler::reset() {
    for (size_t i = 0; i < ring_size_; ++i) counts_[static_cast<size_t>(ring_[i])] = 0;
    ring_head_ = 0;
    ring_size_ = 0;
    rng_.reseed(seed_);
}

// llama.cpp's rule: the repetition penalty divides a positive logit and multiplies a negative
// one (dividing a negative logit would make the token *more* likely); then OpenAI's frequency
// (per occurrence) and presence (once) penalties are subtracted.
float Sampler::penalize(float logit, int32_t count) const {
    logit = logit <= 0.0f ? logit * params_.repeat_penalty : logit / params_.repeat_penalty;
    return logit - (static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty);
}

// Visits each distinct id in the window once: a visited id's count is negated as the mark,
// then every mark is undone. No set, no allocation, O(repeat_last_n).
template <typename F>
void Sampler::for_each_recent_token(F&& f) {
    for (size_t i = 0; i < ring_size_; ++i) {
        int32_t& count = counts_[static_cast<size_t>(ring_[i])];
        if (count > 0) {
            f(ring_[i], count);
            count = -count;
        }
    }
    for (size_t i = 0; i < ring_size_; ++i) {
        int32_t& count = counts_[static_cast<size_t>(ring_[i])];
        if (count < 0) count = -count;
    }
}

size_t Sampler::fill_all(const float* logits) {
    const size_t n = static_cast<size_t>(n_vocab_);
    TokenData* c = cand_.data();
    for (size_t i = 0; i < n; ++i) c[i] = {static_cast<int32_t>(i), sane(logits[i]), 0.0f};
    if (penalties_on()) {
        // cand_ is still in id order, so a token's entry is at its id.
        for_each_recent_token([&](int32_t id, int32_t count) {
            c[id].logit = penalize(c[id].logit, count);
        });
    }
    return n;
}

size_t Sampler::select_top(const float* logits, size_t k) {
    const size_t n = static_cast<size_t>(n_vocab_);
    assert(k >= 1 && k <= n);
    TokenData* c = cand_.data();
    // Penalties change at most ring_size_ logits. Take the best k + ring_size_ raw logits: with
    // the window's tokens removed, at least k remain and they are the best k unpenalized ones;
    // adding back every window token at its penalized logit gives a set that holds the true top k.
    const size_t h = ring_size_;
    const size_t kk = std::min(n, k + h);
    if (kk * 8 > n) {
        // Small vocabulary or huge k: a heap gains nothing over one selection pass.
        fill_all(logits);
        std::nth_element(c, c + (k - 1), c + n, before);
        std::sort(c, c + k, before);
        return k;
    }
    scan_top(logits, n, c, kk);
    size_t m = kk;
    if (h > 0) {
        m = 0;
        for (size_t i = 0; i < kk; ++i) {
            if (counts_[static_cast<size_t>(c[i].id)] == 0) c[m++] = c[i];
        }
        for_each_recent_token([&](int32_t id, int32_t count) {
            c[m++] = {id, penalize(sane(logits[id]), count), 0.0f};
        });
    }
    k = std::min(k, m);
    std::partial_sort(c, c + k, c + m, before);
    return k;
}

// Top-p (nucleus, Holtzman et al. 2019): keep the smallest most-likely-first prefix whose
// probability mass reaches top_p; the token that crosses it is kept. Probabilities are the
// softmax over all current candidates, so the total mass needs one exp() pass; sorting is kept
// to the prefix.
size_t Sampler::apply_top_p(size_t n, bool sorted, float max_logit) {
    TokenData* c = cand_.data();
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) total += std::exp(c[i].logit - max_logit);
    const double target = static_cast<double>(params_.top_p) * total;

    double cum = 0.0;
    auto walk = [&](size_t from, size_t to) -> size_t {  // the cut, or 0 if not reached
        for (size_t i = from; i < to; ++i) {
            cum += std::exp(c[i].logit - max_logit);
            if (cum >= target) return i + 1;
        }
        return 0;
    };

    if (sorted) {
        const size_t cut = walk(0, n);
        return cut ? cut : n;
    }
    if (params_.min_p > 0.0f) {
        // Min-p, next in the chain, also keeps a prefix of this order (logit >= max + log(min_p)),
        // so the pair keeps the shorter prefix: sort only the min-p survivors, usually a handful.
        const size_t m = keep_at_least(c, n, max_logit + std::log(params_.min_p));
        std::sort(c, c + m, before);
        const size_t cut = walk(0, m);
        return cut ? cut : m;
    }
    // No bound from top-k or min-p: sort the best 256, and 8x more each time the prefix needs it.
    size_t done = 0;
    size_t m = std::min<size_t>(n, 256);
    for (;;) {
        if (m < n) std::nth_element(c + done, c + m, c + n, before);
        std::sort(c + done, c + m, before);
        const size_t cut = walk(done, m);
        if (cut) return cut;
        if (m == n) return n;
        done = m;
        m = std::min(n, m * 8);
    }
}

// Min-p (Nguyen et al. 2024): keep tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p).
size_t Sampler::apply_min_p(size_t n, bool sorted, float max_logit) {
    TokenData* c = cand_.data();
    const float min_logit = max_logit + std::log(params_.min_p);
    if (sorted) {
        size_t i = 1;  // the best token always stays
        while (i < n && c[i].logit >= min_logit) ++i;
        return i;
    }
    const size_t m = keep_at_least(c, n, min_logit);
    std::sort(c, c + m, before);
    return m;
}

// Temperature, then softmax over the survivors.
size_t Sampler::softmax(size_t n, bool sorted) {
    TokenData* c = cand_.data();
    float max_logit = c[0].logit;
    if (!sorted) {
        for (size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, c[i].logit);
    }
    const float temp = params_.temperature;
    double sum = 0.0;
    if (std::isfinite(max_logit)) {
        for (size_t i = 0; i < n; ++i) {
            c[i].logit /= temp;
            c[i].p = std::exp(c[i].logit - max_logit / temp);
            sum += c[i].p;
        }
    }
    if (!(sum > 0.0) || !std::isfinite(sum)) {
        // All -inf, or a +inf logit: no distribution to draw from. Keep the best candidate.
        std::swap(c[0], *std::min_element(c, c + n, before));
        c[0].p = 1.0f;
        return 1;
    }
    for (size_t i = 0; i < n; ++i) c[i].p = static_cast<float>(c[i].p / sum);
    return n;
}

std::span<const TokenData> Sampler::candidates(const float* logits) {
    if (params_.temperature <= 0.0f) {
        // Greedy: every stage keeps the best token, so only the argmax of the penalized logits
        // matters; `before` breaks ties toward the lowest id.
        select_top(logits, 1);
        cand_[0].p = 1.0f;
        return {cand_.data(), 1};
    }
    size_t n = 0;
    bool sorted = false;
    const int32_t k = params_.top_k;
    if (k > 0 && k < n_vocab_) {
        n = select_top(logits, static_cast<size_t>(k));
        sorted = true;
    } else {
        n = fill_all(logits);
    }
    float max_logit = cand_[0].logit;
    if (!sorted) {
        for (size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, cand_[i].logit);
    }
    // Truncation uses the untempered distribution, as llama.cpp's chain does.
    if (params_.top_p < 1.0f && n > 1) {
        n = apply_top_p(n, sorted, max_logit);
        sorted = true;
    }
    if (params_.min_p > 0.0f && n > 1) {
        n = apply_min_p(n, sorted, max_logit);
        sorted = true;
    }
    n = softmax(n, sorted);
    return {cand_.data(), n};
}

int32_t Sampler::sample(const float* logits) {
    const std::span<const TokenData> c = candidates(logits);
    if (c.size() == 1) return c[0].id;  // no draw, as llama.cpp: the RNG advances only on a choice
    // Inverse CDF over the candidates in their order; the target is scaled by the summed float
    // probabilities so rounding cannot push it past the last bucket.
    double total = 0.0;
    for (const TokenData& t : c) total += t.p;
    const double target = rng_.uniform() * total;
    double cum = 0.0;
    for (const TokenData& t : c) {
        cum += t.p;
        if (cum > target) return t.id;
    }
    for (size_t i = c.size(); i-- > 0;) {
        if (c[i].p > 0.0f) return c[i].id;
    }
    return c[0].id;
}

float Sampler::token_logprob(const float* logits, int32_t token) const {
    if (token < 0 || token >= n_vocab_) return kNegInf;
    const double lse = log_sum_exp(logits, static_cast<size_t>(n_vocab_));
    const float x = sane(logits[token]);
    if (x == kNegInf) return kNegInf;
    return static_cast<float>(static_cast<double>(x) - lse);
}

std::vector<std::pair<int32_t, float>> Sampler::top_logprobs(const float* logits, int n) const {
    const size_t k = static_cast<size_t>(std::clamp(n, 0, n_vocab_));
    std::vector<std::pair<int32_t, float>> out;
    if (k == 0) return out;
    std::vector<TokenData> top(k);
    scan_top(logits, static_cast<size_t>(n_vocab_), top.data(), k);
    std::sort(top.begin(), top.end(), before);
    const double lse = log_sum_exp(logits, static_cast<size_t>(n_vocab_));
    out.reserve(k);
    for (const TokenData& t : top) {
        const float lp = t.logit == kNegInf ? kNegInf
                                            : static_cast<float>(static_cast<double>(t.logit) - lse);
        out.emplace_back(t.id, lp);
    }
    return out;
}

}  // namespace retort
