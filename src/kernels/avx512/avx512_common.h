// Shared by the AVX-512 kernel files (only they may include it: the helpers are compiled with
// those files' -m flags, like avx2_common.h's). Include it first: the GCC 12 workaround below
// must come before the intrinsics headers.
#pragma once

// GCC 12's AVX-512 headers trip -Wuninitialized on their own `__Y = __Y` placeholders (GCC bug
// 105593, fixed in GCC 13); nothing uninitialized is read in these files.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/avx2/avx2_common.h"

namespace retort::simd {

static inline __m512i ld512(const uint8_t* p) { return _mm512_loadu_si512((const void*)p); }

// The same load, which GCC may not merge with an earlier load of the same bytes (kept in a
// register, where too many such would spill).
__attribute__((always_inline)) inline __m512i ld512_each_time(const uint8_t* p) {
    __m512i v;
    asm volatile("vmovdqu64 %1, %0" : "=v"(v) : "m"(*(const __m512i*)p));
    return v;
}

}  // namespace retort::simd
