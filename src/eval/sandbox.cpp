// bubblewrap sandbox for model-written programs (see sandbox.h).
//
// Inside, / is a read-only tmpfs holding read-only binds of /usr (and the /bin, /lib links),
// a few loader files from /etc, /proc, a minimal /dev, and a writable size-capped /tmp.
//
// One run: the parent builds bwrap's argv, writes the program into a memfd, forks; the child
// moves its pipes to fds 0-5, sets rlimits, drops to the slot's uid when we are root, and
// execs bwrap, which copies fd 3 to /tmp/main.py inside fresh namespaces and runs python.
// Python first writes one byte to fd 5 and closes it, then runs main.py: that byte is how we
// know the program itself started (bwrap reports its child's pid before the namespace set-up,
// which can still fail, e.g. "Can't fork for pid 1" when the uid is at its process limit).
// The parent reads stdout/stderr with poll() until EOF, the output cap or the deadline; on
// the deadline it SIGKILLs bwrap's process group. bwrap's --die-with-parent and the new PID
// namespace then take every process the program started down with it.
#include "eval/sandbox.h"

#include "eval/text.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace retort::eval {

namespace {

constexpr size_t kKeepBytes = 4096;  // stdout head and stderr tail kept per run

bool is_executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// Tasks a non-root caller's other processes may start while a run is in flight: RLIMIT_NPROC
// counts every task of the uid, ours and the program's alike.
constexpr long kSharedUidHeadroom = 256;

// The interpreter's first statements, before the program: the start marker on fd 5 (closed so
// the program cannot write it), then main.py as __main__ with its own file name in tracebacks.
constexpr const char* kStartStub =
    "import os, runpy\nos.write(5, b'1')\nos.close(5)\nrunpy.run_path('/tmp/main.py', run_name='__main__')\n";

// Processes (tasks) owned by `uid`: RLIMIT_NPROC counts all of them, including a previous
// run's that the kernel is still tearing down, so each run's limit allows for those.
long count_tasks_of(uid_t uid) {
    long n = 0;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return 0;
    while (dirent* e = readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        struct stat st {};
        const std::string dir = std::string("/proc/") + e->d_name + "/task";
        if (stat(dir.c_str(), &st) != 0 || st.st_uid != uid) continue;
        if (DIR* tasks = opendir(dir.c_str())) {
            while (dirent* t = readdir(tasks))
                if (t->d_name[0] != '.') ++n;
            closedir(tasks);
        }
    }
    closedir(proc);
    return n;
}

// How the host's top-level system directories appear inside: /bin, /lib... are symlinks
// into /usr on merged-/usr systems (bind the link), real directories elsewhere (bind ro).
void add_system_dirs(std::vector<std::string>& args) {
    args.insert(args.end(), {"--ro-bind", "/usr", "/usr"});
    for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
        struct stat st {};
        if (lstat(dir, &st) != 0) continue;
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            const ssize_t n = readlink(dir, target, sizeof target - 1);
            if (n <= 0) continue;
            args.insert(args.end(), {"--symlink", std::string(target, static_cast<size_t>(n)), dir});
        } else if (S_ISDIR(st.st_mode)) {
            args.insert(args.end(), {"--ro-bind", dir, dir});
        }
    }
    // Only what the dynamic loader and Python need from /etc: no passwd, no credentials.
    for (const char* file : {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/alternatives"})
        args.insert(args.end(), {"--ro-bind-try", file, file});
}

struct Pipe {
    int r = -1, w = -1;
    bool open() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) return false;
        r = fds[0];
        w = fds[1];
        return true;
    }
    void close_all() {
        if (r >= 0) close(r);
        if (w >= 0) close(w);
        r = w = -1;
    }
};

// Runs in the forked child: only async-signal-safe calls until execv.
// `fds` become 0..5: stdin, stdout, stderr, program, bwrap status, start marker.
[[noreturn]] void exec_child(const char* bwrap, char* const* argv, const int (&fds)[6], const rlimit* limits,
                             const int* resources, int n_limits, bool drop_uid, uid_t uid) {
    setpgid(0, 0);
    // Move every source above the targets first so no dup2 clobbers a later source.
    int high[6];
    for (int k = 0; k < 6; ++k) {
        high[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 10);
        if (high[k] < 0) _exit(126);
    }
    for (int k = 0; k < 6; ++k)
        if (dup2(high[k], k) < 0) _exit(126);
    for (int k = 0; k < n_limits; ++k) setrlimit(resources[k], &limits[k]);
    if (drop_uid) {
        if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(126);
    }
    execv(bwrap, argv);
    const char msg[] = "bwrap: exec failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
}

}  // namespace

const char* run_status_name(RunStatus s) {
    switch (s) {
        case RunStatus::kPassed: return "passed";
        case RunStatus::kFailed: return "failed";
        case RunStatus::kTimeout: return "timeout";
        case RunStatus::kCpuLimit: return "cpu_limit";
        case RunStatus::kSignaled: return "signaled";
        case RunStatus::kOutputLimit: return "output_limit";
        case RunStatus::kSandboxError: return "sandbox_error";
    }
    return "unknown";
}

Result<Sandbox> Sandbox::create(SandboxConfig config) {
    if (config.bwrap.empty()) {
        for (const char* p : {"/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"})
            if (is_executable(p)) {
                config.bwrap = p;
                break;
            }
    }
    if (!is_executable(config.bwrap))
        return Error::make(ErrorKind::kUnsupported,
                           "sandbox: bubblewrap (bwrap) not found; code suites run model-written programs only "
                           "inside it. Install it (Debian: apt-get install bubblewrap)");
    if (!is_executable(config.python))
        return Error::make(ErrorKind::kUnsupported, "sandbox: python interpreter '{}' not found or not executable",
                           config.python);
    if (!starts_with(config.python, "/usr/"))
        return Error::make(ErrorKind::kUnsupported,
                           "sandbox: python '{}' is outside /usr, the only tree bound into the sandbox", config.python);
    const SandboxLimits& l = config.limits;
    if (l.wall_time_s <= 0 || l.cpu_time_s <= 0 || l.max_processes <= 0 || l.output_bytes == 0 ||
        l.memory_bytes < (64ull << 20))
        return Error::bad_argument("sandbox: limits must be positive (and memory at least 64 MiB)");

    Sandbox sandbox(std::move(config));
    sandbox.drop_to_slot_uid_ = geteuid() == 0;

    const RunResult probe = sandbox.run_python("print('retort-sandbox-ok')\n", 0);
    if (probe.status != RunStatus::kPassed || trim(probe.stdout_head) != "retort-sandbox-ok")
        return Error::make(ErrorKind::kUnsupported,
                           "sandbox: bubblewrap could not run a probe program ({}, exit {}): {}\n---> HINT: bwrap "
                           "needs user and network namespaces (in a container: allow unshare/clone, or run as "
                           "root); retort will not run model code without the sandbox",
                           run_status_name(probe.status), probe.exit_code, trim(probe.stderr_tail));
    return sandbox;
}

RunResult Sandbox::run_python(std::string_view program, int slot) const {
    // bwrap can fail to set up its namespaces for a moment when many were just torn down (the
    // kernel frees them asynchronously, and their per-user counts with them). The program never
    // started then (no start marker), so running it again is safe; a persistent failure still
    // ends as kSandboxError.
    constexpr int kAttempts = 6;
    RunResult result;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(25 << attempt));
        result = run_once(program, slot);
        if (result.status != RunStatus::kSandboxError) break;
    }
    return result;
}

RunResult Sandbox::run_once(std::string_view program, int slot) const {
    using Clock = std::chrono::steady_clock;
    const SandboxLimits& lim = config_.limits;
    RunResult result;
    const auto t0 = Clock::now();

    // argv: everything is built before fork (no allocation in the child).
    std::vector<std::string> args = {config_.bwrap,   "--unshare-all", "--unshare-user", "--disable-userns",
                                     "--die-with-parent", "--new-session", "--hostname", "sandbox"};
    add_system_dirs(args);
    args.insert(args.end(), {"--proc", "/proc", "--dev", "/dev", "--size", std::to_string(lim.tmp_size_bytes),
                             "--tmpfs", "/tmp", "--file", "3", "/tmp/main.py", "--remount-ro", "/", "--chdir", "/tmp", "--json-status-fd",
                             "4", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
                             "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8", "--setenv",
                             "PYTHONHASHSEED", "0", "--", config_.python, "-I", "-S", "-B", "-c", kStartStub});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    const uid_t uid = drop_to_slot_uid_ ? config_.uid_base + static_cast<uid_t>(slot) : geteuid();
    // The program's budget comes on top of what the uid already holds: a previous run's tasks
    // still being torn down (root, per-slot uid) or the caller's own (non-root, shared uid).
    const long nproc_limit =
        lim.max_processes + count_tasks_of(uid) + (drop_to_slot_uid_ ? 0 : kSharedUidHeadroom);
    const rlim_t cpu = static_cast<rlim_t>(lim.cpu_time_s);
    const int resources[] = {RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE};
    const rlimit limits[] = {{cpu, cpu + 1},
                             {lim.memory_bytes, lim.memory_bytes},
                             {static_cast<rlim_t>(nproc_limit), static_cast<rlim_t>(nproc_limit)},
                             {lim.file_size_bytes, lim.file_size_bytes},
                             {static_cast<rlim_t>(lim.max_open_files), static_cast<rlim_t>(lim.max_open_files)},
                             {0, 0}};

    const int program_fd = memfd_create("retort-program", MFD_CLOEXEC);
    const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    Pipe out, err, status, marker;
    auto cleanup = [&] {
        if (program_fd >= 0) close(program_fd);
        if (null_fd >= 0) close(null_fd);
        out.close_all();
        err.close_all();
        status.close_all();
        marker.close_all();
    };
    if (program_fd < 0 || null_fd < 0 || !out.open() || !err.open() || !status.open() || !marker.open()) {
        result.stderr_tail = std::string("sandbox: cannot create pipes: ") + std::strerror(errno);
        cleanup();
        return result;
    }
    for (size_t done = 0; done < program.size();) {
        const ssize_t n = write(program_fd, program.data() + done, program.size() - done);
        if (n <= 0) {
            result.stderr_tail = std::string("sandbox: cannot write program: ") + std::strerror(errno);
            cleanup();
            return result;
        }
        done += static_cast<size_t>(n);
    }
    lseek(program_fd, 0, SEEK_SET);

    const pid_t pid = fork();
    if (pid < 0) {
        result.stderr_tail = std::string("sandbox: fork failed: ") + std::strerror(errno);
        cleanup();
        return result;
    }
    if (pid == 0)
        exec_child(config_.bwrap.c_str(), argv.data(), {null_fd, out.w, err.w, program_fd, status.w, marker.w},
                   limits, resources, static_cast<int>(std::size(resources)), drop_to_slot_uid_, uid);
    // The child's ends must be closed here, or EOF never comes.
    for (Pipe* p : {&out, &err, &status, &marker}) {
        close(p->w);
        p->w = -1;
    }

    std::string out_text, err_text;
    uint64_t total_output = 0;
    bool timed_out = false, output_exceeded = false, killed = false;
    const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(lim.wall_time_s));
    auto kill_tree = [&] {
        if (!killed) kill(-pid, SIGKILL);
        killed = true;
    };
    pollfd fds[2] = {{out.r, POLLIN, 0}, {err.r, POLLIN, 0}};
    int open_fds = 2;
    char buf[16384];
    while (open_fds > 0) {
        const auto now = Clock::now();
        // After a kill, allow a short grace period for the pipes to close.
        const auto limit = killed ? deadline + std::chrono::seconds(2) : deadline;
        if (now >= limit) {
            if (killed) break;
            timed_out = true;
            kill_tree();
            continue;
        }
        const int wait_ms =
            static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(limit - now).count()) + 1;
        const int rc = poll(fds, 2, wait_ms);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) break;
        for (int k = 0; k < 2; ++k) {
            if (fds[k].fd < 0 || fds[k].revents == 0) continue;
            const ssize_t n = read(fds[k].fd, buf, sizeof buf);
            if (n > 0) {
                total_output += static_cast<uint64_t>(n);
                std::string& text = k == 0 ? out_text : err_text;
                if (k == 0) {
                    if (text.size() < kKeepBytes) text.append(buf, std::min<size_t>(n, kKeepBytes - text.size()));
                } else {
                    text.append(buf, static_cast<size_t>(n));
                    if (text.size() > 4 * kKeepBytes) text.erase(0, text.size() - kKeepBytes);
                }
                if (total_output > lim.output_bytes && !output_exceeded) {
                    output_exceeded = true;
                    kill_tree();
                }
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                fds[k].fd = -1;
                --open_fds;
            }
        }
    }
    if (open_fds > 0) kill_tree();
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    result.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

    // bwrap reports {"child-pid": N} once the program started and {"exit-code": N} at the end.
    std::string status_text;
    for (;;) {
        const ssize_t n = read(status.r, buf, sizeof buf);
        if (n <= 0) break;
        status_text.append(buf, static_cast<size_t>(n));
    }
    int exit_code = -1;
    for (std::string_view line : split_lines(status_text)) {
        if (trim(line).empty()) continue;
        try {
            const auto j = nlohmann::json::parse(line);
            if (j.contains("exit-code")) exit_code = j["exit-code"].get<int>();
        } catch (const nlohmann::json::exception&) {
            // A partial line after a kill: ignore it.
        }
    }
    // Non-blocking: a namespace process being torn down may still hold the write end open.
    char mark = 0;
    fcntl(marker.r, F_SETFL, O_NONBLOCK);
    const bool started = read(marker.r, &mark, 1) == 1;
    if (exit_code < 0) {
        if (WIFEXITED(wstatus)) exit_code = WEXITSTATUS(wstatus);
        else if (WIFSIGNALED(wstatus)) exit_code = 128 + WTERMSIG(wstatus);
    }
    cleanup();

    result.exit_code = exit_code;
    result.stdout_head = clip_utf8(out_text, kKeepBytes);
    result.stderr_tail = tail_utf8(err_text, kKeepBytes);
    if (timed_out) result.status = RunStatus::kTimeout;
    else if (output_exceeded) result.status = RunStatus::kOutputLimit;
    else if (!started) result.status = RunStatus::kSandboxError;
    else if (exit_code == 0) result.status = RunStatus::kPassed;
    else if (exit_code == 128 + SIGXCPU || (exit_code == 128 + SIGKILL && !killed)) result.status = RunStatus::kCpuLimit;
    else if (exit_code > 128) result.status = RunStatus::kSignaled;
    else result.status = RunStatus::kFailed;
    return result;
}

}  // namespace retort::eval
