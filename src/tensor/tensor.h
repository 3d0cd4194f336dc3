// Tensor views: a typed, shaped window onto bytes someone else owns (usually the mmapped file).
#pragma once

#include "tensor/dtype.h"

#include <cstdint>
#include <string>

namespace retort {

// A 2-D weight matrix [rows, cols]: each row is `cols` elements of `type`, stored contiguously
// (rows = output features, cols = input features). 1-D tensors have rows == 1.
struct Matrix {
    std::string name;
    const TypeTraits* traits = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes = 0;
    const uint8_t* data = nullptr;
    // The same rows repacked for the matrix kernels (kernels/packed.h), or nullptr. Owned by
    // whoever packed them (ModelWeights); matmul uses it when set.
    const uint8_t* packed = nullptr;

    bool empty() const { return data == nullptr; }
    DType type() const { return traits->type; }
    const uint8_t* row(int64_t r) const { return data + (size_t)r * row_bytes; }
    size_t size_bytes() const { return (size_t)rows * row_bytes; }
};

}  // namespace retort
