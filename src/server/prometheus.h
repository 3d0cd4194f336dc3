// /metrics: the worker's counters, gauges and histograms, plus the HTTP requests counted by
// endpoint and status, in the Prometheus text exposition format (version 0.0.4).
#pragma once

#include "runtime/metrics.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace retort {

// HTTP-level counts, kept by the server (one lock per finished request).
class HttpCounters {
public:
    void count(const std::string& endpoint, int status);
    std::map<std::pair<std::string, int>, int64_t> snapshot() const;

private:
    mutable std::mutex mu_;
    std::map<std::pair<std::string, int>, int64_t> by_endpoint_status_;
};

struct ProcessFacts {
    uint64_t resident_bytes = 0;
    double uptime_seconds = 0;
    bool ready = false;
    int64_t n_slots = 0;
    int64_t n_ctx = 0;
};

// m may be null (model still loading): only the HTTP counts and process facts are written.
std::string prometheus_text(const RuntimeMetrics* m, const HttpCounters& http, const ProcessFacts& p);

}  // namespace retort
