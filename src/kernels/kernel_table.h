// KernelTable: the per-ISA function pointers for the inner products. Picked once at start-up
// from the CPU's features (dispatch.cpp), then immutable. Every entry of a SIMD table must
// match the same entry of the ref table (tests/kernels).
#pragma once

#include "tensor/dtype.h"

#include <cstdint>

namespace retort {

// out = dot(w, a) over n elements. w: one row in the weight's type; a: the activation row,
// already converted to traits(weight).vec_dot_type. n is a multiple of the block size.
using VecDotFn = void (*)(int64_t n, float* out, const void* w, const void* a);

// Converts n floats to an activation format (Q8_0, Q8_1, Q8_K, F16, BF16, F32).
using FromFloatFn = void (*)(const float* x, void* dst, int64_t n);

struct KernelTable {
    const char* isa = "ref";                 // "ref", "avx2", "avx512"
    VecDotFn vec_dot[kDTypeIdLimit] = {};    // indexed by weight DType
    FromFloatFn from_float[kDTypeIdLimit] = {};  // indexed by activation DType
};

// The scalar reference table: every supported weight type and activation type is filled.
const KernelTable& ref_kernels();
// SIMD tables; entries a table lacks fall back to ref. nullptr when the CPU cannot run them.
const KernelTable* avx2_kernels();
const KernelTable* avx512_kernels();

// The best table this CPU runs, or the named one ("ref", "avx2", "avx512").
// Returns nullptr when the named table is unknown or unsupported by this CPU.
const KernelTable* select_kernels(const char* force = nullptr);

}  // namespace retort
