// Reference (scalar, obviously-correct) dequantize and quantize per type; the tested truth.
// Implemented one file per type in this folder; listed in the traits table in dtype.cpp.
#pragma once

#include <cstdint>

namespace retort {

#define RETORT_DECLARE_TYPE(t)                                              \
    void dequantize_row_##t(const void* src, float* dst, int64_t n);        \
    void quantize_row_##t##_ref(const float* src, void* dst, int64_t n);

RETORT_DECLARE_TYPE(f32)
RETORT_DECLARE_TYPE(f16)
RETORT_DECLARE_TYPE(bf16)
RETORT_DECLARE_TYPE(q4_0)
RETORT_DECLARE_TYPE(q4_1)
RETORT_DECLARE_TYPE(q5_0)
RETORT_DECLARE_TYPE(q5_1)
RETORT_DECLARE_TYPE(q8_0)
RETORT_DECLARE_TYPE(q8_1)
RETORT_DECLARE_TYPE(q2_k)
RETORT_DECLARE_TYPE(q3_k)
RETORT_DECLARE_TYPE(q4_k)
RETORT_DECLARE_TYPE(q5_k)
RETORT_DECLARE_TYPE(q6_k)
RETORT_DECLARE_TYPE(q8_k)

#undef RETORT_DECLARE_TYPE

}  // namespace retort
