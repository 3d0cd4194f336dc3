#include "server/prometheus.h"

#include "engine/generation.h"

#include <fmt/format.h>

namespace retort {

void HttpCounters::count(const std::string& endpoint, int status) {
    std::lock_guard<std::mutex> lock(mu_);
    ++by_endpoint_status_[{endpoint, status}];
}

std::map<std::pair<std::string, int>, int64_t> HttpCounters::snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return by_endpoint_status_;
}

namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void scalar(std::string& out, const char* name, const char* type, const char* help, double v) {
    header(out, name, type, help);
    out += fmt::format("{} {}\n", name, v);
}

void histogram(std::string& out, const char* name, const char* help, const Histogram& h) {
    header(out, name, "histogram", help);
    const Histogram::Snapshot s = h.snapshot();
    for (size_t i = 0; i < s.upper_bounds.size(); ++i)
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, s.upper_bounds[i], s.cumulative[i]);
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, s.count);
    out += fmt::format("{}_sum {}\n{}_count {}\n", name, s.sum, name, s.count);
}

}  // namespace

std::string prometheus_text(const RuntimeMetrics* m, const HttpCounters& http, const ProcessFacts& p) {
    std::string out;
    header(out, "retort_http_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
    for (const auto& [key, n] : http.snapshot())
        out += fmt::format("retort_http_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
    scalar(out, "retort_ready", "gauge", "1 once the model is loaded and requests are served.", p.ready ? 1 : 0);
    scalar(out, "process_resident_memory_bytes", "gauge", "Resident set size of the server.", (double)p.resident_bytes);
    scalar(out, "retort_uptime_seconds", "gauge", "Seconds since the server started.", p.uptime_seconds);
    if (m == nullptr) return out;

    scalar(out, "retort_slots", "gauge", "Sequences that can run at once (--parallel).", (double)p.n_slots);
    scalar(out, "retort_context_tokens", "gauge", "Positions one sequence may hold (--ctx).", (double)p.n_ctx);
    header(out, "retort_requests_finished_total", "counter", "Generation requests finished, by reason.");
    const FinishReason reasons[] = {FinishReason::kEndOfGeneration, FinishReason::kStopString,
                                    FinishReason::kMaxTokens,       FinishReason::kContextFull,
                                    FinishReason::kCancelled};
    const char* names[] = {"eog", "stop_string", "max_tokens", "context_full", "cancelled"};
    for (size_t i = 0; i < 5; ++i)
        out += fmt::format("retort_requests_finished_total{{reason=\"{}\"}} {}\n", names[i],
                           m->finished[(size_t)reasons[i]].load());
    out += fmt::format("retort_requests_finished_total{{reason=\"failed\"}} {}\n",
                       m->finished[RuntimeMetrics::kFailedIndex].load());
    scalar(out, "retort_requests_rejected_queue_full_total", "counter", "Requests refused because the queue was full.",
           (double)m->rejected_queue_full.load());
    scalar(out, "retort_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
           (double)m->prompt_tokens.load());
    scalar(out, "retort_prompt_tokens_cached_total", "counter", "Prompt tokens reused from the KV cache (prefix reuse).",
           (double)m->cached_tokens.load());
    scalar(out, "retort_generated_tokens_total", "counter", "Tokens generated.", (double)m->generated_tokens.load());
    scalar(out, "retort_preemptions_total", "counter", "Sequences preempted (KV dropped, recomputed later).",
           (double)m->preemptions.load());
    scalar(out, "retort_steps_total", "counter", "Batched forward passes.", (double)m->steps.load());
    scalar(out, "retort_step_tokens_total", "counter", "Tokens evaluated over all steps.", (double)m->step_tokens.load());
    scalar(out, "retort_queue_depth", "gauge", "Requests accepted and waiting for a sequence slot.",
           (double)m->queue_depth.load());
    scalar(out, "retort_requests_active", "gauge", "Requests accepted and not finished (waiting or running).",
           (double)m->active_requests.load());
    scalar(out, "retort_sequences_running", "gauge", "Sequences running (holding a KV slot for a request).",
           (double)m->running.load());
    scalar(out, "retort_kv_blocks_total", "gauge", "KV cache blocks the scheduler may use.",
           (double)m->kv_blocks_total.load());
    scalar(out, "retort_kv_blocks_free", "gauge", "KV cache blocks free (the cache's own count).",
           (double)m->kv_blocks_free.load());
    scalar(out, "retort_kv_blocks_running", "gauge", "KV cache blocks held by running requests.",
           (double)m->kv_blocks_running.load());
    scalar(out, "retort_kv_blocks_cached", "gauge", "KV cache blocks held by idle prefix caches.",
           (double)m->kv_blocks_cached.load());
    scalar(out, "retort_kv_blocks_shared", "gauge",
           "KV cache blocks held by two sequences or more (a shared prompt prefix, counted once above).",
           (double)m->kv_blocks_shared.load());
    scalar(out, "retort_kv_blocks_used_peak", "gauge", "Most KV cache blocks in use at once since the start.",
           (double)m->kv_blocks_used_peak.load());
    const double total = (double)m->kv_blocks_total.load();
    scalar(out, "retort_kv_cache_usage_ratio", "gauge", "Share of KV blocks held by running requests.",
           total > 0 ? (double)m->kv_blocks_running.load() / total : 0.0);
    scalar(out, "retort_kv_books_mismatch", "gauge", "1 if the KV cache and the scheduler's books ever disagreed.",
           (double)m->kv_books_mismatch.load());
    histogram(out, "retort_time_to_first_token_seconds", "Submitted to first token.", m->ttft_seconds);
    histogram(out, "retort_inter_token_latency_seconds", "Between consecutive tokens of a request.", m->itl_seconds);
    histogram(out, "retort_step_duration_seconds", "One scheduler step: forward pass and sampling.", m->step_seconds);
    histogram(out, "retort_request_duration_seconds", "Submitted to finished.", m->request_seconds);
    return out;
}

}  // namespace retort
