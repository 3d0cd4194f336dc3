// Process memory figures for reports: peak and current resident set size.
#pragma once

#include <cstdint>

namespace retort {

// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
uint64_t peak_rss_bytes();
// Resets the peak (VmHWM) to the current RSS, so a later peak excludes earlier spikes
// (e.g. a bandwidth probe). Returns false when the kernel does not allow it.
bool reset_peak_rss();
// Current resident set size in bytes (VmRSS), 0 if unknown.
uint64_t current_rss_bytes();
// Physical memory of the machine plus what the kernel says is available, in bytes.
uint64_t total_ram_bytes();
uint64_t available_ram_bytes();

}  // namespace retort
