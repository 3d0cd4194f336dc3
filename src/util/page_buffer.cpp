#include "util/page_buffer.h"

#include <sys/mman.h>

#include <cstdint>

namespace retort {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr int kProt = PROT_READ | PROT_WRITE, kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

// Maps `size` bytes starting on a 2 MiB boundary: transparent huge pages only back aligned 2 MiB
// ranges, so an unaligned start leaves up to 2 MiB at each end on 4 KiB pages. Maps the size
// plus the slack, then unmaps the slack on both sides.
void* map_huge_aligned(size_t size) {
    void* raw = mmap(nullptr, size + kHugePage, kProt, kFlags, -1, 0);
    if (raw == MAP_FAILED) return MAP_FAILED;
    const uintptr_t start = (uintptr_t)raw, aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const uintptr_t end = aligned + size, raw_end = start + size + kHugePage;
    if (raw_end > end) munmap((void*)end, raw_end - end);
    return (void*)aligned;
}
}  // namespace

PageBuffer::PageBuffer(size_t size) {
    if (size == 0) return;
    // Large buffers (the KV cache, the packed weights) are walked through end to end every token:
    // 2 MiB pages take the TLB misses of a 4 KiB-page walk off that path (in a VM each miss is a
    // two-level page walk). Only a hint: where transparent huge pages are off, nothing changes.
    const bool huge = size >= kHugePage;
    void* p = huge ? map_huge_aligned(size) : mmap(nullptr, size, kProt, kFlags, -1, 0);
    if (p == MAP_FAILED) return;
    if (huge) madvise(p, size, MADV_HUGEPAGE);
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
