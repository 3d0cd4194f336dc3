// The sandbox that runs untrusted Python from model outputs: bubblewrap (bwrap) with every
// namespace unshared (no network), a read-only /usr, a private size-capped /tmp, resource
// limits set before exec, a wall-clock time-out that kills the whole tree, and an output cap.
// It never falls back to running a program unsandboxed: if bwrap cannot start, create() fails.
#pragma once

#include "util/error.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace retort::eval {

struct SandboxLimits {
    double wall_time_s = 10.0;                 // whole run; then the process tree is killed
    int cpu_time_s = 10;                       // RLIMIT_CPU per process (SIGXCPU, then SIGKILL)
    uint64_t memory_bytes = 1ull << 30;        // RLIMIT_AS per process
    int max_processes = 32;                    // tasks the program may add to its uid's (RLIMIT_NPROC)
    uint64_t file_size_bytes = 16ull << 20;    // RLIMIT_FSIZE: largest file a program may write
    uint64_t tmp_size_bytes = 64ull << 20;     // size of the private /tmp (tmpfs)
    int max_open_files = 64;                   // RLIMIT_NOFILE
    uint64_t output_bytes = 1ull << 20;        // stdout + stderr; more kills the run
};

struct SandboxConfig {
    std::string bwrap;                      // empty: /usr/bin/bwrap, then /bin/bwrap
    std::string python = "/usr/bin/python3";  // the system interpreter (read-only /usr)
    SandboxLimits limits;
    // When started as root, run slot k as uid/gid uid_base + k: RLIMIT_NPROC does not bind
    // root, and distinct users keep parallel runs from sharing one process budget.
    uint32_t uid_base = 61000;
};

enum class RunStatus {
    kPassed,        // exit status 0
    kFailed,        // exit status != 0 (an assert, an exception, MemoryError...)
    kTimeout,       // wall-clock limit reached; killed
    kCpuLimit,      // CPU-time limit reached (SIGXCPU or the hard limit's SIGKILL)
    kSignaled,      // killed by another signal
    kOutputLimit,   // wrote more than output_bytes; killed
    kSandboxError,  // bwrap could not set the sandbox up; the program never ran
};
const char* run_status_name(RunStatus s);

struct RunResult {
    RunStatus status = RunStatus::kSandboxError;
    int exit_code = -1;     // the program's status; 128 + N when killed by signal N
    double wall_ms = 0;
    std::string stdout_head;  // first 4 KiB
    std::string stderr_tail;  // last 4 KiB (where a traceback ends)
};

class Sandbox {
public:
    // Finds bwrap and python, then runs a probe program; an Error explains why the sandbox
    // cannot work here (bwrap missing, user namespaces refused, ...).
    static Result<Sandbox> create(SandboxConfig config);

    // Runs `program` as /tmp/main.py (as __main__) with `python3 -I -S -B` (isolated, no site
    // packages), stdin from /dev/null. `slot` (0 <= slot < 1000) must differ between runs in flight at
    // the same time. Thread-safe.
    RunResult run_python(std::string_view program, int slot) const;

    const SandboxConfig& config() const { return config_; }

private:
    explicit Sandbox(SandboxConfig config) : config_(std::move(config)) {}
    RunResult run_once(std::string_view program, int slot) const;
    SandboxConfig config_;
    bool drop_to_slot_uid_ = false;  // we are root: run as uid_base + slot
};

}  // namespace retort::eval
