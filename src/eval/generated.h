// What a generator (the in-process engine, or an endpoint) hands back for one prompt.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace retort::eval {

struct Generated {
    std::string output;         // the model's whole turn, "<think>" block included
    std::string finish_reason;  // "stop", "length", ... (OpenAI's words)
    std::optional<double> reasoning_tokens, answer_tokens;  // unknown: nullopt
    int64_t n_tokens = 0;       // generated tokens in all (0 when unknown)
    double latency_ms = 0;
    std::optional<double> ttft_ms;
    int attempts = 1;           // endpoint: HTTP attempts it took
};

}  // namespace retort::eval
