// The sampler chain: penalties -> top-k -> top-p -> min-p -> temperature -> draw.
// Semantics follow llama.cpp's samplers of the same names; the code is ours and avoids touching
// the whole vocabulary more than once per stage (152K entries for Qwen2).
#include "sampling/sampler.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

namespace retort {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// e^x for x <= 0 (the sampler only exponentiates logit - max), to ~1e-7 relative: Cody-Waite
// range reduction x = n*ln2 + r, |r| <= ln2/2, Cephes' minimax polynomial for e^r, and 2^n built
// in the exponent bits. Ours rather than libm's so that (a) the weights, and so the tokens for a
// seed, do not depend on the platform's expf, and (b) loops over 152K logits vectorize: the
// range checks are integer masks, since float compares (which may trap) block GCC's vectorizer
// without -fno-trapping-math. |x| > 87 (past float's normal range), -inf and NaN give 0, so a
// NaN logit weighs like -inf. A positive x is taken as -x: callers never pass one.
inline float exp_approx(float x) {
    const int32_t mag = std::bit_cast<int32_t>(x) & 0x7FFFFFFF;  // bits of |x|
    constexpr int32_t k87 = 0x42AE0000;                          // bits of 87.0f
    const int32_t beyond = (k87 - mag) >> 31;                     // all ones when |x| > 87 or NaN
    const float xc = std::bit_cast<float>(((mag & ~beyond) | (k87 & beyond)) | INT32_MIN);
    // n = round(xc / ln2) by the 1.5 * 2^23 trick: the add leaves n in the low mantissa bits.
    const float shifted = xc * 1.44269504f + 12582912.0f;
    const float fn = shifted - 12582912.0f;
    const int32_t n = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(12582912.0f);
    const float r = (xc - fn * 0.693359375f) - fn * -2.12194440e-4f;  // ln2 split in two parts
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    const float er = q * (r * r) + r + 1.0f;                      // e^r
    const float scale = std::bit_cast<float>((n + 127) << 23);    // 2^n, n in [-126, 0]
    return std::bit_cast<float>(std::bit_cast<int32_t>(er * scale) & ~beyond);
}

// sum(e^(x[i] - max)) in double. Eight float lanes per block of 256 let the compiler vectorize
// the exponentials; each block's partial sums are small, and blocks add up in double.
double sum_exp(const float* x, size_t n, float max_x) {
    double total = 0.0;
    size_t i = 0;
    for (; i + 256 <= n; i += 256) {
        float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t j = 0; j < 256; j += 8) {
            for (size_t l = 0; l < 8; ++l) lane[l] += exp_approx(x[i + j + l] - max_x);
        }
        for (float v : lane) total += v;
    }
    for (; i < n; ++i) total += exp_approx(x[i] - max_x);
    return total;
}

// Stores e^(logit - max) in .p for c[0 .. n) and returns their sum in double, vectorized the same
// way as sum_exp.
double weigh(TokenData* c, size_t n, float max_logit) {
    double total = 0.0;
    size_t i = 0;
    for (; i + 256 <= n; i += 256) {
        float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t j = 0; j < 256; j += 8) {
            for (size_t l = 0; l < 8; ++l) {
                const float w = exp_approx(c[i + j + l].logit - max_logit);
                c[i + j + l].p = w;
                lane[l] += w;
            }
        }
        for (float v : lane) total += v;
    }
    for (; i < n; ++i) {
        c[i].p = exp_approx(c[i].logit - max_logit);
        total += c[i].p;
    }
    return total;
}

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

// max + log(sum(exp(x - max))) over the raw logits, NaN as -inf.
double log_sum_exp(const float* logits, size_t n) {
    float max_logit = kNegInf;
    for (size_t i = 0; i < n; ++i) max_logit = logits[i] > max_logit ? logits[i] : max_logit;
    if (!std::isfinite(max_logit)) return max_logit;
    return static_cast<double>(max_logit) + std::log(sum_exp(logits, n, max_logit));
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
        return Error::bad_argument("sampling: top_k = {} is out of range; expected a count >= 1, "
                                   "or 0 or -1 for off", top_k);
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
    if (static_cast<size_t>(n_vocab) > kSortAllMax) {
        bucket_mass_.resize(kTopPBuckets);
        bucket_count_.resize(kTopPBuckets);
        spill_.resize(std::min(static_cast<size_t>(n_vocab), kSpillMax) + 1);
    }
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
// softmax over all current candidates, so the total needs one exp() pass; sorting is kept to the
// part of the order that decides the cut.
void Sampler::apply_top_p(Chain& ch, float max_logit) {
    TokenData* c = cand_.data();
    // Unnormalized weights e^(l - max) go in .p; the prefix is measured against their total.
    const double total = weigh(c, ch.n, max_logit);
    const double target = static_cast<double>(params_.top_p) * total;

    if (!ch.sorted && params_.min_p > 0.0f) {
        // Min-p, next in the chain, also keeps a prefix of this order (logit >= max + log(min_p)),
        // so the pair keeps the shorter prefix: sort only the min-p survivors, usually a handful.
        ch.n = keep_at_least(c, ch.n, max_logit + std::log(params_.min_p));
        std::sort(c, c + ch.n, before);
        ch.sorted = true;
    }
    if (!ch.sorted && ch.n > kSortAllMax && top_p_by_buckets(ch, max_logit, target)) return;
    if (!ch.sorted) {
        std::sort(c, c + ch.n, before);
        ch.sorted = true;
    }
    double cum = 0.0;
    for (size_t i = 0; i < ch.n; ++i) {
        cum += c[i].p;
        if (cum >= target) {
            ch.n = i + 1;
            break;
        }
    }
}

// Top-p over a large unsorted set without sorting it. Tokens go into buckets by distance below
// the best logit (bucket 0 holds the best); bucket order is logit order and equal logits share a
// bucket, so the sorted prefix is: every bucket above the one where the running mass crosses the
// target, plus a sorted prefix of that one bucket. Only that bucket is sorted. Returns false, with
// nothing changed, when the crossing bucket is too big to spill; the caller then sorts.
bool Sampler::top_p_by_buckets(Chain& ch, float max_logit, double target) {
    TokenData* c = cand_.data();
    // Tokens more than kSpan below the best weigh under e^-64 of it; they share the last bucket.
    constexpr float kSpan = 64.0f;
    float lowest = max_logit;
    for (size_t i = 0; i < ch.n; ++i) {
        if (c[i].p > 0.0f) lowest = std::min(lowest, c[i].logit);
    }
    const size_t n_buckets = bucket_mass_.size();
    const float span = std::min(kSpan, max_logit - lowest);
    const float scale = span > 0.0f ? static_cast<float>(n_buckets - 1) / span : 0.0f;
    auto bucket_of = [&](float logit) -> size_t {
        const float d = (max_logit - logit) * scale;  // >= 0, monotone in logit; inf for -inf
        return d < static_cast<float>(n_buckets - 1) ? static_cast<size_t>(d) : n_buckets - 1;
    };

    std::fill(bucket_mass_.begin(), bucket_mass_.end(), 0.0);
    std::fill(bucket_count_.begin(), bucket_count_.end(), 0u);
    for (size_t i = 0; i < ch.n; ++i) {
        const size_t b = bucket_of(c[i].logit);
        bucket_mass_[b] += c[i].p;
        ++bucket_count_[b];
    }
    double cum = 0.0;
    size_t cross = 0;
    while (cross < n_buckets && cum + bucket_mass_[cross] < target) cum += bucket_mass_[cross++];
    if (cross == n_buckets) return true;  // rounding kept the target out of reach: keep all
    if (bucket_count_[cross] >= spill_.size()) return false;

    // Buckets above `cross` move to the front in id order; the crossing bucket goes to spill_.
    // Branch-free: every token is written to both places and the counters advance only for the
    // ones that belong (about a fifth of tokens are kept: a branch here mispredicts constantly).
    // Writing c[m] is safe as m <= i; spill_ has one slot past the largest bucket it accepts.
    size_t m = 0;
    size_t s = 0;
    for (size_t i = 0; i < ch.n; ++i) {
        const TokenData t = c[i];
        const size_t b = bucket_of(t.logit);
        c[m] = t;
        m += b < cross;
        spill_[s] = t;
        s += b == cross;
    }
    std::sort(spill_.begin(), spill_.begin() + static_cast<std::ptrdiff_t>(s), before);
    size_t j = 0;
    while (j < s) {
        cum += spill_[j].p;
        c[m++] = spill_[j++];
        if (cum >= target) break;
    }
    ch.n = m;
    ch.sorted = false;  // above-bucket tokens stay in id order: deterministic, not ranked
    return true;
}

// Min-p (Nguyen et al. 2024): keep tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p).
void Sampler::apply_min_p(Chain& ch, float max_logit) {
    TokenData* c = cand_.data();
    const float min_logit = max_logit + std::log(params_.min_p);
    if (ch.sorted) {
        size_t i = 1;  // the best token always stays
        while (i < ch.n && c[i].logit >= min_logit) ++i;
        ch.n = i;
        return;
    }
    ch.n = keep_at_least(c, ch.n, min_logit);
    std::sort(c, c + ch.n, before);
    ch.sorted = true;
}

// Temperature, then softmax over the survivors.
void Sampler::softmax(Chain& ch) {
    TokenData* c = cand_.data();
    const size_t n = ch.n;
    float max_logit = c[0].logit;
    if (!ch.sorted) {
        for (size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, c[i].logit);
    }
    const float temp = params_.temperature;
    double sum = 0.0;
    if (std::isfinite(max_logit)) {
        for (size_t i = 0; i < n; ++i) c[i].logit /= temp;
        sum = weigh(c, n, max_logit / temp);
    }
    if (!(sum > 0.0) || !std::isfinite(sum)) {
        // All -inf, or a +inf logit: no distribution to draw from. Keep the best candidate.
        std::swap(c[0], *std::min_element(c, c + n, before));
        c[0].p = 1.0f;
        ch.n = 1;
        return;
    }
    for (size_t i = 0; i < n; ++i) c[i].p = static_cast<float>(c[i].p / sum);
}

std::span<const TokenData> Sampler::candidates(const float* logits) {
    if (params_.temperature <= 0.0f) {
        // Greedy: every stage keeps the best token, so only the argmax of the penalized logits
        // matters; `before` breaks ties toward the lowest id.
        select_top(logits, 1);
        cand_[0].p = 1.0f;
        return {cand_.data(), 1};
    }
    Chain ch;
    const int32_t k = params_.top_k;
    if (k > 0 && k < n_vocab_) {
        ch = {select_top(logits, static_cast<size_t>(k)), true};
    } else {
        ch = {fill_all(logits), false};
    }
    float max_logit = cand_[0].logit;
    if (!ch.sorted) {
        for (size_t i = 1; i < ch.n; ++i) max_logit = std::max(max_logit, cand_[i].logit);
    }
    // Truncation uses the untempered distribution, as llama.cpp's chain does.
    if (params_.top_p < 1.0f && ch.n > 1) apply_top_p(ch, max_logit);
    if (params_.min_p > 0.0f && ch.n > 1) apply_min_p(ch, max_logit);
    softmax(ch);
    return {cand_.data(), ch.n};
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
