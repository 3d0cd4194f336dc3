// MappedFile: a read-only mmap of a whole file. Weights stay in the page cache, never copied.
#pragma once

#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace retort {

// Drops the pages of [p, p + n) of a mapping from this process's resident set (whole pages inside
// the range only). Reading them again is still valid: they come back from the page cache.
void release_mapped_range(const uint8_t* p, size_t n);

class MappedFile {
public:
    static Result<std::unique_ptr<MappedFile>> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    MappedFile() = default;
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace retort
