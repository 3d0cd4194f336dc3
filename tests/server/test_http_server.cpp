// HttpServer in process, over loopback, with a real worker on the tiny qwen2 fixture (R1 vocab,
// so the R1 chat format and <think> splitting apply): endpoints, SSE, errors and statuses, API
// key, limits, metrics, disconnect cancellation, shutdown.
// GCC 12 reports std::regex internals (httplib.h uses them) as maybe-uninitialized under the
// sanitizers' -O2 -Werror: a false positive in libstdc++, as in tests/eval/eval_cli_test.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "server/http_server.h"
#include "support/test_files.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <thread>

namespace retort {
namespace {

using json = nlohmann::json;
const std::string kKey = "sk-test-123";

struct Live {
    std::unique_ptr<Worker> worker;
    std::unique_ptr<HttpServer> server;
    std::thread thread;
    std::vector<std::string> log;
    std::mutex log_mu;

    Live(const std::string& model, WorkerOptions wo = {}, int64_t n_ctx = 256, size_t max_body = 1 << 16,
         int64_t n_seq = 4) {
        EngineOptions eo;
        eo.n_seq = n_seq;
        eo.n_ctx = n_ctx;
        eo.n_threads = 1;
        auto engine = Engine::load(kData + "/" + model, eo);
        EXPECT_TRUE(engine.ok()) << (engine.ok() ? "" : engine.error().message);
        auto tmpl = ChatTemplate::from_gguf(engine.value()->model().file(), engine.value()->tokenizer());
        std::optional<ChatTemplate> t;
        if (tmpl.ok()) t = tmpl.value();
        auto w = Worker::start(std::move(engine.value()), wo);
        EXPECT_TRUE(w.ok());
        worker = std::move(w.value());
        ServerOptions so;
        so.port = 0;
        so.alias = "tiny";
        so.api_key = kKey;
        so.max_body_bytes = max_body;
        so.log = [this](const std::string& l) {
            std::lock_guard<std::mutex> lock(log_mu);
            log.push_back(l);
        };
        server = std::make_unique<HttpServer>(so);
        EXPECT_TRUE(server->bind().ok());
        thread = std::thread([this] { (void)server->listen(); });
        server->set_ready(worker.get(), t, "tiny-qwen2-F32");
    }
    ~Live() { stop(std::chrono::milliseconds(0)); }
    void stop(std::chrono::milliseconds grace) {
        if (!thread.joinable()) return;
        server->shutdown(worker.get(), grace);
        thread.join();
    }
    httplib::Client client(bool with_key = true) const {
        httplib::Client c("127.0.0.1", server->port());
        c.set_read_timeout(120, 0);
        if (with_key) c.set_bearer_token_auth(kKey);
        return c;
    }
    std::string metrics() {
        auto r = client().Get("/metrics");
        return r ? r->body : "";
    }
    double metric(const std::string& name) {
        const std::string text = metrics();
        std::smatch m;
        std::regex re("\n" + std::regex_replace(name, std::regex(R"([{}"])"), R"(\$&)") + " ([0-9.e+-]+)\n");
        if (std::regex_search(text, m, re)) return std::stod(m[1]);
        return -1;
    }
};

json post(httplib::Client& c, const std::string& path, const json& body, int* status = nullptr) {
    auto r = c.Post(path, body.dump(), "application/json");
    if (!r) {
        ADD_FAILURE() << "no response from " << path;
        return {};
    }
    if (status) *status = r->status;
    return json::parse(r->body, nullptr, false);
}

// The events of an SSE body: each "data: ..." payload in order.
std::vector<std::string> sse_events(const std::string& body) {
    std::vector<std::string> out;
    size_t i = 0;
    while ((i = body.find("data: ", i)) != std::string::npos) {
        const size_t end = body.find("\n\n", i);
        out.push_back(body.substr(i + 6, end - i - 6));
        i = end;
    }
    return out;
}

json chat(const std::string& text, int max_tokens) {
    return {{"model", "tiny"},
            {"messages", {{{"role", "user"}, {"content", text}}}},
            {"max_tokens", max_tokens},
            {"temperature", 0}};
}

class Http : public ::testing::Test {
protected:
    static void SetUpTestSuite() { live = new Live("tiny/tiny-qwen2-F32.gguf"); }
    static void TearDownTestSuite() {
        delete live;
        live = nullptr;
    }
    static Live* live;
};
Live* Http::live = nullptr;

TEST_F(Http, HealthAndModels) {
    auto c = live->client(false);  // /health needs no key
    auto h = c.Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(json::parse(h->body)["status"], "ok");
    auto k = live->client();
    auto m = k.Get("/v1/models");
    ASSERT_TRUE(m);
    json j = json::parse(m->body);
    EXPECT_EQ(j["object"], "list");
    EXPECT_EQ(j["data"][0]["id"], "tiny");
    EXPECT_EQ(k.Get("/v1/models/tiny")->status, 200);
    EXPECT_EQ(k.Get("/v1/models/gpt-4")->status, 404);
}

TEST_F(Http, ApiKeyRequired) {
    auto c = live->client(false);
    auto r = c.Post("/v1/chat/completions", chat("hi", 2).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
    c.set_bearer_token_auth("sk-wrong");
    EXPECT_EQ(c.Post("/v1/chat/completions", chat("hi", 2).dump(), "application/json")->status, 401);
    EXPECT_EQ(c.Get("/v1/models")->status, 401);
}

TEST_F(Http, ChatNonStreamed) {
    auto c = live->client();
    int status = 0;
    json r = post(c, "/v1/chat/completions", chat("Hello there", 12), &status);
    ASSERT_EQ(status, 200) << r.dump();
    EXPECT_EQ(r["object"], "chat.completion");
    EXPECT_EQ(r["model"], "tiny");
    EXPECT_TRUE(r["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
    const json& choice = r["choices"][0];
    EXPECT_EQ(choice["message"]["role"], "assistant");
    EXPECT_TRUE(choice["message"]["content"].is_string());
    EXPECT_TRUE(choice["message"]["reasoning_content"].is_string());
    EXPECT_TRUE(choice["finish_reason"] == "length" || choice["finish_reason"] == "stop");
    const json& u = r["usage"];
    EXPECT_GT(u["prompt_tokens"].get<int>(), 3);
    EXPECT_LE(u["completion_tokens"].get<int>(), 12);
    EXPECT_EQ(u["total_tokens"], u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
    EXPECT_LE(u["completion_tokens_details"]["reasoning_tokens"].get<int>(), u["completion_tokens"].get<int>());
}

TEST_F(Http, ReasoningSplitMatchesRawText) {
    auto c = live->client();
    json raw_req = chat("Why?", 24);
    raw_req["reasoning_format"] = "none";
    json raw = post(c, "/v1/chat/completions", raw_req);
    json split = post(c, "/v1/chat/completions", chat("Why?", 24));
    const std::string text = raw["choices"][0]["message"]["content"];
    EXPECT_FALSE(raw["choices"][0]["message"].contains("reasoning_content"));
    const std::string reasoning = split["choices"][0]["message"]["reasoning_content"];
    const std::string content = split["choices"][0]["message"]["content"];
    // The R1 prompt opens <think>: the raw text is the reasoning, then maybe </think> and the answer.
    const size_t close = text.find("</think>");
    if (close == std::string::npos) {
        EXPECT_EQ(content, "");
        EXPECT_NE(reasoning, "");
    } else {
        EXPECT_NE(text.find(content), std::string::npos);
    }
    EXPECT_EQ(raw["usage"]["completion_tokens"], split["usage"]["completion_tokens"]);
}

TEST_F(Http, ChatStreamedMatchesNonStreamed) {
    auto c = live->client();
    json req = chat("Tell me", 16);
    json whole = post(c, "/v1/chat/completions", req);
    req["stream"] = true;
    req["stream_options"] = {{"include_usage", true}};
    auto r = c.Post("/v1/chat/completions", req.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
    auto events = sse_events(r->body);
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.back(), "[DONE]");
    std::string content, reasoning, finish;
    json usage;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
        json e = json::parse(events[i]);
        EXPECT_EQ(e["object"], "chat.completion.chunk");
        if (i == 0) {
            EXPECT_EQ(e["choices"][0]["delta"]["role"], "assistant");
        }
        if (e.contains("usage") && e["choices"].empty()) {
            usage = e["usage"];
            continue;
        }
        const json& d = e["choices"][0]["delta"];
        if (d.contains("content")) content += d["content"].get<std::string>();
        if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
        if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(content, whole["choices"][0]["message"]["content"]);
    EXPECT_EQ(reasoning, whole["choices"][0]["message"]["reasoning_content"]);
    EXPECT_EQ(finish, whole["choices"][0]["finish_reason"]);
    EXPECT_EQ(usage["completion_tokens"], whole["usage"]["completion_tokens"]);
    EXPECT_EQ(usage["completion_tokens_details"]["reasoning_tokens"],
              whole["usage"]["completion_tokens_details"]["reasoning_tokens"]);
}

TEST_F(Http, CompletionsWithLogprobs) {
    auto c = live->client();
    int status = 0;
    json r = post(c, "/v1/completions", {{"prompt", "abc"}, {"max_tokens", 5}, {"temperature", 0}, {"logprobs", 2}},
                  &status);
    ASSERT_EQ(status, 200) << r.dump();
    EXPECT_EQ(r["object"], "text_completion");
    const json& lp = r["choices"][0]["logprobs"];
    ASSERT_EQ(lp["tokens"].size(), 5u);
    ASSERT_EQ(lp["token_logprobs"].size(), 5u);
    EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
    EXPECT_LE(lp["token_logprobs"][0].get<double>(), 0.0);
    // Token ids as the prompt work too.
    r = post(c, "/v1/completions", {{"prompt", {1, 2, 3}}, {"max_tokens", 2}}, &status);
    EXPECT_EQ(status, 200) << r.dump();
    r = post(c, "/v1/completions", {{"prompt", {1, 99999}}, {"max_tokens", 2}}, &status);
    EXPECT_EQ(status, 400) << r.dump();
}

TEST_F(Http, ChatLogprobs) {
    auto c = live->client();
    json req = chat("x", 4);
    req["logprobs"] = true;
    req["top_logprobs"] = 2;
    json r = post(c, "/v1/chat/completions", req);
    const json& content = r["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(content.size(), 4u);
    EXPECT_TRUE(content[0]["token"].is_string());
    EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);
    EXPECT_TRUE(content[0]["bytes"].is_array());
    // greedy: the chosen token is the top one
    EXPECT_DOUBLE_EQ(content[0]["logprob"].get<double>(), content[0]["top_logprobs"][0]["logprob"].get<double>());
}

TEST_F(Http, SeedReproducible) {
    auto c = live->client();
    json req = chat("seeded", 10);
    req["temperature"] = 1.0;
    req["seed"] = 1234;
    req["reasoning_format"] = "none";
    json a = post(c, "/v1/chat/completions", req), b = post(c, "/v1/chat/completions", req);
    EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
}

TEST_F(Http, StopStrings) {
    auto c = live->client();
    json req = chat("stop test", 30);
    req["reasoning_format"] = "none";
    const std::string full = post(c, "/v1/chat/completions", req)["choices"][0]["message"]["content"];
    ASSERT_GT(full.size(), 12u);
    // A stop string from the middle of the greedy text: the reply ends just before it. The
    // random-weight model emits any bytes; take printable ASCII so JSON keeps them as they are.
    size_t at = 4;
    auto printable = [&](size_t i) { return i < full.size() && full[i] >= 0x20 && full[i] < 0x7f; };
    while (at + 3 <= full.size() && !(printable(at) && printable(at + 1) && printable(at + 2))) ++at;
    ASSERT_LE(at + 3, full.size()) << "no printable run in " << full;
    std::string stop = full.substr(at, 3);
    req["stop"] = {stop};
    json r = post(c, "/v1/chat/completions", req);
    EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(r["choices"][0]["message"]["content"], full.substr(0, full.find(stop)));
}

TEST_F(Http, BadRequests) {
    auto c = live->client();
    auto r = c.Post("/v1/chat/completions", "{not json", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    json e = json::parse(r->body);
    EXPECT_EQ(e["error"]["type"], "invalid_request_error");
    int status = 0;
    json req = chat("hi", 4);
    req["temperature"] = 9;
    e = post(c, "/v1/chat/completions", req, &status);
    EXPECT_EQ(status, 400);
    EXPECT_EQ(e["error"]["param"], "temperature");
    req = chat("hi", 4);
    req["n"] = 3;
    EXPECT_EQ((post(c, "/v1/chat/completions", req, &status), status), 400);
    req = chat("hi", 4);
    req["model"] = "gpt-4o";
    e = post(c, "/v1/chat/completions", req, &status);
    EXPECT_EQ(status, 404);
    EXPECT_EQ(e["error"]["code"], "model_not_found");
    // Prompt + max_tokens over the context: 400 naming the numbers.
    req = chat("hi", 1000);
    e = post(c, "/v1/chat/completions", req, &status);
    EXPECT_EQ(status, 400);
    const std::string msg = e["error"]["message"];
    EXPECT_NE(msg.find("256"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1000"), std::string::npos) << msg;
    EXPECT_EQ(e["error"]["code"], "context_length_exceeded");
    // Unknown endpoint.
    auto u = c.Get("/v1/nothing");
    EXPECT_EQ(u->status, 404);
    EXPECT_TRUE(json::parse(u->body).contains("error"));
}

TEST_F(Http, BodyOverLimitIs413) {
    auto c = live->client();
    std::string big = chat(std::string(70000, 'a'), 2).dump();  // the limit here is 64 KiB
    auto r = c.Post("/v1/chat/completions", big, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "request_too_large");
}

// A raw client that sends a streaming request, reads the first bytes and hangs up.
void hang_up_after_first_bytes(int port, const std::string& body) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
                            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                            "\r\n\r\n" + body;
    ASSERT_EQ(send(fd, req.data(), req.size(), 0), (ssize_t)req.size());
    char buf[512];
    ASSERT_GT(recv(fd, buf, sizeof(buf), 0), 0);
    close(fd);
}

TEST_F(Http, ClientDisconnectCancels) {
    const double before = live->metric(R"(retort_requests_finished_total{reason="cancelled"})");
    json req = chat("long", 240);
    req["stream"] = true;
    req["ignore_eos"] = true;
    hang_up_after_first_bytes(live->server->port(), req.dump());
    json r2 = chat("long", 240);
    r2["ignore_eos"] = true;
    // The non-streamed kind too: the handler notices while it waits.
    {
        const std::string body = r2.dump();
        std::thread t([&] {
            const int fd = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons((uint16_t)live->server->port());
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
            const std::string q = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
                                  "\r\nContent-Type: application/json\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body;
            (void)send(fd, q.data(), q.size(), 0);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            close(fd);
        });
        t.join();
    }
    double after = before;
    for (int i = 0; i < 200 && after < before + 2; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        after = live->metric(R"(retort_requests_finished_total{reason="cancelled"})");
    }
    EXPECT_GE(after, before + 2);
    EXPECT_EQ(live->metric("retort_sequences_running"), 0);
    EXPECT_EQ(live->metric("retort_kv_blocks_running"), 0);
}

TEST_F(Http, MetricsAndLogLines) {
    auto c = live->client();
    post(c, "/v1/chat/completions", chat("metrics", 3));
    const std::string m = live->metrics();
    for (const char* name :
         {"retort_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}", "retort_prompt_tokens_total",
          "retort_generated_tokens_total", "retort_queue_depth", "retort_sequences_running", "retort_kv_blocks_free",
          "retort_time_to_first_token_seconds_bucket", "retort_inter_token_latency_seconds_bucket",
          "process_resident_memory_bytes", "retort_requests_finished_total{reason=\"max_tokens\"}"})
        EXPECT_NE(m.find(name), std::string::npos) << name;
    EXPECT_EQ(live->metric("retort_kv_books_mismatch"), 0);
    std::lock_guard<std::mutex> lock(live->log_mu);
    bool found = false;
    for (const auto& l : live->log)
        if (l.find("POST /v1/chat/completions 200 prompt=") != std::string::npos &&
            l.find("ttft_ms=") != std::string::npos && l.find("chatcmpl-") != std::string::npos)
            found = true;
    EXPECT_TRUE(found);
}

TEST(HttpLoading, HealthSaysLoadingUntilReady) {
    ServerOptions so;
    so.port = 0;
    so.alias = "x";
    so.log = [](const std::string&) {};
    HttpServer server(so);
    ASSERT_TRUE(server.bind().ok());
    std::thread t([&] { (void)server.listen(); });
    httplib::Client c("127.0.0.1", server.port());
    auto h = c.Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 503);
    EXPECT_EQ(json::parse(h->body)["status"], "loading");
    auto r = c.Post("/v1/chat/completions", chat("hi", 2).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_loading");
    server.shutdown(nullptr, std::chrono::milliseconds(0));
    t.join();
}

TEST(HttpLimits, QueueFullIs429) {
    // One slot, no waiting room: while one long request runs, the next is refused.
    WorkerOptions wo;
    wo.max_queue = 0;
    Live live("stories260K/stories260K.gguf", wo, /*n_ctx=*/2048, 1 << 16, /*n_seq=*/1);
    json req = {{"prompt", "Once upon a time"}, {"max_tokens", 2000}, {"ignore_eos", true}};
    std::thread busy([&] {
        auto c = live.client();
        c.Post("/v1/completions", req.dump(), "application/json");
    });
    for (int i = 0; i < 2000 && live.metric("retort_requests_active") < 1; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto c = live.client();
    auto r = c.Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 1}}.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429) << r->body;
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "queue_full");
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_GE(live.metric("retort_requests_rejected_queue_full_total"), 1);
    busy.join();
}

TEST(HttpShutdown, GracefulFinishesRunningAndRefusesNew) {
    Live live("stories260K/stories260K.gguf", {}, /*n_ctx=*/2048);
    json req = {{"prompt", "Once upon a time"}, {"max_tokens", 1500}, {"ignore_eos", true}, {"stream", true}};
    std::string body;
    std::thread client([&] {
        auto c = live.client();
        auto r = c.Post("/v1/completions", req.dump(), "application/json");
        if (r) body = r->body;
    });
    for (int i = 0; i < 5000 && live.metric("retort_sequences_running") < 1; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::thread stopper([&] { live.stop(std::chrono::seconds(120)); });
    // While it drains, new requests are refused with 503.
    for (int i = 0; i < 500; ++i) {
        httplib::Client c("127.0.0.1", live.server->port());
        c.set_bearer_token_auth(kKey);
        auto r = c.Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 1}}.dump(), "application/json");
        if (!r) break;  // no longer listening
        if (r->status == 503) {
            EXPECT_EQ(json::parse(r->body)["error"]["code"], "shutting_down");
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stopper.join();
    client.join();
    auto events = sse_events(body);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.back(), "[DONE]");
    EXPECT_EQ(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "length");
}

}  // namespace
}  // namespace retort
