// ThreadPool: workers that stay alive between ops. run() hands the same job to every thread
// (the caller is thread 0) and returns when all are done; jobs split their own work by (ith, nth).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace retort {

// Bytes a worker pulls into its cache while it waits for the next job (ThreadPool::run).
struct WarmRange {
    const uint8_t* begin = nullptr;
    const uint8_t* end = nullptr;
};

class ThreadPool {
public:
    using Job = std::function<void(int ith, int nth)>;

    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // Runs job(ith, n_threads) on every thread and waits. Not re-entrant.
    // With `warm` (one range per thread; entry 0, the caller's, is not used), each worker, once
    // done with the job, reads its range into its cache until the next job is posted: the data
    // the next job will read first, so a worker that would wait on the caller's serial work
    // streams instead. A run without `warm` lets the workers go on with what is left of the last
    // one. The ranges must stay readable until the next run with `warm` or the pool's end.
    void run(const Job& job, std::span<const WarmRange> warm = {});
    // After it returns no worker reads the ranges of an earlier run's `warm`: call it before
    // they are freed.
    void stop_warming();

    // Number of hardware threads, at least 1.
    static int hardware_threads();

private:
    void worker_loop(int ith);
    // Reads r until a job newer than `seen` is posted; returns where it stopped.
    const uint8_t* warm_until_posted(WarmRange r, uint64_t seen) const;

    int n_threads_;
    std::vector<std::thread> workers_;
    // Workers spin briefly on generation_ before sleeping: ops come in quick succession
    // during a forward pass, and a futex wake per op would cost more than the op.
    alignas(64) std::atomic<uint64_t> generation_{0};
    // On generation_'s cache line: a woken worker reads both, and each line it must fetch from
    // the caller's core costs a cross-core transfer (a line there and back takes ~600 ns on the
    // 2-vCPU VMs we measure on: bench_kernels pool/cacheline_round_trip).
    // Beside generation_, an empty run() takes 0.77-0.88 us against 0.93-1.01 with job_ on a
    // line of its own (bench_kernels pool/run/empty/t2, medians of 3, 4 runs alternating).
    const Job* job_ = nullptr;
    const WarmRange* warm_ = nullptr;  // run's `warm`, or null
    alignas(64) std::atomic<int> pending_{0};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    std::atomic<int> sleeping_{0};
    std::atomic<bool> stop_{false};
};

// Where the threads that take pieces of one share of work have got to: its owner first, then any
// thread done with its own. Each claim takes half of what is left (at least min_claim), so the
// claims are few (about log2 of the share; a claim is a locked instruction) and the last ones
// small. The decoding dispatches and the bandwidth probes claim this way.
struct alignas(64) ShareCursor {
    std::atomic<int64_t> next{0};  // units of the share claimed so far

    // Claims units [*begin, *end) of a share of `size` units; false once none are left.
    bool claim(int64_t size, int64_t min_claim, int64_t* begin, int64_t* end) {
        const int64_t left = size - next.load(std::memory_order_relaxed);
        const int64_t n = left / 2 > min_claim ? left / 2 : min_claim;
        *begin = next.fetch_add(n, std::memory_order_relaxed);
        *end = *begin + n < size ? *begin + n : size;
        return *begin < size;
    }
};

// Splits [0, n) into nth nearly equal contiguous parts; returns part ith as [begin, end).
inline void split_range(int64_t n, int ith, int nth, int64_t* begin, int64_t* end) {
    const int64_t per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

}  // namespace retort
