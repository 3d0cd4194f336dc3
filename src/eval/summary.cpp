// summary.json reading/writing and the run statistics (see summary.h).
#include "eval/summary.h"

#include <cmath>
#include <ctime>

namespace retort::eval {

namespace {

using json = nlohmann::json;

template <typename T>
json opt(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

json str_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

// Typed readers that record the first error.
struct Reader {
    const std::string& path;
    std::optional<Error> error;

    void fail(const std::string& key, const char* expected, const json& v) {
        if (!error) error = Error::bad_file(path, "key '{}' is {}, expected {}", key, v.type_name(), expected);
    }
    std::string str(const json& j, const char* key, const std::string& prefix = "") {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return {};
        if (!it->is_string()) {
            fail(prefix + key, "a string", *it);
            return {};
        }
        return it->get<std::string>();
    }
    template <typename T>
    std::optional<T> num(const json& j, const char* key, const std::string& prefix = "") {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return std::nullopt;
        if (!it->is_number()) {
            fail(prefix + key, "a number", *it);
            return std::nullopt;
        }
        if constexpr (std::is_unsigned_v<T>) {
            if (it->get<double>() < 0) {
                fail(prefix + key, "a non-negative number", *it);
                return std::nullopt;
            }
        }
        return it->get<T>();
    }
    // An object member, or nullptr when absent/null.
    const json* obj(const json& j, const char* key) {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return nullptr;
        if (!it->is_object()) {
            fail(key, "an object", *it);
            return nullptr;
        }
        return &*it;
    }
};

}  // namespace

json to_json(const RunSummary& s) {
    json j;
    j["schema"] = s.schema;
    j["suite"] = s.suite;
    j["kind"] = s.kind;
    j["source"] = s.source;
    j["data_file"] = s.data_file;
    j["created"] = s.created;
    j["retort_version"] = str_or_null(s.retort_version);
    j["n"] = s.n;
    j["n_dataset"] = s.n_dataset;
    j["samples_per_item"] = s.samples_per_item;
    j["n_samples"] = s.n_samples;
    j["correct"] = s.correct;
    j["accuracy"] = s.accuracy;
    j["ci95"] = {{"low", s.ci_low}, {"high", s.ci_high}, {"method", "wilson"}};
    json pk = json::object();
    for (const auto& [k, v] : s.pass_at_k) pk[std::to_string(k)] = v;
    j["pass_at_k"] = pk;
    j["n_truncated"] = s.n_truncated;
    j["n_no_answer"] = s.n_no_answer;
    j["mean_reasoning_chars"] = s.mean_reasoning_chars;
    j["mean_answer_chars"] = s.mean_answer_chars;
    if (s.model) {
        j["model"] = {{"name", s.model->name},          {"file", str_or_null(s.model->file)},
                      {"params", str_or_null(s.model->params)}, {"quant", str_or_null(s.model->quant)},
                      {"size_bytes", opt(s.model->size_bytes)}};
    } else {
        j["model"] = nullptr;
    }
    if (s.generation) {
        const auto& g = *s.generation;
        j["generation"] = {{"temperature", opt(g.temperature)}, {"top_p", opt(g.top_p)},
                           {"max_tokens", opt(g.max_tokens)},   {"reasoning_budget", opt(g.reasoning_budget)},
                           {"seed", opt(g.seed)},               {"samples", opt(g.samples)}};
    } else {
        j["generation"] = nullptr;
    }
    const auto& p = s.perf;
    j["perf"] = {{"peak_memory_bytes", opt(p.peak_memory_bytes)},
                 {"mean_reasoning_tokens", opt(p.mean_reasoning_tokens)},
                 {"mean_answer_tokens", opt(p.mean_answer_tokens)},
                 {"ms_per_token", opt(p.ms_per_token)},
                 {"tokens_per_s", opt(p.tokens_per_s)},
                 {"mean_latency_ms", opt(p.mean_latency_ms)},
                 {"mean_ttft_ms", opt(p.mean_ttft_ms)}};
    if (s.hardware) {
        const auto& h = *s.hardware;
        j["hardware"] = {{"cpu", str_or_null(h.cpu)},     {"gpu", str_or_null(h.gpu)},
                         {"backend", str_or_null(h.backend)}, {"threads", opt(h.threads)},
                         {"ram_bytes", opt(h.ram_bytes)}};
    } else {
        j["hardware"] = nullptr;
    }
    j["sandbox"] = s.sandbox;
    j["grading_wall_s"] = s.grading_wall_s;
    return j;
}

Result<RunSummary> summary_from_json(const json& j, const std::string& path) {
    if (!j.is_object()) return Error::bad_file(path, "expected a JSON object, found {}", j.type_name());
    Reader r{path, std::nullopt};
    RunSummary s;
    s.schema = r.str(j, "schema");
    if (s.schema != kSummarySchema)
        return Error::bad_file(path, "schema '{}' is not '{}' (not a retort summary.json?)", s.schema, kSummarySchema);
    s.suite = r.str(j, "suite");
    if (s.suite.empty()) return Error::bad_file(path, "key 'suite' is missing");
    s.kind = r.str(j, "kind");
    s.source = r.str(j, "source");
    s.data_file = r.str(j, "data_file");
    s.created = r.str(j, "created");
    s.retort_version = r.str(j, "retort_version");
    s.n = r.num<size_t>(j, "n").value_or(0);
    s.n_dataset = r.num<size_t>(j, "n_dataset").value_or(0);
    s.samples_per_item = r.num<size_t>(j, "samples_per_item").value_or(1);
    s.n_samples = r.num<size_t>(j, "n_samples").value_or(s.n);
    s.correct = r.num<size_t>(j, "correct").value_or(0);
    const auto acc = r.num<double>(j, "accuracy");
    if (!acc) {
        if (r.error) return *r.error;
        return Error::bad_file(path, "key 'accuracy' is missing");
    }
    if (*acc < 0 || *acc > 1) return Error::bad_file(path, "accuracy {} is outside 0..1", *acc);
    s.accuracy = *acc;
    if (const json* ci = r.obj(j, "ci95")) {
        s.ci_low = r.num<double>(*ci, "low", "ci95.").value_or(0);
        s.ci_high = r.num<double>(*ci, "high", "ci95.").value_or(0);
    }
    if (const json* pk = r.obj(j, "pass_at_k")) {
        for (const auto& [k, v] : pk->items()) {
            if (!v.is_number()) {
                r.fail("pass_at_k." + k, "a number", v);
                continue;
            }
            try {
                s.pass_at_k[std::stoi(k)] = v.get<double>();
            } catch (const std::exception&) {
                return Error::bad_file(path, "pass_at_k key '{}' is not an integer", k);
            }
        }
    }
    s.n_truncated = r.num<size_t>(j, "n_truncated").value_or(0);
    s.n_no_answer = r.num<size_t>(j, "n_no_answer").value_or(0);
    s.mean_reasoning_chars = r.num<double>(j, "mean_reasoning_chars").value_or(0);
    s.mean_answer_chars = r.num<double>(j, "mean_answer_chars").value_or(0);
    if (const json* m = r.obj(j, "model")) {
        ModelInfo mi;
        mi.name = r.str(*m, "name", "model.");
        mi.file = r.str(*m, "file", "model.");
        mi.params = r.str(*m, "params", "model.");
        mi.quant = r.str(*m, "quant", "model.");
        mi.size_bytes = r.num<uint64_t>(*m, "size_bytes", "model.");
        s.model = mi;
    }
    if (const json* g = r.obj(j, "generation")) {
        GenerationInfo gi;
        gi.temperature = r.num<double>(*g, "temperature", "generation.");
        gi.top_p = r.num<double>(*g, "top_p", "generation.");
        gi.max_tokens = r.num<int64_t>(*g, "max_tokens", "generation.");
        gi.reasoning_budget = r.num<int64_t>(*g, "reasoning_budget", "generation.");
        gi.seed = r.num<int64_t>(*g, "seed", "generation.");
        gi.samples = r.num<int64_t>(*g, "samples", "generation.");
        s.generation = gi;
    }
    if (const json* p = r.obj(j, "perf")) {
        s.perf.peak_memory_bytes = r.num<uint64_t>(*p, "peak_memory_bytes", "perf.");
        s.perf.mean_reasoning_tokens = r.num<double>(*p, "mean_reasoning_tokens", "perf.");
        s.perf.mean_answer_tokens = r.num<double>(*p, "mean_answer_tokens", "perf.");
        s.perf.ms_per_token = r.num<double>(*p, "ms_per_token", "perf.");
        s.perf.tokens_per_s = r.num<double>(*p, "tokens_per_s", "perf.");
        s.perf.mean_latency_ms = r.num<double>(*p, "mean_latency_ms", "perf.");
        s.perf.mean_ttft_ms = r.num<double>(*p, "mean_ttft_ms", "perf.");
    }
    if (const json* h = r.obj(j, "hardware")) {
        HardwareInfo hi;
        hi.cpu = r.str(*h, "cpu", "hardware.");
        hi.gpu = r.str(*h, "gpu", "hardware.");
        hi.backend = r.str(*h, "backend", "hardware.");
        hi.threads = r.num<int64_t>(*h, "threads", "hardware.");
        hi.ram_bytes = r.num<uint64_t>(*h, "ram_bytes", "hardware.");
        s.hardware = hi;
    }
    if (const auto it = j.find("sandbox"); it != j.end()) s.sandbox = *it;
    s.grading_wall_s = r.num<double>(j, "grading_wall_s").value_or(0);
    if (r.error) return *r.error;
    return s;
}

std::pair<double, double> wilson_interval(size_t correct, size_t n, double z) {
    if (n == 0) return {0.0, 0.0};
    const double nn = static_cast<double>(n);
    const double p = static_cast<double>(correct) / nn;
    const double z2 = z * z;
    const double denom = 1.0 + z2 / nn;
    const double center = (p + z2 / (2 * nn)) / denom;
    const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
    return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

double pass_at_k(int n, int c, int k) {
    if (n <= 0 || k <= 0 || k > n) return 0.0;
    if (n - c < k) return 1.0;
    // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    double fail = 1.0;
    for (int i = n - c + 1; i <= n; ++i) fail *= 1.0 - static_cast<double>(k) / i;
    return 1.0 - fail;
}

std::string utc_timestamp() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace retort::eval
