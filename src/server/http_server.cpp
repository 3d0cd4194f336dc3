#include "server/http_server.h"

#include "server/api_parse.h"
#include "server/connection.h"
#include "server/response_builder.h"
#include "util/memory.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace retort {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// How often a waiting handler looks at its client (a gone client is cancelled within this).
constexpr std::chrono::milliseconds kPoll{50};

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    json err{{"message", e.message},
             {"type", e.type},
             {"param", e.param.empty() ? json(nullptr) : json(e.param)},
             {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
    res.set_content(dump_json(json{{"error", err}}), "application/json");
}

void send_json(httplib::Response& res, const json& body, int status = 200) {
    res.status = status;
    res.set_content(dump_json(body), "application/json");
}

// Compares without an early exit, so the time taken does not tell how much of a key matched.
bool same_key(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < a.size(); ++i) diff |= (unsigned char)(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
    return diff == 0 && !b.empty();
}

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string endpoint_label(const std::string& path) {
    static const char* known[] = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"};
    for (const char* k : known)
        if (path == k) return k;
    if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
    return "other";
}

// What the log line of an API request says beyond method, path and status.
struct LogInfo {
    Clock::time_point start;
    int64_t n_prompt = 0, n_cached = 0, n_generated = 0;
    double ttft_ms = -1;
    std::string finish = "-";
    bool stream = false;
};

}  // namespace

// httplib's server with its listening socket in reach: the library listens with a backlog of 5
// (compiled into Debian's libcpp-httplib), which turns a burst of connects (64 clients at once)
// into SYN-cookie resets. listen() again on the bound socket raises the backlog.
struct ListeningServer : httplib::Server {
    int listen_fd() const { return (int)svr_sock_.load(); }
};

constexpr int kListenBacklog = 1024;

struct HttpServer::Impl {
    ListeningServer svr;
    std::atomic<Worker*> worker{nullptr};
    std::optional<ChatTemplate> chat_template;
    std::string model_file;
    std::atomic<bool> stopping{false};
    // API responses being written. httplib cuts chunked responses off once it stops, so
    // shutdown waits for these to reach their last byte before stopping it.
    std::atomic<int> in_flight{0};
    std::atomic<uint64_t> next_id{1};
    std::string id_prefix;
    Clock::time_point started = Clock::now();
    std::mutex log_mu;
    std::map<std::string, LogInfo> logs;  // by request id, until the logger writes the line

    std::string new_id(const char* kind) { return fmt::format("{}-{}{:x}", kind, id_prefix, next_id.fetch_add(1)); }
    void put_log(const std::string& id, const LogInfo& info) {
        std::lock_guard<std::mutex> lock(log_mu);
        logs[id] = info;
    }
};

HttpServer::HttpServer(ServerOptions opt) : impl_(std::make_unique<Impl>()), opt_(std::move(opt)) {
    std::random_device rd;
    impl_->id_prefix = fmt::format("{:08x}", rd());
    if (!opt_.log) opt_.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
}

HttpServer::~HttpServer() = default;

Status HttpServer::bind() {
    httplib::Server& svr = impl_->svr;
    Impl* impl = impl_.get();
    const ServerOptions& opt = opt_;
    HttpCounters* counters = &counters_;

    const int n_threads = opt.n_http_threads > 0 ? opt.n_http_threads : 64;
    svr.new_task_queue = [n_threads] { return new httplib::ThreadPool((size_t)n_threads); };
    svr.set_payload_max_length(opt.max_body_bytes);
    svr.set_keep_alive_max_count(1000);
    svr.set_read_timeout(30, 0);
    svr.set_write_timeout(30, 0);

    // Key check and shutdown refusal happen before routing; /health stays open to everyone.
    svr.set_pre_routing_handler([impl, &opt](const httplib::Request& req, httplib::Response& res) {
        if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
        if (!opt.api_key.empty()) {
            const std::string auth = req.get_header_value("Authorization");
            const std::string prefix = "Bearer ";
            if (auth.empty()) {
                send_error(res, {401, "invalid_request_error",
                                 "no API key given: send the header 'Authorization: Bearer <key>'", "",
                                 "invalid_api_key"});
                return httplib::Server::HandlerResponse::Handled;
            }
            if (auth.rfind(prefix, 0) != 0 || !same_key(auth.substr(prefix.size()), opt.api_key)) {
                send_error(res, {401, "invalid_request_error", "incorrect API key", "", "invalid_api_key"});
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        if (impl->stopping.load() && req.path.rfind("/v1/", 0) == 0) {
            send_error(res, {503, "server_error", "the server is shutting down", "", "shutting_down"});
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });

    // Every 4xx/5xx without a body of ours (httplib's own 404, 413, 400) gets an OpenAI error.
    svr.set_error_handler([&opt](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 413)
            send_error(res, {413, "invalid_request_error",
                             fmt::format("the request body is over the limit of {} bytes (--max-body)",
                                         opt.max_body_bytes),
                             "", "request_too_large"});
        else if (res.status == 404)
            send_error(res, {404, "invalid_request_error", fmt::format("unknown endpoint {} {}", req.method, req.path),
                             "", "unknown_url"});
        else if (res.status == 405)
            send_error(res, {405, "invalid_request_error", fmt::format("{} is not allowed on {}", req.method, req.path),
                             "", ""});
        else
            send_error(res, {res.status, res.status >= 500 ? "server_error" : "invalid_request_error",
                             fmt::format("HTTP {}", res.status), "", ""});
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        send_error(res, {500, "server_error", what, "", ""});
    });

    // One line per request, and the counts /metrics shows.
    svr.set_logger([impl, counters, &opt](const httplib::Request& req, const httplib::Response& res) {
        counters->count(endpoint_label(req.path), res.status);
        const std::string id = res.get_header_value("X-Request-Id");
        std::string line;
        LogInfo info;
        bool have = false;
        if (!id.empty()) {
            std::lock_guard<std::mutex> lock(impl->log_mu);
            if (auto it = impl->logs.find(id); it != impl->logs.end()) {
                info = it->second;
                impl->logs.erase(it);
                have = true;
            }
        }
        if (have) {
            const double ms = std::chrono::duration<double, std::milli>(Clock::now() - info.start).count();
            line = fmt::format("retort serve: {} {} {} {} prompt={} cached={} gen={} ttft_ms={:.1f} ms={:.1f} "
                               "finish={} stream={}",
                               id, req.method, req.path, res.status, info.n_prompt, info.n_cached, info.n_generated,
                               info.ttft_ms, ms, info.finish, info.stream ? "yes" : "no");
        } else {
            line = fmt::format("retort serve: - {} {} {}", req.method, req.path, res.status);
        }
        opt.log(line);
    });

    svr.Get("/health", [impl](const httplib::Request&, httplib::Response& res) {
        if (impl->stopping.load()) return send_json(res, {{"status", "shutting down"}}, 503);
        if (impl->worker.load() == nullptr) return send_json(res, {{"status", "loading"}}, 503);
        send_json(res, {{"status", "ok"}});
    });

    svr.Get("/metrics", [impl, counters](const httplib::Request&, httplib::Response& res) {
        Worker* w = impl->worker.load();
        ProcessFacts p;
        p.resident_bytes = current_rss_bytes();
        p.uptime_seconds = std::chrono::duration<double>(Clock::now() - impl->started).count();
        p.ready = w != nullptr;
        if (w) {
            p.n_slots = w->n_seq();
            p.n_ctx = w->n_ctx();
        }
        res.set_content(prometheus_text(w ? &w->metrics() : nullptr, *counters, p), "text/plain; version=0.0.4");
    });

    auto model_object = [impl, &opt] {
        return json{{"id", opt.alias}, {"object", "model"}, {"created", unix_now()}, {"owned_by", "retort"}};
    };
    svr.Get("/v1/models", [model_object](const httplib::Request&, httplib::Response& res) {
        send_json(res, {{"object", "list"}, {"data", json::array({model_object()})}});
    });
    svr.Get(R"(/v1/models/(.+))", [model_object, &opt](const httplib::Request& req, httplib::Response& res) {
        if (req.matches[1] != opt.alias)
            return send_error(res, {404, "invalid_request_error",
                                    fmt::format("the model '{}' does not exist; this server has '{}'",
                                                req.matches[1].str(), opt.alias),
                                    "model", "model_not_found"});
        send_json(res, model_object());
    });

    auto api = [impl, &opt](ApiKind kind) {
        return [impl, &opt, kind](const httplib::Request& hreq, httplib::Response& res) {
            const Clock::time_point start = Clock::now();
            Worker* w = impl->worker.load();
            if (w == nullptr)
                return send_error(res, {503, "server_error", "the model is still loading; retry shortly", "",
                                        "model_loading"});
            ParsedRequest parsed = parse_api_request(hreq.body, kind);
            if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
            auto req = std::make_shared<ApiRequest>(std::move(std::get<ApiRequest>(parsed)));
            if (!req->model.empty() && req->model != opt.alias && req->model != impl->model_file)
                return send_error(res, {404, "invalid_request_error",
                                        fmt::format("the model '{}' does not exist; this server has '{}'", req->model,
                                                    opt.alias),
                                        "model", "model_not_found"});

            // The prompt: the chat template and the tokenizer run here, not on the worker.
            const Tokenizer& tok = w->tokenizer();
            GenerateRequest g;
            bool starts_in_reasoning = false;
            if (kind == ApiKind::kChat) {
                if (!impl->chat_template)
                    return send_error(res, ApiError::bad_request(
                                               "this model has no chat template; use /v1/completions", "messages"));
                auto text = impl->chat_template->render(req->messages, /*add_generation_prompt=*/true);
                if (!text.ok()) return send_error(res, ApiError::bad_request(text.error().message, "messages"));
                g.prompt = tok.encode(text.value(), /*add_bos=*/false, /*parse_special=*/true);
                starts_in_reasoning = impl->chat_template->generation_starts_in_reasoning();
            } else if (req->prompt_is_tokens) {
                g.prompt = req->prompt_tokens;
            } else {
                g.prompt = tok.encode(req->prompt, tok.add_bos_default(), /*parse_special=*/true);
            }
            if (g.prompt.empty()) return send_error(res, ApiError::bad_request("the prompt is empty", "prompt"));
            const int64_t n_prompt = (int64_t)g.prompt.size();
            if (req->max_tokens > 0 && n_prompt + req->max_tokens > w->n_ctx())
                return send_error(res, {400, "invalid_request_error",
                                        fmt::format("this model's context is {} tokens, but {} were requested ({} in "
                                                    "the prompt + {} max_tokens); shorten the prompt or lower "
                                                    "max_tokens",
                                                    w->n_ctx(), n_prompt + req->max_tokens, n_prompt, req->max_tokens),
                                        kind == ApiKind::kChat ? "messages" : "prompt", "context_length_exceeded"});
            g.id = impl->new_id(kind == ApiKind::kChat ? "chatcmpl" : "cmpl");
            SamplingParams& sp = g.generation.sampling;
            sp.temperature = req->temperature;
            sp.top_p = req->top_p;
            sp.top_k = req->top_k;
            sp.min_p = req->min_p;
            sp.repeat_penalty = req->repeat_penalty;
            sp.presence_penalty = req->presence_penalty;
            sp.frequency_penalty = req->frequency_penalty;
            // OpenAI's penalties look at everything generated so far, not a window of 64.
            sp.repeat_last_n = (int32_t)std::min<int64_t>(w->n_ctx(), SamplingParams::kMaxRepeatLastN);
            sp.seed = req->seed;
            g.generation.max_tokens = req->max_tokens > 0 ? req->max_tokens : w->n_ctx() - n_prompt;
            g.generation.stop = req->stop;
            g.generation.ignore_eog = req->ignore_eos;
            g.top_logprobs = req->logprobs ? req->top_logprobs : -1;

            const std::string id = g.id;
            // Counted from here until the response's last byte (the stream's releaser).
            auto flight = std::shared_ptr<void>(nullptr, [impl](void*) { impl->in_flight.fetch_sub(1); });
            impl->in_flight.fetch_add(1);
            Submitted sub = w->submit(std::move(g));
            switch (sub.rejection) {
                case Rejection::kNone: break;
                case Rejection::kInvalid: return send_error(res, ApiError::bad_request(sub.message));
                case Rejection::kTooLong:
                    return send_error(res, {400, "invalid_request_error", sub.message, "", "context_length_exceeded"});
                case Rejection::kQueueFull:
                    res.set_header("Retry-After", "1");
                    return send_error(res, {429, "rate_limit_error", sub.message, "", "queue_full"});
                case Rejection::kShuttingDown:
                    return send_error(res, {503, "server_error", sub.message, "", "shutting_down"});
            }
            res.set_header("X-Request-Id", id);
            LogInfo log;
            log.start = start;
            log.n_prompt = n_prompt;
            log.stream = req->stream;
            impl->put_log(id, log);

            ResponseMeta meta{id, opt.alias, unix_now(), opt.fingerprint};
            auto builder = std::make_shared<ResponseBuilder>(*req, tok, meta, starts_in_reasoning);
            auto probe = std::make_shared<ConnectionProbe>(hreq.local_addr, hreq.local_port, hreq.remote_addr,
                                                           hreq.remote_port);
            std::shared_ptr<RequestStream> stream = sub.stream;
            auto note = [impl, id, start, stream = req->stream](const RequestSummary& s, const char* finish) {
                LogInfo l;
                l.start = start;
                l.n_prompt = s.n_prompt;
                l.n_cached = s.n_cached;
                l.n_generated = s.n_generated;
                l.ttft_ms = s.ttft_ms;
                l.finish = finish;
                l.stream = stream;
                impl->put_log(id, l);
            };

            if (!req->stream) {
                for (;;) {
                    RequestStream::Update u = stream->wait(kPoll);
                    builder->add(u.pieces);
                    if (u.done) {
                        note(u.summary, u.summary.error ? "error" : finish_reason_api_name(u.summary.finish));
                        if (u.summary.error)
                            return send_error(res, {500, "server_error", u.summary.error->message, "", ""});
                        return send_json(res, builder->response(u.summary));
                    }
                    if (probe->closed()) stream->cancel();  // keep waiting: the worker ends it next step
                }
            }

            res.set_header("Cache-Control", "no-cache");
            res.set_header("X-Accel-Buffering", "no");
            auto done = std::make_shared<bool>(false);
            res.set_chunked_content_provider(
                "text/event-stream",
                [stream, builder, probe, done, note](size_t, httplib::DataSink& sink) {
                    RequestStream::Update u = stream->wait(kPoll);
                    if (probe->closed()) {
                        stream->cancel();
                        return false;
                    }
                    std::string out;
                    for (const json& c : builder->chunks(u.pieces)) out += "data: " + dump_json(c) + "\n\n";
                    if (u.done) {
                        if (u.summary.error) {
                            json err{{"message", u.summary.error->message}, {"type", "server_error"},
                                     {"param", nullptr}, {"code", nullptr}};
                            out += "data: " + dump_json(json{{"error", err}}) + "\n\n";
                        } else {
                            for (const json& c : builder->final_chunks(u.summary))
                                out += "data: " + dump_json(c) + "\n\n";
                        }
                        out += "data: [DONE]\n\n";
                        note(u.summary, u.summary.error ? "error" : finish_reason_api_name(u.summary.finish));
                    }
                    if (!out.empty() && !sink.write(out.data(), out.size())) {
                        stream->cancel();
                        return false;
                    }
                    if (u.done) {
                        *done = true;
                        sink.done();
                    }
                    return true;
                },
                [stream, done, flight](bool success) {
                    if (!success || !*done) stream->cancel();
                });
        };
    };
    svr.Post("/v1/chat/completions", api(ApiKind::kChat));
    svr.Post("/v1/completions", api(ApiKind::kCompletion));
    // Paths without /v1 as some clients send them.
    svr.Post("/chat/completions", api(ApiKind::kChat));
    svr.Post("/completions", api(ApiKind::kCompletion));

    if (opt_.port == 0) {
        port_ = svr.bind_to_any_port(opt_.host);
        if (port_ <= 0) return Error::make(ErrorKind::kIo, "cannot bind {} to any port", opt_.host);
    } else {
        if (!svr.bind_to_port(opt_.host, opt_.port))
            return Error::make(ErrorKind::kIo, "cannot listen on {}:{} (in use, or not an address of this machine?)",
                               opt_.host, opt_.port);
        port_ = opt_.port;
    }
    if (::listen(impl_->svr.listen_fd(), kListenBacklog) != 0)
        return Error::make(ErrorKind::kIo, "cannot raise the listen backlog on {}:{}", opt_.host, port_);
    return ok_status();
}

Status HttpServer::listen() {
    if (!impl_->svr.listen_after_bind() && !impl_->stopping.load())
        return Error::make(ErrorKind::kIo, "the HTTP server stopped unexpectedly");
    return ok_status();
}

void HttpServer::set_ready(Worker* worker, std::optional<ChatTemplate> chat_template, std::string model_file_name) {
    impl_->chat_template = std::move(chat_template);
    impl_->model_file = std::move(model_file_name);
    impl_->worker.store(worker);  // publishes the two fields above to handler threads
}

void HttpServer::shutdown(Worker* worker, std::chrono::milliseconds grace) {
    impl_->stopping.store(true);
    if (worker) worker->shutdown(grace);  // every stream ends (finished or cancelled)
    // Let the handlers write those last events (a poll interval or two), then stop listening.
    for (int i = 0; i < 1000 && impl_->in_flight.load() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    impl_->svr.stop();
}

}  // namespace retort
