// AVX2 float dot products: vec_dot of F16, BF16 and F32 rows (weight x activation in the same
// format), and the attention helpers (dot / axpy of f32 with an F16 or f32 row). Match the
// ref_kernels() entries up to summation order (NMSE <= 1e-7).

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/kernels_avx2.h"

namespace retort::avx2 {

using namespace simd;

namespace {

// Rows come as byte pointers: vec_dot rows may sit at any address.
inline __m256 ld8_f16(const uint8_t* p) { return _mm256_cvtph_ps(ld128(p)); }
// bf16 is the top half of an f32: widen to 32 bits and shift into place.
inline __m256 ld8_bf16(const uint8_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(ld128(p)), 16));
}
inline __m256 ld8_f32(const uint8_t* p) { return _mm256_loadu_ps((const float*)p); }
inline float ld1_f16(const uint8_t* p) { return ld_f16(p); }
inline float ld1_bf16(const uint8_t* p) {
    const uint32_t u = (uint32_t)ld_u16(p) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline float ld1_f32(const uint8_t* p) { return ld_f32(p); }

// sum_i x[i] * y[i] over n elements of ELX / ELY bytes each, loaded by VX / VY (8 lanes) and
// SX / SY (one). Four accumulators: 4-cycle FMA latency, two FMA ports.
template <int ELX, int ELY, class VX, class VY, class SX, class SY>
inline float dot_lanes(int64_t n, const uint8_t* x, const uint8_t* y, VX vx, VY vy, SX sx, SY sy) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(vx(x + (i + 0) * ELX), vy(y + (i + 0) * ELY), acc0);
        acc1 = _mm256_fmadd_ps(vx(x + (i + 8) * ELX), vy(y + (i + 8) * ELY), acc1);
        acc2 = _mm256_fmadd_ps(vx(x + (i + 16) * ELX), vy(y + (i + 16) * ELY), acc2);
        acc3 = _mm256_fmadd_ps(vx(x + (i + 24) * ELX), vy(y + (i + 24) * ELY), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(vx(x + i * ELX), vy(y + i * ELY), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) sum += sx(x + i * ELX) * sy(y + i * ELY);
    return sum;
}

// y[i] += a * x[i]; x elements of ELX bytes loaded by VX / SX.
template <int ELX, class VX, class SX>
inline void axpy_lanes(int64_t n, float a, const uint8_t* x, float* y, VX vx, SX sx) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {  // two independent rows of 8: loads of the next overlap the FMA
        const __m256 y0 = _mm256_fmadd_ps(va, vx(x + i * ELX), _mm256_loadu_ps(y + i));
        const __m256 y1 = _mm256_fmadd_ps(va, vx(x + (i + 8) * ELX), _mm256_loadu_ps(y + i + 8));
        _mm256_storeu_ps(y + i, y0);
        _mm256_storeu_ps(y + i + 8, y1);
    }
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, vx(x + i * ELX), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] += a * sx(x + i * ELX);
}

}  // namespace

// ref: vec_dot[F16] of ref_kernels().
void vec_dot_f16(int64_t n, float* out, const void* w, const void* a) {
    *out = dot_lanes<2, 2>(n, (const uint8_t*)w, (const uint8_t*)a, ld8_f16, ld8_f16, ld1_f16, ld1_f16);
}

// ref: vec_dot[BF16] of ref_kernels().
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* a) {
    *out = dot_lanes<2, 2>(n, (const uint8_t*)w, (const uint8_t*)a, ld8_bf16, ld8_bf16, ld1_bf16, ld1_bf16);
}

// ref: vec_dot[F32] of ref_kernels().
void vec_dot_f32(int64_t n, float* out, const void* w, const void* a) {
    *out = dot_lanes<4, 4>(n, (const uint8_t*)w, (const uint8_t*)a, ld8_f32, ld8_f32, ld1_f32, ld1_f32);
}

// ref: ref_dot_f16_f32.
float dot_f16_f32(int64_t n, const uint16_t* x, const float* y) {
    return dot_lanes<2, 4>(n, (const uint8_t*)x, (const uint8_t*)y, ld8_f16, ld8_f32, ld1_f16, ld1_f32);
}

// ref: ref_axpy_f16_f32.
void axpy_f16_f32(int64_t n, float a, const uint16_t* x, float* y) {
    axpy_lanes<2>(n, a, (const uint8_t*)x, y, ld8_f16, ld1_f16);
}

// ref: ref_dot_f32.
float dot_f32(int64_t n, const float* x, const float* y) {
    return dot_lanes<4, 4>(n, (const uint8_t*)x, (const uint8_t*)y, ld8_f32, ld8_f32, ld1_f32, ld1_f32);
}

// ref: ref_axpy_f32.
void axpy_f32(int64_t n, float a, const float* x, float* y) {
    axpy_lanes<4>(n, a, (const uint8_t*)x, y, ld8_f32, ld1_f32);
}

}  // namespace retort::avx2
