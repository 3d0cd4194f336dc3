// The endpoint client of `retort eval --endpoint` against small in-test httplib servers: SSE and
// plain replies reassembled, 429 + Retry-After honoured, bounded retries on 500, no retry on
// 400, connection errors, the rate limiter's spacing, URL checks.
#include "eval/endpoint.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace retort::eval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// An httplib server on a free loopback port, stopped when the test ends.
class TestServer {
public:
    explicit TestServer(std::function<void(httplib::Server&)> routes) {
        routes(svr_);
        port_ = svr_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { svr_.listen_after_bind(); });
        while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~TestServer() {
        svr_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    httplib::Server svr_;
    int port_ = 0;
    std::thread thread_;
};

const char* kStream =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,"
    "\"reasoning_content\":\"Two and \"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"two.\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\\\boxed{4}\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":9,"
    "\"completion_tokens_details\":{\"reasoning_tokens\":6}}}\n\n"
    "data: [DONE]\n\n";

EndpointOptions fast_options(const std::string& url) {
    EndpointOptions o;
    o.url = url;
    o.model = "m";
    o.connect_timeout_s = 2;
    o.request_timeout_s = 10;
    o.retry.base_delay_s = 0.01;
    o.retry.max_delay_s = 0.05;
    return o;
}

TEST(Endpoint, StreamedReplyIsReassembled) {
    std::string seen_body, seen_auth;
    TestServer server([&](httplib::Server& s) {
        s.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
            seen_body = req.body;
            seen_auth = req.get_header_value("Authorization");
            res.set_content(kStream, "text/event-stream");
        });
    });
    auto o = fast_options(server.url() + "/v1/");  // a trailing /v1 is the API root, not a prefix
    o.api_key = "sekret";
    auto c = EndpointClient::create(o);
    ASSERT_TRUE(c.ok()) << c.error().message;
    ChatRequest req;
    req.user = "What is 2+2?";
    req.temperature = 0.6;
    req.top_p = 0.95;
    req.max_tokens = 64;
    req.seed = 42;
    auto r = (*c)->chat(req);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->reasoning, "Two and two.");
    EXPECT_EQ(r->content, "\\boxed{4}");
    EXPECT_EQ(r->finish_reason, "stop");
    EXPECT_EQ(r->completion_tokens, 9);
    EXPECT_EQ(r->reasoning_tokens, 6);
    EXPECT_TRUE(r->ttft_ms.has_value());
    EXPECT_EQ(r->attempts, 1);
    EXPECT_EQ(assemble_output(*r), "<think>\nTwo and two.\n</think>\n\n\\boxed{4}");
    EXPECT_EQ(seen_auth, "Bearer sekret");
    const auto body = nlohmann::json::parse(seen_body);
    EXPECT_EQ(body["model"], "m");
    EXPECT_EQ(body["messages"][0]["role"], "user");
    EXPECT_EQ(body["messages"][0]["content"], "What is 2+2?");
    EXPECT_EQ(body["max_tokens"], 64);
    EXPECT_EQ(body["seed"], 42);
    EXPECT_EQ(body["stream"], true);
}

TEST(Endpoint, PlainJsonReplyIsRead) {
    TestServer server([](httplib::Server& s) {
        s.Post("/api/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(R"({"choices":[{"message":{"role":"assistant","content":"<think>\nhm\n</think>\n\n7"},)"
                            R"("finish_reason":"length"}],"usage":{"completion_tokens":5}})",
                            "application/json");
        });
    });
    auto c = EndpointClient::create(fast_options(server.url() + "/api"));
    ASSERT_TRUE(c.ok());
    auto r = (*c)->chat(ChatRequest{"q", {}, {}, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(assemble_output(*r), "<think>\nhm\n</think>\n\n7");  // not split: kept as is
    EXPECT_EQ(r->finish_reason, "length");
    EXPECT_EQ(r->completion_tokens, 5);
}

TEST(Endpoint, ReasoningWithoutAnswerStaysOpen) {
    ChatReply r;
    r.reasoning = "thinking";
    r.finish_reason = "length";
    EXPECT_EQ(assemble_output(r), "<think>\nthinking");
    r.finish_reason = "stop";
    EXPECT_EQ(assemble_output(r), "<think>\nthinking");
    r.content = "42";
    EXPECT_EQ(assemble_output(r), "<think>\nthinking\n</think>\n\n42");
}

TEST(Endpoint, RetriesAfter429HonouringRetryAfter) {
    std::atomic<int> calls{0};
    TestServer server([&](httplib::Server& s) {
        s.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
            if (calls.fetch_add(1) == 0) {
                res.status = 429;
                res.set_header("Retry-After", "1");
                res.set_content(R"({"error":{"message":"slow down","code":"queue_full"}})", "application/json");
                return;
            }
            res.set_content(kStream, "text/event-stream");
        });
    });
    auto c = EndpointClient::create(fast_options(server.url()));
    ASSERT_TRUE(c.ok());
    const auto t0 = Clock::now();
    auto r = (*c)->chat(ChatRequest{"q", {}, {}, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(calls.load(), 2);
    EXPECT_EQ(r->attempts, 2);
    EXPECT_EQ((*c)->retries(), 1);
    EXPECT_GE(seconds_since(t0), 0.95);  // Retry-After: 1, not the 10 ms backoff
}

TEST(Endpoint, Always500GivesUpAfterBoundedAttempts) {
    std::atomic<int> calls{0};
    TestServer server([&](httplib::Server& s) {
        s.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
            calls.fetch_add(1);
            res.status = 500;
            res.set_content(R"({"error":{"message":"boom"}})", "application/json");
        });
    });
    auto o = fast_options(server.url());
    o.retry.max_attempts = 3;
    auto c = EndpointClient::create(o);
    ASSERT_TRUE(c.ok());
    const auto t0 = Clock::now();
    auto r = (*c)->chat(ChatRequest{"q", {}, {}, {}, {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(calls.load(), 3);
    EXPECT_LT(seconds_since(t0), 2.0);
    EXPECT_NE(r.error().message.find("HTTP 500: boom"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("after 3 attempts"), std::string::npos) << r.error().message;
}

TEST(Endpoint, ClientErrorIsNotRetried) {
    std::atomic<int> calls{0};
    TestServer server([&](httplib::Server& s) {
        s.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
            calls.fetch_add(1);
            res.status = 401;
            res.set_content(R"({"error":{"message":"bad key"}})", "application/json");
        });
        s.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
            res.status = 401;
            res.set_content(R"({"error":{"message":"bad key"}})", "application/json");
        });
    });
    auto c = EndpointClient::create(fast_options(server.url()));
    ASSERT_TRUE(c.ok());
    auto r = (*c)->chat(ChatRequest{"q", {}, {}, {}, {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(calls.load(), 1);
    EXPECT_NE(r.error().message.find("HTTP 401: bad key"), std::string::npos) << r.error().message;
    auto models = (*c)->list_models();
    ASSERT_FALSE(models.ok());
    EXPECT_NE(models.error().message.find("refused the API key"), std::string::npos);
}

TEST(Endpoint, UnreachableEndpointFailsQuickly) {
    // A port that was just free: nothing listens there.
    int port = 0;
    {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
        port = ntohs(a.sin_port);
        close(fd);
    }
    auto o = fast_options("http://127.0.0.1:" + std::to_string(port));
    o.retry.max_attempts = 2;
    auto c = EndpointClient::create(o);
    ASSERT_TRUE(c.ok());
    const auto t0 = Clock::now();
    auto models = (*c)->list_models();
    ASSERT_FALSE(models.ok());
    EXPECT_NE(models.error().message.find("cannot reach"), std::string::npos) << models.error().message;
    auto r = (*c)->chat(ChatRequest{"q", {}, {}, {}, {}});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("cannot reach the endpoint"), std::string::npos) << r.error().message;
    EXPECT_LT(seconds_since(t0), 5.0);
}

TEST(Endpoint, RequestTimeoutBoundsASilentServer) {
    TestServer server([](httplib::Server& s) {
        s.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            res.set_content(kStream, "text/event-stream");
        });
    });
    auto o = fast_options(server.url());
    o.request_timeout_s = 0.5;
    o.retry.max_attempts = 1;
    auto c = EndpointClient::create(o);
    ASSERT_TRUE(c.ok());
    const auto t0 = Clock::now();
    auto r = (*c)->chat(ChatRequest{"q", {}, {}, {}, {}});
    EXPECT_FALSE(r.ok());
    EXPECT_LT(seconds_since(t0), 1.4);
}

TEST(Endpoint, RateLimiterSpacesStarts) {
    RateLimiter limiter(20.0);  // 50 ms apart
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 3; ++i) limiter.acquire();
        });
    for (auto& t : threads) t.join();
    // 12 starts, the first at once: at least 11 gaps of 50 ms.
    EXPECT_GE(seconds_since(t0), 0.5);
    RateLimiter unlimited(0);
    const auto t1 = Clock::now();
    for (int i = 0; i < 1000; ++i) unlimited.acquire();
    EXPECT_LT(seconds_since(t1), 0.1);
}

TEST(Endpoint, BackoffDoublesUpToTheCap) {
    RetryPolicy p;
    p.base_delay_s = 1;
    p.max_delay_s = 5;
    EXPECT_DOUBLE_EQ(p.backoff_s(1), 1);
    EXPECT_DOUBLE_EQ(p.backoff_s(2), 2);
    EXPECT_DOUBLE_EQ(p.backoff_s(3), 4);
    EXPECT_DOUBLE_EQ(p.backoff_s(4), 5);
    EXPECT_DOUBLE_EQ(p.backoff_s(40), 5);
}

TEST(Endpoint, BadUrlsAreRefused) {
    for (const char* url : {"", "localhost:8080", "ftp://x/", "http://", "http://host:99999", "http://a b/", "http://h:/",
                            "http://h:8x", "http://[::1", "http://h/a b", "http://h/?q"}) {
        EndpointOptions o;
        o.url = url;
        EXPECT_FALSE(EndpointClient::create(o).ok()) << url;
    }
    EndpointOptions o;
    o.url = "https://api.example.com/v1";
    auto c = EndpointClient::create(o);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)->base_url(), "https://api.example.com");
    o.url = "http://[::1]:8080/api/";
    c = EndpointClient::create(o);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)->base_url(), "http://[::1]:8080/api");
}

}  // namespace
}  // namespace retort::eval
