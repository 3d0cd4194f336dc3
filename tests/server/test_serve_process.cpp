// `retort serve` as a process on loopback: the embedded default model, graceful exit on
// SIGINT/SIGTERM, and the bounded load test (64 concurrent streaming clients, 5 rounds: zero
// failed requests, no sequence or KV block left held, memory flat across rounds).
// GCC 12 reports std::regex internals (serve_process.h, httplib.h) as maybe-uninitialized under
// the sanitizers with -Werror: a false positive in libstdc++, as in tests/eval/eval_cli_test.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "server/serve_process.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <random>

namespace retort {
namespace {

using json = nlohmann::json;
using test::prometheus_value;
using test::ServeProcess;

TEST(ServeProcess, DefaultModelAndSigterm) {
    ServeProcess p({"--parallel", "2"});
    ASSERT_GT(p.port(), 0);
    ASSERT_TRUE(p.wait_ready());
    auto c = p.client();
    auto m = c.Get("/v1/models");
    ASSERT_TRUE(m);
    EXPECT_EQ(json::parse(m->body)["data"][0]["id"], "stories260K");
    auto r = c.Post("/v1/completions", json{{"prompt", "Once upon a time"}, {"max_tokens", 16}, {"temperature", 0}}.dump(),
                    "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    // stories260K's own greedy continuation (llama2.c's story).
    EXPECT_EQ(json::parse(r->body)["choices"][0]["text"].get<std::string>().rfind(", there was a little girl", 0), 0u)
        << r->body;
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(std::chrono::seconds(30)), std::optional<int>(0));
    bool stopped = false, logged = false;
    for (const auto& l : p.lines()) {
        stopped |= l.find("stopped") != std::string::npos;
        logged |= l.find("POST /v1/completions 200 prompt=") != std::string::npos;
    }
    EXPECT_TRUE(stopped);
    EXPECT_TRUE(logged);
}

TEST(ServeProcess, SigintLetsRunningRequestFinish) {
    ServeProcess p({"--parallel", "2", "--shutdown-grace", "60"});
    ASSERT_TRUE(p.wait_ready());
    std::string body;
    std::thread client([&] {
        auto c = p.client();
        auto r = c.Post("/v1/completions",
                        json{{"prompt", "Once"}, {"max_tokens", 100}, {"ignore_eos", true}, {"stream", true}}.dump(),
                        "application/json");
        if (r) body = r->body;
    });
    // Wait until it runs, then interrupt.
    for (int i = 0; i < 500; ++i) {
        auto c = p.client();
        auto m = c.Get("/metrics");
        if (m && prometheus_value(m->body, "retort_sequences_running") >= 1) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    p.signal(SIGINT);
    client.join();
    EXPECT_EQ(p.wait_exit(std::chrono::seconds(60)), std::optional<int>(0));
    EXPECT_NE(body.find("\"finish_reason\":\"length\""), std::string::npos) << body;
    EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
}

// One streaming chat request; returns "" on success or what went wrong.
std::string stream_one(const ServeProcess& p, int max_tokens, int variant) {
    json req{{"model", "stories260K"},
             {"messages", {{{"role", "system"}, {"content", "Tell a story."}},
                           {{"role", "user"}, {"content", "Story number " + std::to_string(variant % 7)}}}},
             {"max_tokens", max_tokens},
             {"stream", true},
             {"stream_options", {{"include_usage", true}}},
             {"temperature", variant % 2 ? 0.8 : 0.0},
             {"seed", variant}};
    auto c = p.client();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Post("/v1/chat/completions", req.dump(), "application/json");
    if (!r)
        return "no response after " +
               std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) +
               " s: " + httplib::to_string(r.error());
    if (r->status != 200) return "status " + std::to_string(r->status) + ": " + r->body;
    if (r->body.find("data: [DONE]") == std::string::npos) return "no [DONE]";
    const size_t u = r->body.find("\"usage\":");
    if (u == std::string::npos) return "no usage";
    if (r->body.find("\"finish_reason\":\"") == std::string::npos) return "no finish_reason";
    return "";
}

// A client that goes away mid-stream (its request is cancelled, not failed).
void stream_and_hang_up(int port, int variant) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        close(fd);
        return;
    }
    const std::string body = json{{"prompt", "Once upon a time " + std::to_string(variant)},
                                  {"max_tokens", 100},
                                  {"ignore_eos", true},
                                  {"stream", true}}
                                 .dump();
    const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)send(fd, req.data(), req.size(), 0);
    char buf[256];
    (void)recv(fd, buf, sizeof(buf), 0);
    close(fd);
}

TEST(ServeProcess, LoadTest64StreamingClients5Rounds) {
    constexpr int kClients = 64, kRounds = 5, kHangUps = 4;
    ServeProcess p({"--parallel", "16", "--max-queue", "64", "--ctx", "128"});
    ASSERT_TRUE(p.wait_ready());
    std::vector<double> rss;
    int64_t failures = 0;
    std::mt19937 rng(7);
    for (int round = 0; round < kRounds; ++round) {
        std::vector<std::thread> threads;
        std::vector<std::string> errors(kClients);
        std::vector<int> lens(kClients);
        for (int i = 0; i < kClients; ++i) lens[(size_t)i] = 4 + (int)(rng() % 40);
        for (int i = 0; i < kClients; ++i)
            threads.emplace_back([&, i] { errors[(size_t)i] = stream_one(p, lens[(size_t)i], round * kClients + i); });
        for (int i = 0; i < kHangUps; ++i) threads.emplace_back([&, i] { stream_and_hang_up(p.port(), i); });
        for (auto& t : threads) t.join();
        for (int i = 0; i < kClients; ++i)
            if (!errors[(size_t)i].empty()) {
                ++failures;
                ADD_FAILURE() << "round " << round << " client " << i << ": " << errors[(size_t)i];
            }
        // Idle again: nothing held by requests, the books and the cache agree. The server counts
        // a request after its last byte is written, so a client can finish just before its
        // request is counted: wait for the count too.
        const auto ok_count = [](const std::string& m) {
            return prometheus_value(m, R"(retort_http_requests_total{endpoint="/v1/chat/completions",status="200"})");
        };
        const double ok_expected = (double)(kClients * (round + 1));
        std::string m;
        for (int i = 0; i < 200; ++i) {
            auto c = p.client();
            auto r = c.Get("/metrics");
            m = r ? r->body : "";
            if (prometheus_value(m, "retort_requests_active") == 0 &&
                prometheus_value(m, "retort_sequences_running") == 0 && ok_count(m) >= ok_expected)
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        EXPECT_EQ(prometheus_value(m, "retort_requests_active"), 0) << "round " << round;
        EXPECT_EQ(prometheus_value(m, "retort_sequences_running"), 0) << "round " << round;
        EXPECT_EQ(prometheus_value(m, "retort_queue_depth"), 0) << "round " << round;
        EXPECT_EQ(prometheus_value(m, "retort_kv_blocks_running"), 0) << "round " << round;
        EXPECT_EQ(prometheus_value(m, "retort_kv_blocks_free") + prometheus_value(m, "retort_kv_blocks_cached"),
                  prometheus_value(m, "retort_kv_blocks_total"))
            << "round " << round;
        EXPECT_EQ(prometheus_value(m, "retort_kv_books_mismatch"), 0);
        EXPECT_EQ(prometheus_value(m, R"(retort_requests_finished_total{reason="failed"})"), 0);
        rss.push_back(prometheus_value(m, "process_resident_memory_bytes"));
        EXPECT_EQ(ok_count(m), ok_expected) << "round " << round;
        RecordProperty("rss_round_" + std::to_string(round), std::to_string((int64_t)rss.back()));
    }
    EXPECT_EQ(failures, 0);
    if (failures > 0)
        for (const auto& l : p.lines())
            if (l.find(" 200 ") == std::string::npos) std::fprintf(stderr, "server: %s\n", l.c_str());
    // Memory flat: after the first round warmed the allocator and the thread pool up, later
    // rounds stay within 8 MiB of it.
    for (int r = 1; r < kRounds; ++r)
        EXPECT_LE(rss[(size_t)r], rss[0] + 8.0 * 1024 * 1024) << "round " << r << " rss " << rss[(size_t)r]
                                                               << " vs first " << rss[0];
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(std::chrono::seconds(60)), std::optional<int>(0));
}

}  // namespace
}  // namespace retort
