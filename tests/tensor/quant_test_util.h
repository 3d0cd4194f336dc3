// Helpers shared by the quantization tests: every supported type (read from the traits table,
// so a new row is tested without touching this folder), seeded data, error metrics.
#pragma once

#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace retort::test {

// Every row of the traits table, in id order.
inline std::vector<const TypeTraits*> all_types() {
    std::vector<const TypeTraits*> out;
    for (uint32_t id = 0; id < (uint32_t)kDTypeIdLimit; ++id)
        if (const TypeTraits* t = find_traits(id)) out.push_back(t);
    return out;
}

// gtest parameter names: "Q4_K" etc.
inline std::string type_param_name(const testing::TestParamInfo<const TypeTraits*>& info) {
    return info.param->name;
}

// n samples of N(0, sigma^2); every `outlier_every`-th one (if > 0) scaled by `outlier_gain`,
// the way a few channels of real weight matrices are much larger than the rest.
inline std::vector<float> normal_data(int64_t n, uint32_t seed, float sigma = 1.0f,
                                      int outlier_every = 0, float outlier_gain = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x((size_t)n);
    for (int64_t i = 0; i < n; ++i) {
        x[(size_t)i] = dist(rng);
        if (outlier_every > 0 && i % outlier_every == 0) x[(size_t)i] *= outlier_gain;
    }
    return x;
}

struct ErrorStats {
    double rmse = 0;
    double max_abs = 0;
    int64_t worst = -1;
    int64_t n_nonfinite = 0;
};

inline ErrorStats compare(const std::vector<float>& got, const std::vector<float>& want) {
    ErrorStats s;
    double sum2 = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) {
            ++s.n_nonfinite;
            continue;
        }
        const double e = std::fabs((double)got[i] - (double)want[i]);
        sum2 += e * e;
        if (e > s.max_abs) {
            s.max_abs = e;
            s.worst = (int64_t)i;
        }
    }
    s.rmse = want.empty() ? 0 : std::sqrt(sum2 / (double)want.size());
    return s;
}

// quantize then dequantize n values through a type's reference functions.
inline std::vector<float> round_trip(const TypeTraits& t, const std::vector<float>& x) {
    const int64_t n = (int64_t)x.size();
    std::vector<uint8_t> q(row_bytes(t, n));
    std::vector<float> y((size_t)n);
    t.quantize_row(x.data(), q.data(), n);
    t.dequantize_row(q.data(), y.data(), n);
    return y;
}

}  // namespace retort::test
