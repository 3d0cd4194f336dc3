#include "runtime/metrics.h"

#include <algorithm>
#include <cassert>

namespace retort {

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
    assert(bounds_.size() <= kMaxBuckets && std::is_sorted(bounds_.begin(), bounds_.end()));
    if (bounds_.size() > kMaxBuckets) bounds_.resize(kMaxBuckets);
}

void Histogram::observe(double v) {
    const size_t i = (size_t)(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.upper_bounds = bounds_;
    uint64_t acc = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        acc += counts_[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(acc);
    }
    s.count = acc;
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

double Histogram::Snapshot::quantile(double q) const {
    if (count == 0) return 0;
    const double rank = q * (double)count;
    for (size_t i = 0; i < cumulative.size(); ++i) {
        if ((double)cumulative[i] < rank) continue;
        if (i == upper_bounds.size()) return upper_bounds.empty() ? 0 : upper_bounds.back();
        const double lo = i == 0 ? 0 : upper_bounds[i - 1], hi = upper_bounds[i];
        const double below = i == 0 ? 0 : (double)cumulative[i - 1];
        const double in = (double)cumulative[i] - below;
        return in <= 0 ? hi : lo + (hi - lo) * (rank - below) / in;
    }
    return upper_bounds.empty() ? 0 : upper_bounds.back();
}

namespace {
// Latency buckets from 1 ms to 60 s, roughly 2x apart (finer where interactive latencies live).
std::vector<double> latency_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
            0.75,  1.0,    1.5,   2.5,  5.0,  10.0,  20.0, 30.0,  60.0};
}
}  // namespace

RuntimeMetrics::RuntimeMetrics()
    : ttft_seconds(latency_buckets()),
      itl_seconds(latency_buckets()),
      step_seconds(latency_buckets()),
      request_seconds(latency_buckets()) {}

}  // namespace retort
