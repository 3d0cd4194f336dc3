#include "util/page_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

namespace retort {

PageBuffer::PageBuffer(size_t size, Backing backing) {
    if (size == 0) return;
    void* p = MAP_FAILED;
    if (backing == Backing::kShared) {
        const int fd = memfd_create("retort", MFD_CLOEXEC);
        if (fd >= 0) {
            if (ftruncate(fd, (off_t)size) == 0) p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            close(fd);  // the mapping keeps the memory alive
        }
    } else {
        p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        // Large buffers (the KV cache) are walked through end to end every token: 2 MiB pages take
        // the TLB misses of a 4 KiB-page walk off that path (in a VM each miss is a two-level page
        // walk). Only a hint: where transparent huge pages are off, nothing changes.
        if (p != MAP_FAILED && size >= (size_t{2} << 20)) madvise(p, size, MADV_HUGEPAGE);
    }
    if (p == MAP_FAILED) return;
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
