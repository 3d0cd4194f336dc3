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
    // Anonymous: private anonymous memory (2 MiB pages asked for when large). Shared: pages of a
    // memfd, i.e. shared memory. The packed weights use Shared: on the VMs we measure on, a
    // token streams the same bytes about 1.3x faster from shared (or page-cache) pages than
    // from anonymous ones, with or without huge pages (docs/bench.md).
    enum class Backing { kAnonymous, kShared };
    // Returns an empty buffer (data() == nullptr) when the mapping fails.
    explicit PageBuffer(size_t size, Backing backing = Backing::kAnonymous);
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
