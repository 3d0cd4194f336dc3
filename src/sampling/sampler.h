// Sampler: turns one row of logits into a token. The chain follows llama.cpp's default order
// (penalties -> top-k -> top-p -> min-p -> temperature -> draw) over a candidate array, with a
// seeded RNG of our own. It also reports log-probabilities for the server's `logprobs` option.
// Tokenizing, stop strings (stop_strings.h) and grammar constraints are left to others.
#pragma once

#include "sampling/rng.h"
#include "util/error.h"

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace retort {

// What a request asks of the sampler. Defaults are llama.cpp's. validate() is the boundary
// check; a Sampler is only built from params that pass it.
struct SamplingParams {
    float temperature = 0.8f;       // >= 0; 0 means greedy (argmax, lowest id on ties)
    int32_t top_k = 40;             // keep the k most likely; 0 or -1 turns it off
    float top_p = 0.95f;            // (0, 1]: keep the smallest prefix with mass >= top_p; 1 = off
    float min_p = 0.05f;            // [0, 1]: drop tokens with p < min_p * p_max; 0 = off
    float repeat_penalty = 1.0f;    // > 0: divide positive logits / multiply negative; 1 = off
    int32_t repeat_last_n = 64;     // how many accepted tokens the penalties see; 0 = off
    float presence_penalty = 0.0f;  // subtracted once from every token in the window
    float frequency_penalty = 0.0f; // subtracted once per occurrence in the window
    std::optional<uint64_t> seed;   // unset: a random seed, readable back via Sampler::seed()

    // The largest penalty window we accept: more than any context we run, small enough that a
    // request cannot make us allocate gigabytes. A server maps llama.cpp's -1 (whole context)
    // to its n_ctx before building the params.
    static constexpr int32_t kMaxRepeatLastN = 1 << 20;

    [[nodiscard]] Status validate() const;
};

// One candidate in the chain: token id, its (penalized, scaled) logit, and after the chain its
// probability among the survivors.
struct TokenData {
    int32_t id;
    float logit;
    float p;
};

class Sampler {
public:
    // Validates params (and n_vocab > 0) and sizes every scratch buffer for n_vocab, so that
    // sample() never allocates. Memory: ~12 bytes per vocab entry (+4 with penalties on), plus
    // ~120 KiB of top-p scratch for vocabularies over 2048.
    static Result<Sampler> create(const SamplingParams& params, int32_t n_vocab);

    // Picks a token from logits[0 .. n_vocab). Does not record it: call accept() with the token
    // actually appended. Logits should be finite or -inf; a NaN counts as -inf.
    int32_t sample(const float* logits);

    // Records a token in the penalty window (last repeat_last_n accepted tokens, like
    // llama.cpp). Callers that want the prompt penalized too accept its tokens first; llama.cpp's
    // server does not. A no-op when no penalty is on. Ids outside [0, n_vocab) are ignored.
    void accept(int32_t token);

    // Forgets the penalty window and restarts the RNG from seed(): the next draws repeat the
    // ones after create().
    void reset();

    // The chain without the draw: the surviving candidates with probabilities summing to 1 and
    // logits divided by the temperature. Most likely first when top-k or min-p is on; otherwise
    // in an order that is deterministic but not ranked (id order when nothing was cut). sample()
    // draws from exactly this, in this order. The span is valid until the next call.
    std::span<const TokenData> candidates(const float* logits);

    // Log-softmax of the raw logits (no penalties, no temperature), as OpenAI's `logprobs`
    // reports them. token_logprob: the chosen token's. top_logprobs: the n most likely tokens,
    // best first, lowest id on ties. Each call makes one exp() pass over the vocabulary.
    // An id outside [0, n_vocab) gets -inf; n is clamped to [0, n_vocab].
    float token_logprob(const float* logits, int32_t token) const;
    std::vector<std::pair<int32_t, float>> top_logprobs(const float* logits, int n) const;

    const SamplingParams& params() const { return params_; }
    uint64_t seed() const { return seed_; }
    int32_t n_vocab() const { return n_vocab_; }

private:
    Sampler(const SamplingParams& params, int32_t n_vocab, uint64_t seed);

    bool penalties_on() const { return !ring_.empty(); }
    float penalize(float logit, int32_t count) const;
    template <typename F>
    void for_each_recent_token(F&& f);  // f(id, count) once per distinct token in the window

    // Fills cand_[0 .. k) with the k best tokens by penalized logit, sorted; returns k.
    size_t select_top(const float* logits, size_t k);
    // Fills cand_ with every token (penalized, in id order); returns n_vocab.
    size_t fill_all(const float* logits);
    struct Chain {
        size_t n = 0;         // survivors: cand_[0 .. n)
        bool sorted = false;  // best first by (logit desc, id asc)
    };
    void apply_top_p(Chain& ch, float max_logit);
    bool top_p_by_buckets(Chain& ch, float max_logit, double target);
    void apply_min_p(Chain& ch, float max_logit);
    void softmax(Chain& ch);

    // Top-p over an unsorted set larger than kSortAllMax uses kTopPBuckets buckets, and sorts a
    // crossing bucket of up to kSpillMax tokens in spill_ (more: it sorts the whole set).
    static constexpr size_t kSortAllMax = 2048;
    static constexpr size_t kTopPBuckets = 2048;
    static constexpr size_t kSpillMax = 8192;

    SamplingParams params_;
    int32_t n_vocab_ = 0;
    uint64_t seed_ = 0;
    Rng rng_;

    std::vector<TokenData> cand_;  // [n_vocab] scratch for the chain
    std::vector<double> bucket_mass_;     // [kTopPBuckets] top-p by buckets, large vocab only
    std::vector<uint32_t> bucket_count_;  // [kTopPBuckets]
    std::vector<TokenData> spill_;        // [min(n_vocab, kSpillMax) + 1]

    // Penalty window: a ring of the last repeat_last_n accepted ids, and how often each id occurs
    // in it. Both empty when no penalty is on.
    std::vector<int32_t> ring_;    // [repeat_last_n]
    std::vector<int32_t> counts_;  // [n_vocab]
    size_t ring_head_ = 0;         // oldest entry once the ring is full
    size_t ring_size_ = 0;
};

}  // namespace retort
