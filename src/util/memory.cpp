#include "util/memory.h"

#include <cstdio>
#include <cstring>

namespace retort {

namespace {
// Reads "Key:   123 kB" from a /proc file; returns bytes or 0.
uint64_t read_kb_field(const char* path, const char* key) {
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) return 0;
    char line[256];
    uint64_t kb = 0;
    const size_t klen = std::strlen(key);
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, key, klen) == 0 && line[klen] == ':') {
            unsigned long long v = 0;
            if (std::sscanf(line + klen + 1, "%llu", &v) == 1) kb = v;
            break;
        }
    }
    std::fclose(f);
    return kb * 1024;
}
}  // namespace

uint64_t peak_rss_bytes() { return read_kb_field("/proc/self/status", "VmHWM"); }
bool reset_peak_rss() {
    FILE* f = std::fopen("/proc/self/clear_refs", "w");
    if (f == nullptr) return false;
    const bool ok = std::fputs("5", f) >= 0;
    return std::fclose(f) == 0 && ok;
}

uint64_t current_rss_bytes() { return read_kb_field("/proc/self/status", "VmRSS"); }
uint64_t total_ram_bytes() { return read_kb_field("/proc/meminfo", "MemTotal"); }
uint64_t available_ram_bytes() { return read_kb_field("/proc/meminfo", "MemAvailable"); }

}  // namespace retort
