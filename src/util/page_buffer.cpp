#include "util/page_buffer.h"

#include <sys/mman.h>

namespace retort {

PageBuffer::PageBuffer(size_t size) {
    if (size == 0) return;
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    // Large buffers (the KV cache) are walked through end to end every token: 2 MiB pages take
    // the TLB misses of a 4 KiB-page walk off that path (in a VM each miss is a two-level page
    // walk). Only a hint: where transparent huge pages are off, nothing changes.
    if (size >= (size_t{2} << 20)) madvise(p, size, MADV_HUGEPAGE);
    data_ = static_cast<uint8_t*>(p);
    size_ = size;
}

PageBuffer::~PageBuffer() {
    if (data_ != nullptr) munmap(data_, size_);
}

PageBuffer& PageBuffer::operator=(PageBuffer&& o) noexcept {
    if (this != &o) {
        if (data_ != nullptr) munmap(data_, size_);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

}  // namespace retort
