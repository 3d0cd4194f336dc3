#include "util/thread_pool.h"

#include <immintrin.h>

#include <algorithm>

namespace retort {

namespace {
constexpr int kSpinIterations = 20000;
// A warming worker looks for a new job after every this many bytes.
constexpr size_t kWarmStep = 1024;
constexpr size_t kWarmAhead = 4096;
inline void cpu_relax() { _mm_pause(); }
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

int ThreadPool::hardware_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : (int)n;
}

void ThreadPool::run(const Job& job, std::span<const WarmRange> warm) {
    if (n_threads_ == 1) {
        job(0, 1);
        return;
    }
    job_ = &job;
    warm_ = warm.size() >= (size_t)n_threads_ ? warm.data() : nullptr;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        // The lock orders the generation bump against a worker deciding to sleep.
        std::lock_guard<std::mutex> lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    job(0, n_threads_);
    // Wait for the workers: spin first, then sleep.
    for (int i = 0; i < kSpinIterations; ++i) {
        if (pending_.load(std::memory_order_acquire) == 0) return;
        cpu_relax();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::stop_warming() {
    // A job with empty ranges: each worker stops warming to take it, and takes the empty ones.
    const std::vector<WarmRange> none((size_t)n_threads_);
    run([](int, int) {}, none);
}

// A load per cache line, with prefetches kWarmAhead bytes ahead to keep more lines in flight.
// Prefetches alone are not enough: after a burst of them over 512 KiB, reading the range ran at
// 40-50 GB/s against 95-99 after loads, i.e. from L2 (a scratch test on the 2-vCPU VMs we
// measure on; docs/bench.md).
const uint8_t* ThreadPool::warm_until_posted(WarmRange r, uint64_t seen) const {
    const uint8_t* p = r.begin;
    for (; p < r.end; p += kWarmStep) {
        if (generation_.load(std::memory_order_relaxed) != seen) break;
        uint8_t any = 0;
        for (size_t at = 0; at < kWarmStep && p + at < r.end; at += 64) {
            // Prefetches never fault, so they may run past the range.
            _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p + at) + kWarmAhead), _MM_HINT_T1);
            any |= p[at];
        }
        asm volatile("" : : "r"(any));  // keeps the loads
    }
    return std::min(p, r.end);
}

void ThreadPool::worker_loop(int ith) {
    uint64_t seen = 0;
    WarmRange warm;  // what is left to read
    for (;;) {
        warm.begin = warm_until_posted(warm, seen);
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int i = 0; gen == seen && i < kSpinIterations; ++i) {
            cpu_relax();
            gen = generation_.load(std::memory_order_acquire);
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            sleeping_.fetch_add(1, std::memory_order_acq_rel);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            sleeping_.fetch_sub(1, std::memory_order_acq_rel);
            gen = generation_.load(std::memory_order_acquire);
            if (stop_) return;
        }
        if (stop_) return;
        seen = gen;
        const WarmRange* next = warm_;
        (*job_)(ith, n_threads_);
        // Copied before the job is reported done: the caller's array lives until then.
        if (next != nullptr) warm = next[ith];
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mutex_);
            done_.notify_one();
        }
    }
}

}  // namespace retort
