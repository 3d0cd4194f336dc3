// AVX-512 float dot products: vec_dot of F16, BF16 and F32 rows, and the attention helpers
// (dot / axpy of f32 with an F16 or f32 row). Match the ref_kernels() entries up to summation
// order (NMSE <= 1e-7). Tails use masked loads, so there is no scalar loop.

#include "kernels/avx512/avx512_common.h"

#include "kernels/avx512/kernels_avx512.h"

namespace retort::avx512 {

using namespace simd;

namespace {

// 16 elements (the first `k` of them; the rest read as 0) as f32 lanes.
inline __m512 ld16_f16(const uint8_t* p, __mmask16 k = 0xFFFF) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p));
}
inline __m512 ld16_f32(const uint8_t* p, __mmask16 k = 0xFFFF) { return _mm512_maskz_loadu_ps(k, p); }

inline __mmask16 first_n(int64_t n) { return (__mmask16)((1u << n) - 1); }  // n < 16

// sum_i x[i] * y[i], 16 lanes at a time on four accumulators (FMA latency 4, two FMA pipes).
// x is the streamed row (weights, K cache), y the short one that stays in L1. On long rows a
// masked first step aligns x's loads to their width: a load that splits two cache lines costs
// two accesses (f32 matvec rows 16 bytes off a 64-byte boundary ran at ~0.6x). Short rows
// (attention heads of 64-128) skip it: there the extra steps cost more than the splits.
template <int ELX, int ELY, class VX, class VY>
inline float dot_lanes(int64_t n, const uint8_t* x, const uint8_t* y, VX vx, VY vy) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    constexpr uintptr_t kWidth = 16 * ELX;  // bytes of x per step
    const uintptr_t mis = (uintptr_t)x % kWidth;
    if (mis != 0 && mis % ELX == 0 && n >= 512) {
        i = (int64_t)((kWidth - mis) / ELX);  // 1..15 elements
        acc3 = _mm512_fmadd_ps(vx(x, first_n(i)), vy(y, first_n(i)), acc3);
    }
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(vx(x + (i + 0) * ELX, 0xFFFF), vy(y + (i + 0) * ELY, 0xFFFF), acc0);
        acc1 = _mm512_fmadd_ps(vx(x + (i + 16) * ELX, 0xFFFF), vy(y + (i + 16) * ELY, 0xFFFF), acc1);
        acc2 = _mm512_fmadd_ps(vx(x + (i + 32) * ELX, 0xFFFF), vy(y + (i + 32) * ELY, 0xFFFF), acc2);
        acc3 = _mm512_fmadd_ps(vx(x + (i + 48) * ELX, 0xFFFF), vy(y + (i + 48) * ELY, 0xFFFF), acc3);
    }
    for (; i + 16 <= n; i += 16) acc1 = _mm512_fmadd_ps(vx(x + i * ELX, 0xFFFF), vy(y + i * ELY, 0xFFFF), acc1);
    if (i < n) {
        const __mmask16 k = first_n(n - i);
        acc2 = _mm512_fmadd_ps(vx(x + i * ELX, k), vy(y + i * ELY, k), acc2);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// y[i] += a * x[i], 32 elements per step (two independent rows of 16), masked tail.
template <int ELX, class VX>
inline void axpy_lanes(int64_t n, float a, const uint8_t* x, float* y, VX vx) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 y0 = _mm512_fmadd_ps(va, vx(x + i * ELX, 0xFFFF), _mm512_loadu_ps(y + i));
        const __m512 y1 = _mm512_fmadd_ps(va, vx(x + (i + 16) * ELX, 0xFFFF), _mm512_loadu_ps(y + i + 16));
        _mm512_storeu_ps(y + i, y0);
        _mm512_storeu_ps(y + i + 16, y1);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : first_n(n - i);
        const __m512 yi = _mm512_fmadd_ps(va, vx(x + i * ELX, k), _mm512_maskz_loadu_ps(k, y + i));
        _mm512_mask_storeu_ps(y + i, k, yi);
    }
}

}  // namespace

// ref: vec_dot[F16] of ref_kernels().
void vec_dot_f16(int64_t n, float* out, const void* w, const void* a) {
    *out = dot_lanes<2, 2>(n, (const uint8_t*)w, (const uint8_t*)a, ld16_f16, ld16_f16);
}

// ref: vec_dot[BF16] of ref_kernels(). AVX512-BF16's dpbf16 multiplies pairs of bf16 (exact in
// f32) and adds both products into the f32 lane: 32 elements per instruction.
void vec_dot_bf16(int64_t n, float* out, const void* vw, const void* va) {
    const auto* w = static_cast<const uint8_t*>(vw);
    const auto* a = static_cast<const uint8_t*>(va);
    auto ld32 = [](const uint8_t* p, __mmask32 k) { return (__m512bh)_mm512_maskz_loadu_epi16(k, p); };
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 128 <= n; i += 128) {
        acc0 = _mm512_dpbf16_ps(acc0, ld32(w + 2 * i, ~0u), ld32(a + 2 * i, ~0u));
        acc1 = _mm512_dpbf16_ps(acc1, ld32(w + 2 * (i + 32), ~0u), ld32(a + 2 * (i + 32), ~0u));
        acc2 = _mm512_dpbf16_ps(acc2, ld32(w + 2 * (i + 64), ~0u), ld32(a + 2 * (i + 64), ~0u));
        acc3 = _mm512_dpbf16_ps(acc3, ld32(w + 2 * (i + 96), ~0u), ld32(a + 2 * (i + 96), ~0u));
    }
    for (; i < n; i += 32) {
        const __mmask32 k = n - i >= 32 ? ~0u : (__mmask32)((1u << (n - i)) - 1);
        acc1 = _mm512_dpbf16_ps(acc1, ld32(w + 2 * i, k), ld32(a + 2 * i, k));
    }
    *out = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// ref: vec_dot[F32] of ref_kernels().
void vec_dot_f32(int64_t n, float* out, const void* w, const void* a) {
    *out = dot_lanes<4, 4>(n, (const uint8_t*)w, (const uint8_t*)a, ld16_f32, ld16_f32);
}

// ref: ref_dot_f16_f32.
float dot_f16_f32(int64_t n, const uint16_t* x, const float* y) {
    return dot_lanes<2, 4>(n, (const uint8_t*)x, (const uint8_t*)y, ld16_f16, ld16_f32);
}

// ref: ref_axpy_f16_f32.
void axpy_f16_f32(int64_t n, float a, const uint16_t* x, float* y) {
    axpy_lanes<2>(n, a, (const uint8_t*)x, y, ld16_f16);
}

// ref: ref_dot_f32.
float dot_f32(int64_t n, const float* x, const float* y) {
    return dot_lanes<4, 4>(n, (const uint8_t*)x, (const uint8_t*)y, ld16_f32, ld16_f32);
}

// ref: ref_axpy_f32.
void axpy_f32(int64_t n, float a, const float* x, float* y) { axpy_lanes<4>(n, a, (const uint8_t*)x, y, ld16_f32); }

}  // namespace retort::avx512
