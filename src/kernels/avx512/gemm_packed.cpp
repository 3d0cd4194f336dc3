// AVX-512 VNNI matrix kernels on packed weights (kernels/packed.h): one group of 16 weight rows
// against 1..8 activation rows. Each 64-byte chunk of a group is 4 inputs of all 16 rows; one
// vpdpbusd with the matching 4 activation bytes broadcast (from memory, folded into the
// instruction) advances the 16 dot products of an activation row, so a block of 32 inputs costs
// 8 instructions per activation row and its scale is applied to 16 rows at once. The operations
// done for one activation row do not depend on how many rows share the call, so every result is
// bit-identical whatever the batch.

#include "kernels/avx512/avx512_common.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "kernels/avx512/kernels_avx512.h"
#include "kernels/packed.h"
#include "tensor/blocks.h"

namespace retort::avx512 {

using namespace simd;

namespace {

// acc += w . (the dword at p broadcast to 16 lanes), the broadcast folded into the instruction's
// memory operand ({1to16}). Written out because GCC 12 mostly emits a separate vpbroadcastd for
// _mm512_set1_epi32 of a load. Measured (bench_kernels packed/avx512/Q4_K/1536x8960): 4 rows
// 307 -> 265 us, 8 rows 586 -> 518 us (docs/bench.md).
__attribute__((always_inline)) inline __m512i dpbusd_bcast(__m512i acc, __m512i w, const uint8_t* p) {
    asm("vpdpbusd %[a]%{1to16%}, %[w], %[acc]" : [acc] "+v"(acc) : [w] "v"(w), [a] "m"(*(const int32_t*)p));
    return acc;
}
// The same for vpdpwssd (pairs of int16).
__attribute__((always_inline)) inline __m512i dpwssd_bcast(__m512i acc, __m512i w, const uint8_t* p) {
    asm("vpdpwssd %[a]%{1to16%}, %[w], %[acc]" : [acc] "+v"(acc) : [w] "v"(w), [a] "m"(*(const int32_t*)p));
    return acc;
}

// Decoding streams the weights from DRAM on one core per share, and for the k-quant kernels the
// hardware prefetcher alone keeps too few lines in flight: per super-block they ask for the
// next super-block's worth of bytes kPrefetchAhead further on, across group borders (a group of
// 16 rows of 1536 inputs is only 6 Q4_K super-blocks). Measured on one core streaming 768 MB of
// packed Q4_K groups of 1536 inputs: no software prefetch 15 GB/s, the next super-block of the
// same group only 24.5, 2 super-blocks ahead across groups 29-31, 3 ahead (7 KiB) 33, 4 ahead
// 30-34 (docs/bench.md). The one-row Q8_0 and Q4_0 kernels decode faster without it, so they
// leave it to the hardware but for each page's start (prefetch_page_head); the tile kernels (2-8 rows), which keep the core busy,
// prefetch into L1: --parallel 8 decode +5% to +17% (docs/bench.md).
// The window's lines are asked for in kParts parts spread over the super-block's loop, not all
// at once: a burst of 37 (Q4_K) or 53 (Q6_K) prefetches stalls the loads that follow it, which
// costs little when one activation row waits on DRAM anyway but a lot when 8 rows keep the core
// busy. Measured from DRAM (bench_kernels .../151936x1536): Q6_K 8 rows 15.2 -> 10.3 ms, Q4_K
// 8 rows 9.4-10.2 -> 8.4-8.5 ms, and one row no slower (docs/bench.md).
// Never at or past stream_end: the kernel cannot know what follows a share (the last packed
// matrix ends its buffer; tests and benches pass buffers of their own), and on the VMs we measure on a
// prefetch into unmapped memory costs about a page fault (decoding fell to 1-6 tok/s whenever
// the next mapping was not adjacent).
// Always inlined: GCC 12 at -O2 takes an out-of-line function that only prefetches for one
// without effects (IPA mod-ref) and deletes its calls. The last super-blocks of a share, whose
// window would cross stream_end, prefetch nothing.
constexpr uintptr_t kPrefetchAhead = 7 * 1024;

template <size_t kUnitBytes, int kParts = 1>
__attribute__((always_inline)) inline void prefetch_ahead(const uint8_t* unit, const uint8_t* stream_end, int part = 0) {
    // Addresses as integers: the window may lie past the end of the allocation.
    const uintptr_t from = (uintptr_t)unit + kPrefetchAhead;
    if (from + kUnitBytes > (uintptr_t)stream_end) return;
    constexpr size_t kLines = (kUnitBytes + 63) / 64, kPer = (kLines + kParts - 1) / kParts;
#pragma GCC unroll 64
    for (size_t i = 0; i < kPer; ++i) {
        const size_t l = (size_t)part * kPer + i;
        if (l < kLines) _mm_prefetch((const char*)(from + l * 64), _MM_HINT_T0);
    }
}

// A hardware stream prefetcher usually stays within a 4 KiB page: at each page start the stream
// has to be found again, and a kernel that leaves prefetching to the hardware waits on DRAM there
// (the measurements below fit that). This asks for the next page's first kPageHeadLines lines,
// into L2, once, when the stream is kPageHeadAhead before it. In the one-row Q4_0 kernel it took
// 0.78-0.85x the decode matmul time in the fast memory state (0.95x in one slow-state run); 1-2
// KiB ahead and T1 did best, four lines or T0 less well. Whole runs, tg128 at 2 threads: 70.6 against 59.3 tok/s, 99% against 83% of the
// interleaved probe (docs/bench.md, session of 2026-12-05 04:20). Call it once per unit of a
// stream whose units are at most a page long, so that each page start falls in one call's window.
// Never past stream_end (see prefetch_ahead).
constexpr uintptr_t kPage = 4096, kPageHeadAhead = 1024, kPageHeadLines = 2;

template <size_t kUnitBytes>
__attribute__((always_inline)) inline void prefetch_page_head(const uint8_t* unit, const uint8_t* stream_end) {
    static_assert(kUnitBytes <= kPage);
    const uintptr_t ahead = (uintptr_t)unit + kPageHeadAhead;
    const uintptr_t page = (ahead + kPage - 1) & ~(kPage - 1);  // the first page start at or after `ahead`
    if (page >= ahead + kUnitBytes || page + kPageHeadLines * 64 > (uintptr_t)stream_end) return;
#pragma GCC unroll 4
    for (uintptr_t l = 0; l < kPageHeadLines; ++l) _mm_prefetch((const char*)(page + l * 64), _MM_HINT_T1);
}

// The Q4_0 and Q8_0 kernels take one activation row (decoding) or a tile of 2..8 rows (batched
// decoding, prompts); the k-quant kernels take M (1..8) rows by pointers. Each has the signature of
// GemmPackedFn, or GemmPackedTileFn for the tiles, for its fixed number of rows.

// Q8_0 packed groups x one Q8_0 activation row. Per block: the dot of 8 chunks of (q + 128) bytes
// started from -128 x sum(a), which undoes the offset, then scaled by the weights' and the
// activation's scales. The tile kernel does the same operations in the same order. Like the Q4_0
// kernel it leaves prefetching to the hardware but for each page's start (prefetch_page_head):
// whole 2-thread runs at 54 GB/s or more read 102-111% of the interleaved probe with it against
// 82-96% without (docs/bench.md, session of 2026-12-05 04:20).
void packed_q8_0_one_row(int64_t n, const uint8_t* group, const uint8_t* act, size_t /*act_row*/, const int32_t* sums,
                         int64_t /*sums_row*/, float* y, int64_t /*ldy*/, const uint8_t* stream_end) {
    constexpr size_t kScales = kPackRows * 2, kQuants = 8 * 64, kPair = 2 * (kScales + kQuants);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / 32; ++b) {
        // Block pairs: [scales of b, b+1][quants of b][quants of b+1] (packed.h).
        const uint8_t* pair = group + (size_t)(b / 2) * kPair;
        if (b % 2 == 0) prefetch_page_head<kPair>(pair, stream_end);
        const uint8_t* q = pair + 2 * kScales + (size_t)(b % 2) * kQuants;
        const uint8_t* a = act + (size_t)b * sizeof(BlockQ8_0);
        __m512i dot = _mm512_set1_epi32(-(sums[b] << 7));
#pragma GCC unroll 8
        for (int s = 0; s < 8; ++s) dot = dpbusd_bcast(dot, ld512(q + s * 64), a + 2 + 4 * s);
        const __m512 dw = _mm512_cvtph_ps(ld256(pair + (size_t)(b % 2) * kScales));
        const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(ld_f16(a)));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc);
    }
    _mm512_storeu_ps(y, acc);
}

// Q4_0 packed groups x one Q8_0 activation row: decoding's kernel. One row streams the weights
// from DRAM with little work per line, and how far ahead the core can have loads in flight is
// its reorder window divided by the uops per line. So, against the general M-row kernel it
// replaced (packed32_kernel<true, 1>, since removed): a block pair per iteration with pointers
// that only advance (no address arithmetic per block), each chunk loaded into a register once
// (GCC otherwise folds the load into both of its uses), the activation scale broadcast as f16
// and converted in the vector unit, and the low- and high-nibble dots in two chains of 4 instead
// of one of 8. About 15% fewer instructions per block; the float operations are the tile
// kernel's, in its order, so the results are bit-identical to a row of a tile. Measured per
// decode step against that kernel (docs/bench.md): +2.2% to +5.0% at 2 threads (mean +3.7%),
// +2.1%/+5.3% at 1 thread. The hardware prefetches each page; the kernel only asks for the start
// of the next one (prefetch_page_head). Asking for every line instead cost: into L2 (T1) 7 KiB
// ahead, as it did until 2026-12-05, 4-5% more of the decode's matmul time than no software
// prefetch at 2 threads (17 runs, fast memory state) and 5% more at 1 (4 runs); into L1 (T0)
// 5-14% more. Each run alternated per product in one process (docs/bench.md, "Two variants in one
// process"; on 2026-12-03 the T1 prefetch had measured 1% faster, on this same VM kind).
// Touching each pair's lines with integer loads cost too: one pair ahead 1.10-1.13x the time of
// the T1 prefetch, and just before the vector loads about 5% more than no prefetch.
void packed_q4_0_one_row(int64_t n, const uint8_t* group, const uint8_t* act, size_t /*act_row*/, const int32_t* sums,
                         int64_t /*sums_row*/, float* y, int64_t /*ldy*/, const uint8_t* stream_end) {
    constexpr size_t kScales = kPackRows * 2, kQuants = 4 * 64, kPair = 2 * (kScales + kQuants);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps();
    const uint8_t* pair = group;
    const uint8_t* a = act;
    for (int64_t b = 0; b < n / 32; b += 2, pair += kPair, a += 2 * sizeof(BlockQ8_0)) {
        prefetch_page_head<kPair>(pair, stream_end);
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const uint8_t* q = pair + 2 * kScales + h * kQuants;
            const uint8_t* ab = a + h * sizeof(BlockQ8_0);
            // Low nibbles start from -8 * sum(a): what the unsigned weights add on top of the true dot.
            __m512i dot_lo = _mm512_set1_epi32(-(sums[b + h] << 3)), dot_hi = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int p = 0; p < 4; ++p) {
                __m512i v = ld512(q + p * 64);
                asm("" : "+v"(v));  // keep it in a register: one load per chunk
                dot_lo = dpbusd_bcast(dot_lo, _mm512_and_si512(v, low4), ab + 2 + 4 * p);
                dot_hi = dpbusd_bcast(dot_hi, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4), ab + 2 + 16 + 4 * p);
            }
            const __m512 da = _mm512_cvtph_ps(_mm256_set1_epi16((short)ld_u16(ab)));
            const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(ld256(pair + h * kScales)), da);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(dot_lo, dot_hi)), d, acc);
        }
    }
    _mm512_storeu_ps(y, acc);
}

// Q4_0 and Q8_0 packed groups x M (1..8) rows of a Q8_0 activation tile: the one-row kernels'
// operations in their order (so the same bits), with each row's per-block operands one broadcast
// load away from one pointer: the sum starts the dot as -offset x sum (a shift of the tile's
// negated sum), and the f32 scale multiplies the weights' scales straight from memory. With row
// pointers, 8 rows spilled general and vector registers and spent ~8 scalar instructions per
// row and block on sums and f16 scales.
template <bool kNibbles, int M>
void packed32_tile_kernel(int64_t n, const uint8_t* group, const Q8_0TileBlock* tile, float* y, int64_t ldy,
                          const uint8_t* stream_end) {
    constexpr int kChunks = kNibbles ? 4 : 8;
    constexpr int kOffsetShift = kNibbles ? 3 : 7;  // offset 8 or 128
    constexpr size_t kScales = kPackRows * 2, kQuants = kChunks * 64, kPair = 2 * (kScales + kQuants);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    // Every loop over the rows is unrolled, even those outside the block loop: GCC keeps an array
    // that one loop indexes by a variable on the stack, and acc then cost a load and a store per
    // row and block (--parallel 8 decode, Q4_0, 1 thread: 135 -> 142 tok/s unrolled).
    __m512 acc[M];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) acc[m] = _mm512_setzero_ps();
    const uint8_t* pair = group;
    for (int64_t b = 0; b < n / 32; b += 2, pair += kPair, tile += 2) {
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            prefetch_ahead<kPair, 2>(pair, stream_end, h);
            const Q8_0TileBlock& blk = tile[h];
            const uint8_t* q = pair + 2 * kScales + h * kQuants;
            __m512i dot[M];
#pragma GCC unroll 8
            for (int m = 0; m < M; ++m) dot[m] = _mm512_slli_epi32(_mm512_set1_epi32(blk.neg_sum[m]), kOffsetShift);
            if constexpr (kNibbles) {
#pragma GCC unroll 4
                for (int p = 0; p < 4; ++p) {
                    const __m512i v = ld512(q + p * 64);
                    const __m512i lo = _mm512_and_si512(v, low4);
                    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
#pragma GCC unroll 8
                    for (int m = 0; m < M; ++m) {
                        const uint8_t* a = (const uint8_t*)blk.qs[m];
                        dot[m] = dpbusd_bcast(dot[m], lo, a + 4 * p);
                        dot[m] = dpbusd_bcast(dot[m], hi, a + 16 + 4 * p);
                    }
                }
            } else {
#pragma GCC unroll 8
                for (int s = 0; s < 8; ++s) {
                    const __m512i v = ld512(q + s * 64);
#pragma GCC unroll 8
                    for (int m = 0; m < M; ++m) dot[m] = dpbusd_bcast(dot[m], v, (const uint8_t*)blk.qs[m] + 4 * s);
                }
            }
            const __m512 dw = _mm512_cvtph_ps(ld256(pair + h * kScales));
#pragma GCC unroll 8
            for (int m = 0; m < M; ++m) {
                const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(blk.d[m]));
                acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[m]), d, acc[m]);
            }
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) _mm512_storeu_ps(y + m * ldy, acc[m]);
}

// packed32_tile_kernel<kNibbles, nm> for nm = 2..kQ8_0TileRows: one row takes the one-row kernels.
template <bool kNibbles, int... Ms>
void run_tile(int nm, std::integer_sequence<int, Ms...>, int64_t n, const uint8_t* group, const Q8_0TileBlock* tile,
              float* y, int64_t ldy, const uint8_t* stream_end) {
    assert(nm >= 2 && nm <= kQ8_0TileRows);
    ((nm == Ms + 2 && (packed32_tile_kernel<kNibbles, Ms + 2>(n, group, tile, y, ldy, stream_end), true)) || ...);
}

// Pointers to the activation rows' super-block sb (BlockQ8_K: float d, int8 qs[256], int16
// bsums[16]).
template <int M>
struct SuperBlockRows {
    const uint8_t* a[M];
    SuperBlockRows(const uint8_t* act, size_t act_row, int64_t sb) {
        for (int m = 0; m < M; ++m) a[m] = act + (size_t)m * act_row + (size_t)sb * sizeof(BlockQ8_K);
    }
};

// isum[m] += dot[m] x scales (int32, exact) for the M rows.
template <int M>
__attribute__((always_inline)) inline void add_scaled_dots(__m512i* isum, const __m512i* dot, __m512i scales) {
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) isum[m] = _mm512_add_epi32(isum[m], _mm512_mullo_epi32(dot[m], scales));
}

// Up to kRegisterRows activation rows keep their float accumulators in registers; more would not
// leave room for the integer sums, so the wide kernels (5..8 rows, one pass over the group) keep
// them in y, which is in L1, and update them once per super-block: the same operations, so the
// same bits.
constexpr int kRegisterRows = 4;
template <int M>
struct RowAccumulators {
    static constexpr bool kInMemory = M > kRegisterRows;
    __m512 reg[kInMemory ? 1 : M];
    float* y;
    int64_t ldy;
    RowAccumulators(float* y_, int64_t ldy_) : y(y_), ldy(ldy_) {
        for (int m = 0; m < M; ++m) set(m, _mm512_setzero_ps());
    }
    __m512 get(int m) const { return kInMemory ? _mm512_loadu_ps(y + m * ldy) : reg[m]; }
    void set(int m, __m512 v) {
        if constexpr (kInMemory) _mm512_storeu_ps(y + m * ldy, v);
        else reg[m] = v;
    }
    // Row m += isum x scale, once per super-block.
    void add(int m, __m512i isum, __m512 scale) { set(m, _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, get(m))); }
};

// Q4_K packed groups x Q8_K activations, M (1..8) activation rows. Per sub-block the 16 rows'
// integer dots are scaled by their 6-bit scales in int32 (exact, as the reference). The mins
// term (sum over sub-blocks of min x the activation sub-block's sum, one vpdpwssd per pair) has
// its own float accumulator, subtracted at the end, so that the wide kernels can compute it in
// a second, light loop over the group's headers and every row gets the same float operations
// whatever M is. Up to 4 rows take a chunk's low and high nibbles (sub-blocks 2jp and 2jp + 1)
// together; 5..8 rows take the low nibbles of 8 chunks, then the high ones (re-read from L1),
// so that 8 dot registers suffice. One pass of 8 rows instead of two of 4 (the group re-read
// from L1/L2): bench_kernels packed/avx512/Q4_K/1536x8960/m8 493-500 -> 427-436 us.
template <int M>
void packed_q4_k_kernel(int64_t n, const uint8_t* group, const uint8_t* act, size_t act_row, const int32_t* sums,
                        int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    using namespace packed_q4_k;
    constexpr bool kWide = M > kRegisterRows;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    RowAccumulators<M> acc(y, ldy);
    for (int64_t sb = 0; sb < n / 256; ++sb) {
        const uint8_t* hdr = group + (size_t)sb * kSuper;
        const uint8_t* q = hdr + kHeader;
        const SuperBlockRows<M> rows(act, act_row, sb);
        const uint8_t* const* a = rows.a;
        __m512i isum[M];
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) isum[m] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int jp = 0; jp < 4; ++jp) {
            prefetch_ahead<kSuper, 4>(hdr, stream_end, jp);
            const __m512i sc_lo = _mm512_cvtepu8_epi32(ld128(hdr + kScales + (2 * jp) * 16));
            const __m512i sc_hi = _mm512_cvtepu8_epi32(ld128(hdr + kScales + (2 * jp + 1) * 16));
            if constexpr (kWide) {
#pragma GCC unroll 2
                for (int half = 0; half < 2; ++half) {
                    __m512i dot[M];
#pragma GCC unroll 8
                    for (int m = 0; m < M; ++m) dot[m] = _mm512_setzero_si512();
#pragma GCC unroll 8
                    for (int p = 0; p < 8; ++p) {
                        const __m512i v = ld512(q + (jp * 8 + p) * 64);
                        const __m512i w = _mm512_and_si512(half == 0 ? v : _mm512_srli_epi16(v, 4), low4);
#pragma GCC unroll 8
                        for (int m = 0; m < M; ++m)
                            dot[m] = dpbusd_bcast(dot[m], w, a[m] + 4 + 64 * jp + 32 * half + 4 * p);
                    }
                    add_scaled_dots<M>(isum, dot, half == 0 ? sc_lo : sc_hi);
                }
            } else {
                __m512i dlo[M], dhi[M];
#pragma GCC unroll 4
                for (int m = 0; m < M; ++m) dlo[m] = dhi[m] = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int p = 0; p < 8; ++p) {
                    const __m512i v = ld512(q + (jp * 8 + p) * 64);
                    const __m512i lo = _mm512_and_si512(v, low4);
                    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
#pragma GCC unroll 4
                    for (int m = 0; m < M; ++m) {
                        dlo[m] = dpbusd_bcast(dlo[m], lo, a[m] + 4 + 64 * jp + 4 * p);
                        dhi[m] = dpbusd_bcast(dhi[m], hi, a[m] + 4 + 64 * jp + 32 + 4 * p);
                    }
                }
                add_scaled_dots<M>(isum, dlo, sc_lo);
                add_scaled_dots<M>(isum, dhi, sc_hi);
            }
        }
        const __m512 d = _mm512_cvtph_ps(ld256(hdr));
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) acc.add(m, isum[m], _mm512_mul_ps(d, _mm512_set1_ps(ld_f32(a[m]))));
    }
    // The mins: dmin x sum over sub-block pairs of (min 2jp, min 2jp + 1) . (sum of the activation
    // sub-blocks 2jp, 2jp + 1), whose int16 pairs are ActBuffer::sums of Q8_K.
    __m512 accm[M];
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) accm[m] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < n / 256; ++sb) {
        const uint8_t* hdr = group + (size_t)sb * kSuper;
        const SuperBlockRows<M> rows(act, act_row, sb);
        __m512i msum[M];
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) msum[m] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int jp = 0; jp < 4; ++jp) {
            const __m512i mins = _mm512_cvtepu8_epi16(ld256(hdr + kMins + jp * 32));
#pragma GCC unroll 8
            for (int m = 0; m < M; ++m)
                msum[m] = _mm512_dpwssd_epi32(msum[m], mins, _mm512_set1_epi32(sums[m * sums_row + sb * kQ8KSumPairs + jp]));
        }
        const __m512 dmin = _mm512_cvtph_ps(ld256(hdr + kDmin));
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m)
            accm[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum[m]), _mm512_mul_ps(dmin, _mm512_set1_ps(ld_f32(rows.a[m]))),
                                      accm[m]);
    }
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) _mm512_storeu_ps(y + m * ldy, _mm512_sub_ps(acc.get(m), accm[m]));
}

// The Q6_K kernel's chunk loads. The same chunks are read for 2 or 4 slices of their bits; for up
// to kRegisterRows rows GCC keeps the first load in a register, and one row gains by it. With more
// rows that kept ~20 vector registers alive across the super-block and spilled them, so those
// load every time.
template <int M>
__attribute__((always_inline)) inline __m512i load_chunk(const uint8_t* p) {
    if constexpr (M > kRegisterRows) return ld512_each_time(p);
    return ld512(p);
}

// Q6_K packed groups x Q8_K activations, M (1..8) activation rows. The 6-bit quants are used
// unsigned (the file's q + 32); per 16-input group the 16 rows' dots are scaled by their int8
// scales in int32, and the +32 is undone in the same int32 sums: one vpdpwssd of -32 x the
// scales (which fits int16) with the activation groups' sums. Exact, and no extra registers, so
// 8 rows fit one pass.
template <int M>
void packed_q6_k_kernel(int64_t n, const uint8_t* group, const uint8_t* act, size_t act_row, const int32_t* /*sums*/,
                        int64_t /*sums_row*/, float* y, int64_t ldy, const uint8_t* stream_end) {
    using namespace packed_q6_k;
    const __m512i low4 = _mm512_set1_epi8(0x0F), top2 = _mm512_set1_epi8(0x30);
    RowAccumulators<M> acc(y, ldy);
    for (int64_t sb = 0; sb < n / 256; ++sb) {
        const uint8_t* hdr = group + (size_t)sb * kSuper;
        const SuperBlockRows<M> rows(act, act_row, sb);
        const uint8_t* const* a = rows.a;
        __m512i isum[M];
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) isum[m] = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            const uint8_t* half = hdr + kHeader + h * kHalf;
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {
                // Inputs 128h + 32k + 0..31: scale groups 2gp (first 16) and 2gp + 1.
                const int gp = 4 * h + k;
                prefetch_ahead<kSuper, 8>(hdr, stream_end, gp);
                const __m512i pair16 = _mm512_cvtepi8_epi16(ld256(hdr + kScales + gp * 32));
                const __m512i sc[2] = {_mm512_srai_epi32(_mm512_slli_epi32(pair16, 16), 16),
                                       _mm512_srai_epi32(pair16, 16)};
#pragma GCC unroll 2
                for (int pp = 0; pp < 2; ++pp) {
                    __m512i dot[M];
#pragma GCC unroll 8
                    for (int m = 0; m < M; ++m) dot[m] = _mm512_setzero_si512();
#pragma GCC unroll 4
                    for (int p = 4 * pp; p < 4 * pp + 4; ++p) {
                        const __m512i l = load_chunk<M>(half + ((k % 2) * 8 + p) * 64);
                        const __m512i hb = load_chunk<M>(half + (16 + p) * 64);
                        const __m512i lo = _mm512_and_si512(k < 2 ? l : _mm512_srli_epi16(l, 4), low4);
                        const __m512i hi_bits = k == 0   ? _mm512_slli_epi16(hb, 4)
                                                : k == 1 ? _mm512_slli_epi16(hb, 2)
                                                : k == 2 ? hb
                                                         : _mm512_srli_epi16(hb, 2);
                        const __m512i v = _mm512_or_si512(lo, _mm512_and_si512(hi_bits, top2));
#pragma GCC unroll 8
                        for (int m = 0; m < M; ++m)
                            dot[m] = dpbusd_bcast(dot[m], v, a[m] + 4 + 128 * h + 32 * k + 4 * p);
                    }
                    add_scaled_dots<M>(isum, dot, sc[pp]);
                }
                // bsums 2gp, 2gp + 1 are one dword of two int16.
                const __m512i minus32 = _mm512_sub_epi16(_mm512_setzero_si512(), _mm512_slli_epi16(pair16, 5));
#pragma GCC unroll 8
                for (int m = 0; m < M; ++m)
                    isum[m] = dpwssd_bcast(isum[m], minus32, a[m] + 260 + 4 * gp);
            }
        }
        const __m512 d = _mm512_cvtph_ps(ld256(hdr));
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) acc.add(m, isum[m], _mm512_mul_ps(d, _mm512_set1_ps(ld_f32(a[m]))));
    }
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) _mm512_storeu_ps(y + m * ldy, acc.get(m));
}

using GemmPackedOneFn = void (*)(int64_t n, const uint8_t* group, const uint8_t* act, size_t act_row,
                                 const int32_t* sums, int64_t sums_row, float* y, int64_t ldy,
                                 const uint8_t* stream_end);

// Each k-quant kernel template as a type run_rows can take: Kernel::fn<M> is the kernel for M rows.
struct PackedQ4K {
    template <int M>
    static constexpr GemmPackedOneFn fn = &packed_q4_k_kernel<M>;
};
struct PackedQ6K {
    template <int M>
    static constexpr GemmPackedOneFn fn = &packed_q6_k_kernel<M>;
};

// Runs Kernel::fn<M> over nm rows, at most kRowsPerPass per pass over the group.
template <class Kernel, int... Ms>
void run_pass(int m, std::integer_sequence<int, Ms...>, int64_t n, const uint8_t* group, const uint8_t* act,
              size_t act_row, const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    ((m == Ms + 1 && (Kernel::template fn<Ms + 1>(n, group, act, act_row, sums, sums_row, y, ldy, stream_end), true)) ||
     ...);
}

template <class Kernel, int kRowsPerPass>
void run_rows(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row, const int32_t* sums,
              int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    static_assert(kRowsPerPass <= kMaxPackedTokens);
    for (int m0 = 0; m0 < nm; m0 += kRowsPerPass)
        run_pass<Kernel>(std::min(kRowsPerPass, nm - m0), std::make_integer_sequence<int, kRowsPerPass>(), n, group,
                         act + (size_t)m0 * act_row, act_row, sums != nullptr ? sums + m0 * sums_row : nullptr,
                         sums_row, y + m0 * ldy, ldy, stream_end);
}

// Q4_0 and Q8_0 rows one at a time: matmul takes 2+ rows of these types through the tile kernels
// (gemm_packed_tile_*), which give the same bits; tests and benchmarks compare against this.
template <GemmPackedOneFn kOneRow>
void each_row(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row, const int32_t* sums,
              int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    for (int m = 0; m < nm; ++m)
        kOneRow(n, group, act + (size_t)m * act_row, act_row, sums + m * sums_row, sums_row, y + m * ldy, ldy,
                stream_end);
}

}  // namespace

void gemm_packed_q4_0(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    each_row<packed_q4_0_one_row>(n, nm, group, act, act_row, sums, sums_row, y, ldy, stream_end);
}

void gemm_packed_q8_0(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    each_row<packed_q8_0_one_row>(n, nm, group, act, act_row, sums, sums_row, y, ldy, stream_end);
}

void gemm_packed_tile_q4_0(int64_t n, int nm, const uint8_t* group, const Q8_0TileBlock* tile, float* y, int64_t ldy,
                           const uint8_t* stream_end) {
    run_tile<true>(nm, std::make_integer_sequence<int, kQ8_0TileRows - 1>(), n, group, tile, y, ldy, stream_end);
}

void gemm_packed_tile_q8_0(int64_t n, int nm, const uint8_t* group, const Q8_0TileBlock* tile, float* y, int64_t ldy,
                           const uint8_t* stream_end) {
    run_tile<false>(nm, std::make_integer_sequence<int, kQ8_0TileRows - 1>(), n, group, tile, y, ldy, stream_end);
}

void gemm_packed_q4_k(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    run_rows<PackedQ4K, 8>(n, nm, group, act, act_row, sums, sums_row, y, ldy, stream_end);
}

void gemm_packed_q6_k(int64_t n, int nm, const uint8_t* group, const uint8_t* act, size_t act_row,
                      const int32_t* sums, int64_t sums_row, float* y, int64_t ldy, const uint8_t* stream_end) {
    run_rows<PackedQ6K, 8>(n, nm, group, act, act_row, sums, sums_row, y, ldy, stream_end);
}

}  // namespace retort::avx512
