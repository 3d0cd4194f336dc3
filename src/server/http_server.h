// HttpServer: the OpenAI-compatible HTTP front of one Worker (cpp-httplib). HTTP threads check
// the key and body size, parse and validate JSON into typed requests, apply the chat template,
// tokenize, submit to the worker and format its stream back (JSON or SSE). It also answers
// /v1/models, /health and /metrics, logs one line per request, and shuts down in order:
// refuse new work, let running requests finish or cancel them at a deadline, stop listening.
#pragma once

#include "runtime/worker.h"
#include "server/prometheus.h"
#include "tokenizer/chat_template.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace httplib {
class Server;
}

namespace retort {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                    // 0: any free port (see port())
    std::string alias;                  // the model name clients use; also accepted: the file name
    std::string api_key;                // "": no key needed
    size_t max_body_bytes = 8u << 20;   // larger bodies get 413
    int n_http_threads = 0;             // 0: enough for every slot and queued request, plus spare
    std::string fingerprint = "retort";
    // Where the per-request log lines go (stderr by default).
    std::function<void(const std::string&)> log;
};

class HttpServer {
public:
    explicit HttpServer(ServerOptions opt);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds the listening socket (before the model loads, so /health can say "loading").
    Status bind();
    int port() const { return port_; }
    // Serves until stop(); blocks. Call from one thread after bind().
    Status listen();
    // The model is ready: from now on the API endpoints submit to this worker. The worker
    // must outlive the server's listening.
    void set_ready(Worker* worker, std::optional<ChatTemplate> chat_template, std::string model_file_name);
    // Graceful stop: refuse new requests (503), let the worker finish or cancel within `grace`,
    // then stop listening (listen() returns once in-flight responses are written).
    void shutdown(Worker* worker, std::chrono::milliseconds grace);

    const HttpCounters& counters() const { return counters_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    ServerOptions opt_;
    int port_ = -1;
    HttpCounters counters_;
};

}  // namespace retort
