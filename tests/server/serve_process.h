// A `retort serve` child process for tests: started on a free loopback port, its stderr
// collected (log lines), stopped with a signal and its exit code returned.
#pragma once

#include <httplib.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace retort::test {

class ServeProcess {
public:
    // args: what follows `retort serve` (the port is added: --port 0).
    explicit ServeProcess(std::vector<std::string> args) {
        int fds[2];
        if (pipe(fds) != 0) return;
        pid_ = fork();
        if (pid_ == 0) {
            dup2(fds[1], STDERR_FILENO);
            close(fds[0]);
            close(fds[1]);
            std::vector<std::string> all = {RETORT_BINARY, "serve", "--port", "0"};
            all.insert(all.end(), args.begin(), args.end());
            std::vector<char*> argv;
            for (auto& a : all) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(fds[1]);
        err_fd_ = fds[0];
        reader_ = std::thread([this] {
            std::string buf;
            char chunk[4096];
            ssize_t n;
            while ((n = read(err_fd_, chunk, sizeof(chunk))) > 0) {
                buf.append(chunk, (size_t)n);
                size_t nl;
                while ((nl = buf.find('\n')) != std::string::npos) {
                    std::lock_guard<std::mutex> lock(mu_);
                    lines_.push_back(buf.substr(0, nl));
                    buf.erase(0, nl + 1);
                }
            }
        });
        // The first line names the port.
        const std::regex re(R"(listening on http://[0-9.]+:([0-9]+))");
        for (int i = 0; i < 3000 && port_ < 0; ++i) {
            {
                std::lock_guard<std::mutex> lock(mu_);
                for (const auto& l : lines_) {
                    std::smatch m;
                    if (std::regex_search(l, m, re)) port_ = std::stoi(m[1]);
                }
            }
            if (port_ < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ~ServeProcess() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds(10));
        }
        if (reader_.joinable()) reader_.join();
        if (err_fd_ >= 0) close(err_fd_);
    }

    int port() const { return port_; }
    httplib::Client client(const std::string& key = "") const {
        httplib::Client c("127.0.0.1", port_);
        c.set_read_timeout(300, 0);
        c.set_connection_timeout(10, 0);
        if (!key.empty()) c.set_bearer_token_auth(key);
        return c;
    }
    // Waits for /health to say ok.
    bool wait_ready(std::chrono::seconds limit = std::chrono::seconds(120)) const {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            auto c = client();
            if (auto r = c.Get("/health"); r && r->status == 200) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
    void signal(int sig) const { kill(pid_, sig); }
    // The exit code, or nullopt if it did not exit in time (or died of a signal: -signal).
    std::optional<int> wait_exit(std::chrono::seconds limit) {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            int status = 0;
            const pid_t r = waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                exited_ = true;
                if (reader_.joinable()) reader_.join();
                return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return std::nullopt;
    }
    std::vector<std::string> lines() const {
        std::lock_guard<std::mutex> lock(mu_);
        return lines_;
    }

private:
    pid_t pid_ = -1;
    int err_fd_ = -1;
    int port_ = -1;
    bool exited_ = false;
    std::thread reader_;
    mutable std::mutex mu_;
    std::vector<std::string> lines_;
};

// One value from Prometheus text ("name 12" or "name{labels} 12"); -1 when absent.
inline double prometheus_value(const std::string& text, const std::string& series) {
    size_t i = 0;
    while ((i = text.find(series + " ", i)) != std::string::npos) {
        if (i == 0 || text[i - 1] == '\n') return std::stod(text.substr(i + series.size() + 1));
        i += series.size();
    }
    return -1;
}

}  // namespace retort::test
