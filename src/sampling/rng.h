// Rng: the sampler's random source. xoshiro256** seeded through SplitMix64, written out here
// (not std::mt19937 + a std distribution, whose output differs between standard libraries) so
// one seed draws the same numbers everywhere. With the sampler's own exp() and total order, the
// same logits give the same tokens on any IEEE-754 target that does not fuse multiply-adds
// differently (x86-64 default flags do not fuse).
#pragma once

#include <cstdint>

namespace retort {

// SplitMix64 (Steele, Lea, Flood 2014): spreads a 64-bit seed over the xoshiro state, so that
// nearby seeds (0, 1, 2, ...) give unrelated streams and the state is never all zero.
inline uint64_t splitmix64_next(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// xoshiro256** 1.0 (Blackman, Vigna 2018, https://prng.di.unimi.it/xoshiro256starstar.c).
class Rng {
public:
    explicit Rng(uint64_t seed = 0) { reseed(seed); }

    void reseed(uint64_t seed) {
        uint64_t sm = seed;
        for (uint64_t& word : s_) word = splitmix64_next(sm);
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1): the top 53 bits scaled by 2^-53, exact in a double.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    uint64_t s_[4];
};

}  // namespace retort
