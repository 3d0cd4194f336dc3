// Shared by the test_simd_*.cpp files: the SIMD tables under test (each test runs once per
// table and skips where the CPU lacks it), buffers at chosen misalignments, seeded data.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"

namespace retort::simd_test {

// The SIMD tables, by name; a new ISA is one line here.
inline const std::vector<std::string>& simd_isas() {
    static const std::vector<std::string> isas = {"avx2", "avx512"};
    return isas;
}

// The table, or nullptr when this CPU cannot run it.
inline const KernelTable* simd_table(const std::string& isa) { return select_kernels(isa.c_str()); }

// Bytes that start `offset` bytes past a 64-byte boundary, so a kernel sees an address no
// vector load can assume aligned.
class OffsetBuffer {
public:
    OffsetBuffer(size_t size, size_t offset) : storage_(size + offset + 64), offset_(offset) {}
    uint8_t* data() {
        const auto base = reinterpret_cast<uintptr_t>(storage_.data());
        return storage_.data() + ((64 - base % 64) % 64) + offset_;
    }
    // A copy of `bytes` at this buffer's offset.
    static OffsetBuffer copy_of(const std::vector<uint8_t>& bytes, size_t offset) {
        OffsetBuffer b(bytes.size(), offset);
        if (!bytes.empty()) std::memcpy(b.data(), bytes.data(), bytes.size());
        return b;
    }

private:
    std::vector<uint8_t> storage_;
    size_t offset_;
};

// n samples of N(0, sigma^2); every `outlier_every`-th (if > 0) times `outlier_gain`, as the
// few large channels of real activations.
inline std::vector<float> normal_floats(int64_t n, uint32_t seed, float sigma = 1.0f, int outlier_every = 0,
                                        float outlier_gain = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x((size_t)n);
    for (int64_t i = 0; i < n; ++i) {
        x[(size_t)i] = dist(rng);
        if (outlier_every > 0 && i % outlier_every == 0) x[(size_t)i] *= outlier_gain;
    }
    return x;
}

// gtest parameter names must be alphanumeric or '_'.
inline std::string param_name(std::string s) {
    for (char& c : s)
        if (!std::isalnum((unsigned char)c)) c = '_';
    return s;
}

}  // namespace retort::simd_test
