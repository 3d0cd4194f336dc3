// util: the thread pool (every thread runs each job exactly once, jobs in quick succession
// never mix), split_range, fp16/bf16 conversion, Result/Error.
#include "util/bandwidth.h"
#include "util/error.h"
#include "util/fp16.h"
#include "util/page_buffer.h"
#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <memory>
#include <random>
#include <vector>

namespace retort {
namespace {

TEST(ThreadPool, EveryThreadRunsEveryJobOnce) {
    for (int n : {1, 2, 3, 8}) {
        ThreadPool pool(n);
        ASSERT_EQ(pool.size(), n);
        std::vector<std::atomic<int>> hits(n);
        for (int job = 0; job < 2000; ++job) {
            pool.run([&](int ith, int nth) {
                EXPECT_EQ(nth, n);
                hits[ith].fetch_add(1);
            });
        }
        for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 2000) << "thread " << i << " of " << n;
    }
}

TEST(ThreadPool, WorkIsCompleteWhenRunReturns) {
    ThreadPool pool(4);
    std::vector<int64_t> data(100000);
    for (int round = 1; round <= 50; ++round) {
        pool.run([&](int ith, int nth) {
            int64_t b, e;
            split_range((int64_t)data.size(), ith, nth, &b, &e);
            for (int64_t i = b; i < e; ++i) data[i] = round;
        });
        for (int64_t v : data) ASSERT_EQ(v, round);
    }
}

TEST(ThreadPool, SurvivesIdleSleepAndWakes) {
    ThreadPool pool(2);
    std::atomic<int> count{0};
    pool.run([&](int, int) { count++; });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // workers go to sleep
    pool.run([&](int, int) { count++; });
    EXPECT_EQ(count.load(), 4);
}

// Warming reads each worker's range while jobs keep coming, never past its end, and not after
// stop_warming: under ASan (CI) a read past a range or of the freed buffer fails the test.
TEST(ThreadPool, WarmingStaysInItsRangesAndEndsWithStopWarming) {
    for (int n : {1, 2, 4}) {
        ThreadPool pool(n);
        const size_t size = (size_t{24} << 20) + 37;  // odd: the last line is partial
        auto buffer = std::make_unique<uint8_t[]>(size);
        std::vector<WarmRange> warm((size_t)n);
        for (int i = 0; i < n; ++i) {
            int64_t b, e;
            split_range((int64_t)size, i, n, &b, &e);
            warm[(size_t)i] = {buffer.get() + b, buffer.get() + e};
        }
        std::atomic<int> count{0};
        pool.run([&](int, int) { count++; }, warm);
        for (int job = 0; job < 100; ++job) pool.run([&](int, int) { count++; });  // going on with what is left
        pool.run([&](int, int) { count++; }, warm);
        pool.stop_warming();
        buffer.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // time for a stray read to happen
        EXPECT_EQ(count.load(), 102 * n);
    }
}

TEST(Bandwidth, MeasuresAPlausibleRate) {
    // 64 MiB, 2 passes per load width: a rate between 100 MB/s and 10 TB/s (a probe that read
    // nothing or timed nothing would be outside it).
    ThreadPool pool(2);
    const double bw = measure_read_bandwidth(pool, size_t{64} << 20, 2);
    EXPECT_GT(bw, 1e8);
    EXPECT_LT(bw, 1e13);
}

// The between-runs probe over ranges of odd sizes: one pass even for 0 seconds, at least as long
// as asked for otherwise, a plausible rate either way; nothing to read gives 0.
TEST(Bandwidth, SustainedProbeRunsForTheTimeAsked) {
    constexpr size_t kMiB = size_t{1} << 20;
    std::vector<uint8_t> a(40 * kMiB + 3, 1), b(8 * kMiB + 5, 2), c(16 * kMiB, 3);
    const ByteRange ranges[] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
    ThreadPool pool(2);
    EXPECT_GT(measure_sustained_read_bandwidth(pool, ranges, 0.0), 1e8);
    const auto t0 = std::chrono::steady_clock::now();
    const double bw = measure_sustained_read_bandwidth(pool, ranges, 0.2);
    EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.2);
    EXPECT_GT(bw, 1e8);
    EXPECT_LT(bw, 1e13);
    EXPECT_EQ(measure_sustained_read_bandwidth(pool, {}, 0.1), 0.0);
}

// A pass reads every whole word of each range once, whichever thread claims it and whichever
// way it reads: with 1 to 3 threads, over ranges large enough for several claims per share
// (claims are at least 1 MiB), the bytes and the sum of the words are those of a serial walk. The
// ranges have odd sizes, so claims split them off their 8-byte grid (and UBSan would catch a
// misaligned word); random words, so a piece read twice, skipped, or read off the grid changes
// the sum. The small range is shorter than the prefetching read's distance ahead.
TEST(Bandwidth, APassReadsEveryWordOnce) {
    constexpr size_t kMiB = size_t{1} << 20;
    std::mt19937_64 rng(5);
    std::vector<uint64_t> a(9 * kMiB / 8 + 8), b(9), c(3 * kMiB / 8 + 1);
    const size_t sizes[] = {a.size() * 8 - 3, b.size() * 8 - 3, c.size() * 8 - 7};  // the last word of each is cut
    uint64_t want = 0;
    size_t want_bytes = 0;
    int i = 0;
    for (auto* v : {&a, &b, &c}) {
        for (uint64_t& w : *v) w = rng();
        for (size_t k = 0; k < sizes[i] / 8; ++k) want += (*v)[k];
        want_bytes += sizes[i++] / 8 * 8;
    }
    const ByteRange ranges[] = {{reinterpret_cast<const uint8_t*>(a.data()), sizes[0]},
                                {reinterpret_cast<const uint8_t*>(b.data()), sizes[1]},
                                {reinterpret_cast<const uint8_t*>(c.data()), sizes[2]}};
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        for (ReadMethod method : {ReadMethod::kNarrow, ReadMethod::kWide, ReadMethod::kWidePrefetch})
            for (int pass = 0; pass < 2; ++pass) {
                const ReadPassResult r = read_pass(pool, ranges, method);
                EXPECT_EQ(r.bytes, want_bytes) << threads << " threads, method " << (int)method;
                EXPECT_EQ(r.sum, want) << threads << " threads, method " << (int)method << ", pass " << pass;
            }
    }
}

// Huge pages only back aligned 2 MiB ranges: a large buffer must start on one, and every size
// (small, not a multiple of the page, moved) must be usable end to end and zero-filled.
TEST(PageBuffer, LargeBuffersStartOn2MiBAndAllAreZeroFilled) {
    constexpr size_t kMiB = size_t{1} << 20;
    for (size_t size : {size_t{1}, size_t{4096}, kMiB + 17, 2 * kMiB, 5 * kMiB + 4096 + 3}) {
        PageBuffer b(size);
        ASSERT_NE(b.data(), nullptr) << size;
        ASSERT_EQ(b.size(), size);
        if (size >= 2 * kMiB) {
            EXPECT_EQ((uintptr_t)b.data() % (2 * kMiB), 0u) << size;
        }
        EXPECT_EQ(b.data()[0], 0);
        EXPECT_EQ(b.data()[size - 1], 0);
        std::memset(b.data(), 0xAB, size);  // every byte is mapped and writable
        PageBuffer moved = std::move(b);
        EXPECT_EQ(b.data(), nullptr);
        EXPECT_EQ(moved.data()[size - 1], 0xAB);
    }
    EXPECT_EQ(PageBuffer(0).data(), nullptr);
}

TEST(SplitRange, CoversExactlyOnce) {
    for (int64_t n : {0, 1, 7, 31, 32, 33, 4097})
        for (int nth : {1, 2, 3, 16}) {
            int64_t expect = 0;
            for (int ith = 0; ith < nth; ++ith) {
                int64_t b, e;
                split_range(n, ith, nth, &b, &e);
                EXPECT_EQ(b, expect);
                EXPECT_LE(e - b, n / nth + 1);
                expect = e;
            }
            EXPECT_EQ(expect, n);
        }
}

TEST(Fp16, RoundTripsEveryHalf) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_f32((uint16_t)h);
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(f))));
            continue;
        }
        EXPECT_EQ(f32_to_fp16(f), h) << h;
    }
}

TEST(Fp16, RoundsToNearestEven) {
    EXPECT_EQ(f32_to_fp16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_fp16(1.0f + 1.0f / 2048), 0x3c00);  // exactly half an ulp: to even
    EXPECT_EQ(f32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);  // half an ulp above odd: up to even
    EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);            // rounds to infinity
    EXPECT_EQ(f32_to_fp16(5.96e-8f), 0x0001);            // smallest subnormal
    EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
}

TEST(Bf16, RoundsToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808000)), 0x3f80);  // tie to even
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f818000)), 0x3f82);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

Status fails() { return Error::bad_argument("bad value {}", 7); }
Status propagates() {
    RETORT_TRY(fails());
    return ok_status();
}

TEST(Result, CarriesValueOrError) {
    Result<int> r = 5;
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), 5);
    Status s = propagates();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message, "bad value 7");
    EXPECT_EQ(Error::bad_file("x.gguf", "n={}", 3).message, "x.gguf: n=3");
}

}  // namespace
}  // namespace retort
