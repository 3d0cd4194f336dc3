#include "eval/endpoint.h"

#include "eval/text.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <cctype>
#include <cstring>
#include <thread>

namespace retort::eval {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

void sleep_s(double s) {
    if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

bool retryable_status(int status) { return status == 408 || status == 409 || status == 425 || status == 429 || status >= 500; }

// Retry-After as delta-seconds ("2", "1.5"); an HTTP date or junk: nullopt (backoff applies).
std::optional<double> parse_retry_after(const std::string& v) {
    if (v.empty()) return std::nullopt;
    char* end = nullptr;
    const double s = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !std::isfinite(s) || s < 0) return std::nullopt;
    return s;
}

// The "error.message" of an OpenAI error body, else the body itself, one line, clipped.
std::string error_text(const std::string& body) {
    std::string msg = body;
    auto j = json::parse(body, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
        if (auto e = j.find("error"); e != j.end()) {
            if (e->is_object() && e->contains("message") && (*e)["message"].is_string()) msg = (*e)["message"];
            else if (e->is_string()) msg = e->get<std::string>();
        } else if (auto m = j.find("message"); m != j.end() && m->is_string()) {
            msg = m->get<std::string>();
        }
    }
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    msg = std::string(trim(msg));
    if (msg.size() > 300) msg = clip_utf8(msg, 300) + "...";
    return msg;
}

std::string str_or_empty(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<int64_t> int_or_null(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_number()) return std::nullopt;
    return it->get<int64_t>();
}

void read_usage(const json& u, ChatReply& r) {
    if (!u.is_object()) return;
    r.prompt_tokens = int_or_null(u, "prompt_tokens");
    r.completion_tokens = int_or_null(u, "completion_tokens");
    if (auto d = u.find("completion_tokens_details"); d != u.end() && d->is_object())
        r.reasoning_tokens = int_or_null(*d, "reasoning_tokens");
}

}  // namespace

double RetryPolicy::backoff_s(int attempt) const {
    const double d = base_delay_s * std::ldexp(1.0, std::clamp(attempt - 1, 0, 30));
    return std::min(d, max_delay_s);
}

void RateLimiter::acquire() {
    if (rps_ <= 0) return;
    Clock::time_point at;
    {
        std::lock_guard<std::mutex> lock(mu_);
        const auto now = Clock::now();
        at = std::max(now, next_);
        next_ = at + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rps_));
    }
    std::this_thread::sleep_until(at);
}

std::string assemble_output(const ChatReply& r) {
    if (r.reasoning.empty()) return r.content;
    if (r.content.empty()) return "<think>\n" + r.reasoning;  // never reached an answer
    return "<think>\n" + r.reasoning + "\n</think>\n\n" + r.content;
}

Result<std::unique_ptr<EndpointClient>> EndpointClient::create(EndpointOptions opt) {
    // http(s)://HOST[:PORT][/PATH], HOST a name, an IPv4 address or [IPv6]. (Parsed by hand:
    // std::regex trips GCC 12's -Wmaybe-uninitialized under the sanitizers.)
    const auto bad = [&] {
        return Error::bad_argument("'{}' is not an endpoint URL (expected http://HOST[:PORT][/PATH] or https://...)",
                                   opt.url);
    };
    std::string_view u = opt.url;
    std::string scheme;
    if (starts_with(u, "http://")) scheme = "http";
    else if (starts_with(u, "https://")) scheme = "https";
    else return bad();
    u.remove_prefix(scheme.size() + 3);
    const size_t slash = u.find('/');
    std::string_view authority = u.substr(0, slash);
    std::string prefix(slash == std::string_view::npos ? std::string_view() : u.substr(slash));
    std::string_view host = authority, port;
    if (starts_with(authority, "[")) {
        const size_t close = authority.find(']');
        if (close == std::string_view::npos) return bad();
        host = authority.substr(0, close + 1);
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty() && (rest[0] != ':' || rest.size() == 1)) return bad();
        if (!rest.empty()) port = rest.substr(1);
    } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        if (port.empty()) return bad();
    }
    if (host.empty()) return bad();
    for (char c : host)
        if (!(std::isalnum((unsigned char)c) || std::strchr(".-_~[]:", c) != nullptr)) return bad();
    if (!port.empty()) {
        if (port.size() > 5) return bad();
        for (char c : port)
            if (!std::isdigit((unsigned char)c)) return bad();
        const int p = std::stoi(std::string(port));
        if (p < 1 || p > 65535) return Error::bad_argument("'{}': port {} is out of range", opt.url, p);
    }
    for (char c : prefix)
        if (std::isspace((unsigned char)c) || c == '?' || c == '#') return bad();
    auto c = std::unique_ptr<EndpointClient>(new EndpointClient(std::move(opt)));
    c->scheme_host_port_ = scheme + "://" + std::string(authority);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (ends_with(prefix, "/v1")) prefix.resize(prefix.size() - 3);
    c->prefix_ = prefix;
    return c;
}

// One HTTP exchange: status 0 with `transport` set when no response came.
struct EndpointClient::Attempt {
    int status = 0;
    std::string transport;    // httplib's error ("Connection", "Read", ...)
    std::string error;        // the server's message (error body or stream error event)
    std::optional<double> retry_after;
    bool complete = false;    // a whole reply was read
    ChatReply reply;
};

EndpointClient::Attempt EndpointClient::attempt(const std::string& body) const {
    Attempt a;
    httplib::Client cli(scheme_host_port_);
    const auto secs = [](double s) { return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::duration<double>(s)); };
    cli.set_connection_timeout(secs(opt_.connect_timeout_s));
    cli.set_read_timeout(secs(opt_.request_timeout_s));
    cli.set_write_timeout(secs(std::max(10.0, opt_.connect_timeout_s)));
    if (!opt_.api_key.empty()) cli.set_bearer_token_auth(opt_.api_key);

    httplib::Request req;
    req.method = "POST";
    req.path = prefix_ + "/v1/chat/completions";
    req.body = body;
    req.set_header("Content-Type", "application/json");
    req.set_header("Accept", "text/event-stream, application/json");

    const auto t0 = Clock::now();
    const auto deadline = t0 + secs(opt_.request_timeout_s);
    std::string raw;      // a non-streamed body (JSON, or an error)
    std::string pending;  // SSE bytes not yet split into lines
    bool sse = false, done = false, timed_out = false;
    ChatReply& r = a.reply;
    auto on_event = [&](const std::string& data) {
        if (data == "[DONE]") {
            done = true;
            return;
        }
        auto j = json::parse(data, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return;
        if (j.contains("error")) {
            a.error = error_text(data);
            return;
        }
        if (auto u = j.find("usage"); u != j.end()) read_usage(*u, r);
        auto ch = j.find("choices");
        if (ch == j.end() || !ch->is_array() || ch->empty() || !(*ch)[0].is_object()) return;
        const json& c0 = (*ch)[0];
        if (auto d = c0.find("delta"); d != c0.end() && d->is_object()) {
            std::string rs = str_or_empty(*d, "reasoning_content");
            if (rs.empty()) rs = str_or_empty(*d, "reasoning");
            const std::string cs = str_or_empty(*d, "content");
            if (!r.ttft_ms && (!rs.empty() || !cs.empty())) r.ttft_ms = ms_between(t0, Clock::now());
            r.reasoning += rs;
            r.content += cs;
        }
        if (const std::string f = str_or_empty(c0, "finish_reason"); !f.empty()) r.finish_reason = f;
    };
    req.response_handler = [&](const httplib::Response& res) {
        a.status = res.status;
        a.retry_after = parse_retry_after(res.get_header_value("Retry-After"));
        sse = res.status == 200 && res.get_header_value("Content-Type").find("text/event-stream") != std::string::npos;
        return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (Clock::now() > deadline) {
            timed_out = true;
            return false;
        }
        if (!sse) {
            if (raw.size() < (64u << 20)) raw.append(data, n);
            return true;
        }
        pending.append(data, n);
        size_t start = 0, nl;
        while ((nl = pending.find('\n', start)) != std::string::npos) {
            std::string line = pending.substr(start, nl - start);
            start = nl + 1;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (starts_with(line, "data:")) on_event(std::string(trim(std::string_view(line).substr(5))));
        }
        pending.erase(0, start);
        return true;
    };

    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = cli.send(req, res, err);
    const auto t1 = Clock::now();
    r.latency_ms = ms_between(t0, t1);
    if (timed_out) {
        a.status = 0;
        a.transport = fmt::format("no complete reply within {:.0f} s (--request-timeout)", opt_.request_timeout_s);
        return a;
    }
    if (!sent) {
        a.status = 0;
        a.transport = httplib::to_string(err);
        return a;
    }
    a.status = res.status;
    if (a.status != 200) {
        a.error = error_text(raw);
        return a;
    }
    if (sse) {
        if (!pending.empty() && starts_with(pending, "data:")) on_event(std::string(trim(std::string_view(pending).substr(5))));
        a.complete = a.error.empty() && (done || !r.finish_reason.empty());
        if (!a.complete && a.error.empty()) a.error = "the event stream ended before the reply was complete";
        return a;
    }
    // A plain chat.completion body (the server ignored "stream").
    auto j = json::parse(raw, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("choices") || !j["choices"].is_array() ||
        j["choices"].empty() || !j["choices"][0].is_object()) {
        a.error = "the reply is neither an event stream nor a chat.completion object: " + error_text(raw);
        return a;
    }
    const json& c0 = j["choices"][0];
    if (auto msg = c0.find("message"); msg != c0.end() && msg->is_object()) {
        r.reasoning = str_or_empty(*msg, "reasoning_content");
        if (r.reasoning.empty()) r.reasoning = str_or_empty(*msg, "reasoning");
        r.content = str_or_empty(*msg, "content");
    }
    r.finish_reason = str_or_empty(c0, "finish_reason");
    if (auto u = j.find("usage"); u != j.end()) read_usage(*u, r);
    a.complete = true;
    return a;
}

Result<ChatReply> EndpointClient::chat(const ChatRequest& cr) const {
    json body = {{"model", opt_.model},
                 {"messages", json::array({{{"role", "user"}, {"content", cr.user}}})},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}}};
    if (cr.temperature) body["temperature"] = *cr.temperature;
    if (cr.top_p) body["top_p"] = *cr.top_p;
    if (cr.max_tokens) body["max_tokens"] = *cr.max_tokens;
    if (cr.seed) body["seed"] = *cr.seed;
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);

    thread_local std::mt19937_64 rng{std::random_device{}()};
    const int max_attempts = std::max(1, opt_.retry.max_attempts);
    std::string last;
    for (int k = 1; k <= max_attempts; ++k) {
        limiter_.acquire();
        Attempt a = attempt(text);
        if (a.complete) {
            a.reply.attempts = k;
            return std::move(a.reply);
        }
        last = a.status == 0 ? "cannot reach the endpoint: " + a.transport
                             : (a.status == 200 ? a.error : fmt::format("HTTP {}: {}", a.status, a.error));
        const bool retry = a.status == 0 || a.status == 200 || retryable_status(a.status);
        if (!retry)
            return Error::bad_argument("POST {}{}/v1/chat/completions: {}", scheme_host_port_, prefix_, last);
        if (k == max_attempts) break;
        double wait = opt_.retry.backoff_s(k) * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
        if (a.retry_after) wait = std::min(*a.retry_after, opt_.retry.max_retry_after_s);
        retries_.fetch_add(1);
        sleep_s(wait);
    }
    return Error::make(ErrorKind::kIo, "POST {}{}/v1/chat/completions: {} (gave up after {} attempts)",
                       scheme_host_port_, prefix_, last, max_attempts);
}

Result<std::vector<std::string>> EndpointClient::list_models() const {
    httplib::Client cli(scheme_host_port_);
    cli.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::duration<double>(opt_.connect_timeout_s)));
    cli.set_read_timeout(30, 0);
    if (!opt_.api_key.empty()) cli.set_bearer_token_auth(opt_.api_key);
    auto res = cli.Get(prefix_ + "/v1/models");
    if (!res)
        return Error::make(ErrorKind::kIo, "cannot reach {}{}: {}", scheme_host_port_, prefix_,
                           httplib::to_string(res.error()));
    if (res->status == 401 || res->status == 403)
        return Error::bad_argument("{}{} refused the API key (HTTP {}): {}", scheme_host_port_, prefix_, res->status,
                                   error_text(res->body));
    std::vector<std::string> ids;
    if (res->status != 200) return ids;  // no model list here; chat may still work
    auto j = json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array()) return ids;
    for (const auto& m : j["data"])
        if (m.is_object() && m.contains("id") && m["id"].is_string()) ids.push_back(m["id"]);
    return ids;
}

}  // namespace retort::eval
