// DType and THE type-traits table: one row per tensor type we can read.
// Adding a quant type = a block struct in blocks.h, a types/<type>.cpp, one row in dtype.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace retort {

// Values are the GGUF/ggml type ids, so a file's type field maps directly.
enum class DType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, BF16 = 30,
};
constexpr int kDTypeIdLimit = 40;  // ggml ids are below this; used to size per-type tables

using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);

struct TypeTraits {
    DType type;
    const char* name;              // GGUF/ggml spelling: "Q4_K", "F16"
    int64_t block_elems;           // elements per block (1 for float types)
    size_t block_bytes;            // bytes per block
    bool is_weight_type;           // may appear as a model weight (Q8_1/Q8_K are activation-only)
    DType vec_dot_type;            // format activations are converted to for dot products
    DequantizeRowFn dequantize_row;  // reference: n must be a multiple of block_elems
    QuantizeRowFn quantize_row;      // reference quantizer (round-to-nearest, as ggml's _ref)
    double max_roundtrip_error;    // RMSE bound of quantize->dequantize on N(0,1) data
};

// The row for a type we support, or nullptr for any other ggml id (IQ*, TQ*, removed ids ...).
const TypeTraits* find_traits(uint32_t ggml_type_id);
// The row for a supported type (always present).
const TypeTraits& traits(DType t);
// Name of any ggml type id, including the ones we refuse ("IQ2_XXS"), for error messages.
std::string ggml_type_name(uint32_t ggml_type_id);

// Bytes of n elements of type t; n must be a multiple of block_elems.
inline size_t row_bytes(const TypeTraits& tr, int64_t n) {
    return (size_t)(n / tr.block_elems) * tr.block_bytes;
}

}  // namespace retort
