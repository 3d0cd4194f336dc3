// `retort serve`: an OpenAI-compatible HTTP server over one model with continuous batching.
// Flags in, library calls out: HttpServer (server/), Worker (runtime/), the engine. This file
// also owns the process concerns: signals (SIGINT/SIGTERM start a graceful shutdown) and the
// exit code.
#include "cli/commands.h"
#include "cli/common.h"
#include "runtime/worker.h"
#include "server/http_server.h"
#include "tokenizer/chat_template.h"

#include <fmt/core.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace retort::cli {

namespace {

struct ServeFlags {
    EngineFlags engine;
    std::string alias;
    std::string host = "127.0.0.1";
    int port = 8080;
    int parallel = 4;
    std::string api_key, api_key_file;
    int64_t max_queue = 64;
    size_t max_body = 8u << 20;
    int64_t batch = 256;
    int64_t prefill_chunk = 0;
    bool no_prefix_cache = false;
    bool no_prefix_share = false;
    int64_t kv_blocks = 0;
    std::string chat_format;
    double grace_s = 30;
    int http_threads = 0;
};

void log_line(const std::string& line) {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
}

Result<std::string> read_key_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Error::bad_argument("cannot read --api-key-file '{}'", path);
    std::string key;
    std::getline(in, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key.empty()) return Error::bad_argument("--api-key-file '{}' holds no key on its first line", path);
    return key;
}

int run_serve(const ServeFlags& fl) {
    std::string key = fl.api_key;
    if (!fl.api_key_file.empty()) {
        if (!key.empty()) return fail("serve", "give --api-key or --api-key-file, not both");
        auto k = read_key_file(fl.api_key_file);
        if (!k.ok()) return fail("serve", k.error().message);
        key = k.value();
    }
    std::optional<ChatFormat> format_override;
    if (!fl.chat_format.empty()) {
        auto f = parse_chat_format(fl.chat_format);
        if (!f.ok()) return fail("serve", f.error().message);
        format_override = f.value();
    }
    const std::string file_name =
        fl.engine.model.empty() ? "stories260K" : std::filesystem::path(fl.engine.model).stem().string();

    // Signals go to the thread that waits for them, never to the HTTP or worker threads:
    // block them before any thread starts (threads inherit the mask).
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not a death

    ServerOptions so;
    so.host = fl.host;
    so.port = fl.port;
    so.alias = fl.alias.empty() ? file_name : fl.alias;
    so.api_key = key;
    so.max_body_bytes = fl.max_body;
    so.n_http_threads = fl.http_threads > 0 ? fl.http_threads : std::max<int>(16, fl.parallel + (int)fl.max_queue + 16);
    so.fingerprint = std::string("retort-") + RETORT_VERSION;
    so.log = log_line;
    HttpServer server(so);
    if (Status st = server.bind(); !st.ok()) {
        fmt::print(stderr, "retort serve: error: {}\n", st.error().message);
        return 1;
    }
    log_line(fmt::format("retort serve: listening on http://{}:{} (loading {})", fl.host, server.port(), file_name));
    Status listen_status = ok_status();
    std::atomic<bool> listening_done{false};
    std::thread http([&] {
        listen_status = server.listen();
        listening_done.store(true);
    });

    // Load while /health answers "loading".
    auto engine = load_engine(fl.engine, fl.parallel);
    if (!engine.ok()) {
        fmt::print(stderr, "retort serve: error: {}\n", engine.error().message);
        server.shutdown(nullptr, std::chrono::milliseconds(0));
        http.join();
        return 1;
    }
    for (const auto& note : engine.value()->notes()) log_line("retort serve: " + note);
    Engine& e = *engine.value();
    std::optional<ChatTemplate> tmpl;
    if (auto t = ChatTemplate::from_gguf(e.model().file(), e.tokenizer(), format_override); t.ok()) {
        tmpl = std::move(t.value());
    } else {
        // Models without a chat format (stories260K) still chat, in the R1 format, so that the
        // API can be exercised; --chat-format picks another.
        const int32_t bos = e.tokenizer().bos();
        tmpl = ChatTemplate(ChatFormat::kR1, bos >= 0 ? e.tokenizer().token_to_piece(bos, true) : "");
        log_line(fmt::format("retort serve: {}; chatting in the r1 format", t.error().message));
    }
    const int64_t n_ctx = e.n_ctx();
    WorkerOptions wo;
    wo.max_queue = fl.max_queue;
    wo.step_tokens = fl.batch;
    wo.prefill_chunk = fl.prefill_chunk;
    wo.prefix_cache = !fl.no_prefix_cache;
    wo.share_prefix = !fl.no_prefix_share;
    wo.kv_blocks = fl.kv_blocks;
    auto worker = Worker::start(std::move(engine.value()), wo);
    if (!worker.ok()) {
        fmt::print(stderr, "retort serve: error: {}\n", worker.error().message);
        server.shutdown(nullptr, std::chrono::milliseconds(0));
        http.join();
        return 1;
    }
    server.set_ready(worker.value().get(), tmpl, file_name);
    log_line(fmt::format("retort serve: ready: model '{}', {} parallel sequences of {} tokens, chat format {}, "
                         "API key {}",
                         so.alias, fl.parallel, n_ctx, chat_format_name(tmpl->format()), key.empty() ? "off" : "on"));

    // Wait for SIGINT/SIGTERM (or the listener failing).
    int sig = 0;
    while (!listening_done.load()) {
        timespec tick{0, 200 * 1000 * 1000};
        sig = sigtimedwait(&signals, nullptr, &tick);
        if (sig == SIGINT || sig == SIGTERM) break;
        sig = 0;
    }
    const auto grace = std::chrono::milliseconds((int64_t)(fl.grace_s * 1000));
    if (sig != 0)
        log_line(fmt::format("retort serve: {} received: refusing new requests; running ones get {:.0f} s to finish",
                             sig == SIGINT ? "SIGINT" : "SIGTERM", fl.grace_s));
    server.shutdown(worker.value().get(), grace);
    http.join();
    worker.value().reset();
    if (!listen_status.ok()) {
        fmt::print(stderr, "retort serve: error: {}\n", listen_status.error().message);
        return 1;
    }
    log_line("retort serve: stopped");
    return 0;
}

}  // namespace

void register_serve(CLI::App& app, CommandList& commands) {
    CLI::App* sub = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
    auto fl = std::make_shared<ServeFlags>();
    fl->engine.add_to(sub, /*model_required=*/false);
    sub->add_option("--alias", fl->alias, "Model name clients use (default: the file name)");
    sub->add_option("--host", fl->host, "Address to listen on (default: loopback only)");
    sub->add_option("--port", fl->port, "Port (0: any free port; the log line says which)")->check(CLI::Range(0, 65535));
    sub->add_option("--parallel", fl->parallel, "Sequences decoded together (KV slots)")->check(CLI::Range(1, 256));
    sub->add_option("--api-key", fl->api_key, "Require 'Authorization: Bearer KEY'");
    sub->add_option("--api-key-file", fl->api_key_file, "Read the API key from the first line of a file");
    sub->add_option("--max-queue", fl->max_queue, "Requests waiting for a slot before new ones get 429")
        ->check(CLI::Range((int64_t)0, (int64_t)100000));
    sub->add_option("--max-body", fl->max_body, "Largest request body in bytes (larger: 413)")
        ->check(CLI::Range((size_t)1024, (size_t)1 << 30));
    sub->add_option("-b,--batch", fl->batch, "Tokens one batched step may evaluate (decode rows + prefill chunks)")
        ->check(CLI::Range((int64_t)1, (int64_t)1 << 16));
    sub->add_option("--prefill-chunk", fl->prefill_chunk, "Most prompt tokens one request computes per step (0: --batch)")
        ->check(CLI::Range((int64_t)0, (int64_t)1 << 16));
    sub->add_flag("--no-prefix-cache", fl->no_prefix_cache, "Do not reuse cached prompt prefixes");
    sub->add_flag("--no-prefix-share", fl->no_prefix_share,
                  "Copy a cached prefix's KV rows instead of sharing its blocks between requests");
    sub->add_option("--kv-blocks", fl->kv_blocks, "KV blocks (32 positions each) the scheduler may use (0: all)")
        ->check(CLI::Range((int64_t)0, (int64_t)1 << 30));
    sub->add_option("--chat-format", fl->chat_format, "Override the chat format: r1, chatml, llama3");
    sub->add_option("--shutdown-grace", fl->grace_s, "Seconds running requests get to finish on SIGINT/SIGTERM")
        ->check(CLI::Range(0.0, 3600.0));
    sub->add_option("--http-threads", fl->http_threads, "HTTP worker threads (default: parallel + max-queue + 16)")
        ->check(CLI::Range(1, 4096));
    commands.push_back({sub, [fl] { return run_serve(*fl); }});
}

}  // namespace retort::cli
