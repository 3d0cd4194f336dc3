// `retort render`, `retort run --chat` and `retort chat` end to end: renderings byte for byte
// against tests/data/vocab/chat_renders.json, one scripted turn, and the interactive chat
// driven through a pseudo-terminal (forkpty) on the tiny R1-vocab fixture. Every wait on the
// child is bounded; a stuck child is killed and the test fails.
// GCC 12 reports std::regex internals as maybe-uninitialized under the sanitizers with
// -Werror: a false positive in libstdc++, as in tests/eval/eval_cli_test.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "support/test_files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <poll.h>
#include <pty.h>
#include <regex>
#include <sys/wait.h>
#include <unistd.h>

namespace retort {
namespace {

const std::string kBin = RETORT_BINARY;
const std::string kTiny = kData + "/tiny/tiny-qwen2-F32.gguf";

struct Output {
    int rc = -1;
    std::string out, err;
};

Output retort(const std::string& args) {
    const std::string dir = ::testing::TempDir();
    const std::string out = dir + "/chat_out", err = dir + "/chat_err";
    const std::string cmd = kBin + " " + args + " </dev/null >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    Output r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ifstream o(out, std::ios::binary), e(err, std::ios::binary);
    r.out.assign(std::istreambuf_iterator<char>(o), {});
    r.err.assign(std::istreambuf_iterator<char>(e), {});
    return r;
}

std::string write_temp(const std::string& name, const std::string& text) {
    const std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---------------------------------------------------------------------------------------------
// render

TEST(Render, MatchesReferenceRenderings) {
    const auto renders = nlohmann::json::parse(read_text(kData + "/vocab/chat_renders.json"));
    int checked = 0;
    for (const char* vocab : {"ggml-vocab-r1-distill-qwen.gguf", "ggml-vocab-r1-distill-llama.gguf"}) {
        for (const auto& r : renders) {
            const std::string name = r["name"];
            SCOPED_TRACE(std::string(vocab) + " " + name);
            const std::string msgs = write_temp("render_msgs.json", r["messages"].dump());
            const std::string args = "render -m " + kData + "/vocab/" + vocab + " -f " + msgs +
                                     (r["add_generation_prompt"].get<bool>() ? "" : " --no-generation-prompt");
            Output o = retort(args);
            ASSERT_EQ(o.rc, 0) << o.err;
            EXPECT_EQ(o.out, r["rendered"].get<std::string>());  // exactly: no newline added
            ++checked;
        }
    }
    EXPECT_EQ(checked, 12);
}

TEST(Render, OverrideAndErrors) {
    const std::string msgs = write_temp("render_msgs2.json", R"([{"role":"user","content":"Hi"}])");
    const std::string vocab = kData + "/vocab/ggml-vocab-r1-distill-qwen.gguf";
    Output c = retort("render -m " + vocab + " --chat-template chatml -f " + msgs);
    ASSERT_EQ(c.rc, 0) << c.err;
    EXPECT_EQ(c.out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    Output g = retort("render -m " + vocab + " --no-generation-prompt -f " + msgs);
    ASSERT_EQ(g.rc, 0) << g.err;
    EXPECT_EQ(g.out, "<｜begin▁of▁sentence｜><｜User｜>Hi");

    const std::string bad = write_temp("render_bad.json", R"([{"content":"no role"}])");
    Output b = retort("render -m " + vocab + " -f " + bad);
    EXPECT_EQ(b.rc, 2);
    EXPECT_NE(b.err.find("role"), std::string::npos) << b.err;
    Output m = retort("render -m " + vocab + " -f /nonexistent.json");
    EXPECT_EQ(m.rc, 2);
    Output t = retort("render -m " + vocab + " --chat-template jinja -f " + msgs);
    EXPECT_EQ(t.rc, 2);
}

// ---------------------------------------------------------------------------------------------
// run --chat

TEST(RunChat, OneTurnWithReasoningBudget) {
    const std::string base = "run --chat -m " + kTiny + " -p 'What is 2+2?' -n 12 --temp 0 --ignore-eos -t 2";
    Output r = retort(base + " --reasoning-budget 3");
    ASSERT_EQ(r.rc, 0) << r.err;
    // Not a terminal: reasoning between tags, then the answer.
    EXPECT_EQ(r.out.rfind("<think>\n", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\n</think>\n\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("\x1b["), std::string::npos);
    EXPECT_NE(r.err.find("chat format r1"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("3 reasoning, budget reached"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;

    Output h = retort(base + " --reasoning-budget 3 --hide-reasoning");
    ASSERT_EQ(h.rc, 0) << h.err;
    EXPECT_EQ(h.out.find("<think>"), std::string::npos) << h.out;
    // The answer alone: what follows the tags in the full output.
    const std::string answer = r.out.substr(r.out.find("\n</think>\n\n") + 11);
    EXPECT_EQ(h.out, answer);

    Output same = retort(base + " --reasoning-budget 3");
    EXPECT_EQ(same.out, r.out);  // greedy is deterministic
}

TEST(RunChat, ChatFlagsNeedChat) {
    Output r = retort("run -m " + kTiny + " -p hi --system 'Be brief'");
    EXPECT_EQ(r.rc, 2);
    EXPECT_NE(r.err.find("need --chat"), std::string::npos) << r.err;
    Output t = retort("run --chat -m " + kTiny + " -p hi --chat-template nope");
    EXPECT_EQ(t.rc, 2);
}

TEST(RunChat, PlainRunUnchanged) {
    Output r = retort("run -p 'Once upon a time' -n 8 --temp 0 --no-echo");
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
}

// ---------------------------------------------------------------------------------------------
// chat through a pseudo-terminal

using Clock = std::chrono::steady_clock;
Clock::time_point after(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

class PtyChild {
public:
    explicit PtyChild(const std::vector<std::string>& args) {
        struct winsize ws = {};
        ws.ws_row = 40;
        ws.ws_col = 200;
        pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
        if (pid_ == 0) {
            setenv("TERM", "dumb", 1);
            setenv("INPUTRC", "/dev/null", 1);
            std::vector<char*> argv;
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
    }
    ~PtyChild() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) close(fd_);
    }
    bool started() const { return pid_ > 0; }

    void send(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), (ssize_t)s.size()); }

    // Reads until `needle` appears after position `from` of everything read; false on time-out
    // or end of output. Returns the position just past the match in *at.
    bool expect(const std::string& needle, double timeout_s, size_t* at = nullptr) {
        const auto deadline = after(timeout_s);
        while (true) {
            const size_t p = all_.find(needle, mark_);
            if (p != std::string::npos) {
                mark_ = p + needle.size();
                if (at) *at = mark_;
                return true;
            }
            if (!read_some(deadline)) return false;
        }
    }
    // Reads until at least n more bytes arrived since the mark.
    bool expect_bytes(size_t n, double timeout_s) {
        const auto deadline = after(timeout_s);
        while (all_.size() < mark_ + n)
            if (!read_some(deadline)) return false;
        return true;
    }
    // Waits for the child to exit (draining its output); -1 on time-out.
    int wait_exit(double timeout_s) {
        const auto deadline = after(timeout_s);
        while (Clock::now() < deadline) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            read_some(Clock::now() + std::chrono::milliseconds(50));
        }
        return -1;
    }
    const std::string& output() const { return all_; }
    std::string since_mark() const { return all_.substr(mark_); }

private:
    bool read_some(Clock::time_point deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        struct pollfd p = {fd_, POLLIN, 0};
        const int r = poll(&p, 1, (int)std::min<long long>(left, 200));
        if (r <= 0) return r == 0 && Clock::now() < deadline;
        char buf[65536];
        const ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) return false;  // EIO: the child closed the terminal
        all_.append(buf, (size_t)n);
        return true;
    }

    pid_t pid_ = -1;
    int fd_ = -1;
    bool exited_ = false;
    std::string all_;
    size_t mark_ = 0;
};

std::vector<std::string> chat_args(std::vector<std::string> extra) {
    std::vector<std::string> a = {kBin, "chat", "-m", kTiny, "--temp", "0", "-t", "2", "--ignore-eos"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

constexpr double kWait = 60.0;  // generous: the machine is shared; a hang still ends

TEST(ChatPty, TwoTurnsResetSaveLoadMultilineAndCtrlD) {
    PtyChild c(chat_args({"-n", "12", "--reasoning-budget", "4", "--ctx", "4096"}));
    ASSERT_TRUE(c.started());
    ASSERT_TRUE(c.expect("format r1", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait)) << c.output();

    // Turn 1: reasoning is dimmed on a terminal, then the answer; a speed line; the prompt.
    c.send("What is 17 * 24?\r");
    ASSERT_TRUE(c.expect("\x1b[2m", kWait)) << c.output();
    ASSERT_TRUE(c.expect("[12 tokens, ", kWait)) << c.output();
    ASSERT_TRUE(c.expect("prompt ", kWait));
    ASSERT_TRUE(c.expect(" cached tokens", kWait));
    ASSERT_TRUE(c.expect("reasoning budget reached", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait)) << c.output();

    // Turn 2 reuses the cached prefix of turn 1.
    c.send("And 408 / 8?\r");
    size_t at = 0;
    ASSERT_TRUE(c.expect("[12 tokens, ", kWait, &at)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait)) << c.output();
    {
        std::smatch m;
        const std::string tail = c.output().substr(at);
        ASSERT_TRUE(std::regex_search(tail, m, std::regex(R"(prompt (\d+) new \+ (\d+) cached tokens)"))) << tail;
        EXPECT_GT(std::stoi(m[2].str()), 5) << tail;
    }

    c.send("/stats\r");
    ASSERT_TRUE(c.expect("turns 2", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));

    // Multi-line input: a trailing backslash continues; a """ block; Ctrl-C drops a typed line.
    c.send("first line\\\r");
    ASSERT_TRUE(c.expect("... ", kWait)) << c.output();
    c.send("second line\r");
    ASSERT_TRUE(c.expect("[12 tokens, ", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("\"\"\"\r");
    ASSERT_TRUE(c.expect("... ", kWait));
    c.send("block one\r");
    ASSERT_TRUE(c.expect("... ", kWait));
    c.send("block two\r");
    ASSERT_TRUE(c.expect("... ", kWait));
    c.send("\"\"\"\r");
    ASSERT_TRUE(c.expect("[12 tokens, ", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("never sent");
    ASSERT_TRUE(c.expect("never sent", kWait));
    c.send("\x03");
    ASSERT_TRUE(c.expect(">>> ", kWait)) << c.output();

    const std::string saved = ::testing::TempDir() + "/chat_saved.json";
    std::remove(saved.c_str());
    c.send("/save " + saved + "\r");
    ASSERT_TRUE(c.expect("(saved 8 messages", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    const auto doc = nlohmann::json::parse(read_text(saved));
    ASSERT_EQ(doc.size(), 8u);
    EXPECT_EQ(doc[0]["role"], "user");
    EXPECT_EQ(doc[0]["content"], "What is 17 * 24?");
    EXPECT_EQ(doc[1]["role"], "assistant");
    EXPECT_EQ(doc[4]["content"], "first line\nsecond line");
    EXPECT_EQ(doc[6]["content"], "block one\nblock two");
    EXPECT_EQ(read_text(saved).find("never sent"), std::string::npos);

    c.send("/reset\r");
    ASSERT_TRUE(c.expect("(conversation reset)", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("/save " + saved + "\r");
    ASSERT_TRUE(c.expect("(saved 0 messages", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("Fresh start\r");
    ASSERT_TRUE(c.expect("[12 tokens, ", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("/stats\r");
    ASSERT_TRUE(c.expect("turns 5", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));

    // /load brings back a saved conversation.
    const std::string two = write_temp("chat_two.json",
                                       R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"}])");
    c.send("/load " + two + "\r");
    ASSERT_TRUE(c.expect("(loaded 2 messages", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("/load /nonexistent.json\r");
    ASSERT_TRUE(c.expect("cannot read", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("/help\r");
    ASSERT_TRUE(c.expect("/reset", kWait)) << c.output();
    ASSERT_TRUE(c.expect(">>> ", kWait));

    c.send("\x04");  // Ctrl-D on an empty line
    EXPECT_EQ(c.wait_exit(kWait), 0) << c.output();
}

TEST(ChatPty, CtrlCStopsAReplyAndTheChatGoesOn) {
    // A reply that would run to the end of a 16K context: only Ctrl-C ends it in time.
    PtyChild c(chat_args({"-n", "-1", "--ctx", "16384", "--reasoning-budget", "8"}));
    ASSERT_TRUE(c.started());
    ASSERT_TRUE(c.expect(">>> ", kWait)) << c.output();
    c.send("Tell me a very long story.\r");
    ASSERT_TRUE(c.expect("Tell me a very long story.", kWait));
    ASSERT_TRUE(c.expect_bytes(400, kWait)) << c.output();  // well into the reply (past the budget)
    c.send("\x03");
    ASSERT_TRUE(c.expect("| stopped]", kWait)) << c.since_mark();
    ASSERT_TRUE(c.expect(">>> ", kWait)) << c.since_mark();

    // Still alive and usable: another turn (stopped again), then leave.
    c.send("Again?\r");
    ASSERT_TRUE(c.expect("Again?", kWait));
    ASSERT_TRUE(c.expect_bytes(100, kWait));
    c.send("\x03");
    ASSERT_TRUE(c.expect("| stopped]", kWait)) << c.since_mark();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("/stats\r");
    ASSERT_TRUE(c.expect("turns 2", kWait)) << c.since_mark();
    ASSERT_TRUE(c.expect(">>> ", kWait));
    c.send("\x04");
    EXPECT_EQ(c.wait_exit(kWait), 0) << c.since_mark();
}

}  // namespace
}  // namespace retort
