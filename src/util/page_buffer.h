// PageBuffer: a large zero-filled buffer from anonymous mmap. Pages are only backed by memory
// when first written, so a KV cache sized for a long context costs RSS only as it fills.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace retort {

class PageBuffer {
public:
    PageBuffer() = default;
    // Returns an empty buffer (data() == nullptr) when the mapping fails.
    explicit PageBuffer(size_t size);
    ~PageBuffer();
    PageBuffer(PageBuffer&& o) noexcept { *this = std::move(o); }
    PageBuffer& operator=(PageBuffer&& o) noexcept;
    PageBuffer(const PageBuffer&) = delete;
    PageBuffer& operator=(const PageBuffer&) = delete;

    uint8_t* data() { return data_; }
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

private:
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace retort
