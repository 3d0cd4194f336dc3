// Picks the KernelTable for this CPU. Each SIMD table starts as a copy of ref_kernels() and the
// ISA's own files (avx2/, avx512/, built with their -m flags) override what they implement, so
// an entry an ISA lacks falls back to the scalar reference.

#include <cstring>

#include "kernels/kernel_table.h"

namespace retort {

// Defined in avx2/table.cpp and avx512/table.cpp. They may only run on a CPU with the features
// (the compiler is free to use the ISA anywhere in those files), so they are called after the
// feature checks below.
void add_avx2_kernels(KernelTable& table);
void add_avx512_kernels(KernelTable& table);

namespace {

// __builtin_cpu_supports also checks that the OS saves the YMM/ZMM state (XCR0).
bool cpu_runs_avx2() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("bmi2");
#else
    return false;
#endif
}

// Exactly the flags avx512/*.cpp are built with (CMakeLists.txt).
bool cpu_runs_avx512() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return cpu_runs_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

const KernelTable* make_table(bool supported, const char* isa, void (*add)(KernelTable&)) {
    if (!supported) return nullptr;
    auto* table = new KernelTable(ref_kernels());  // lives for the whole process, built once
    table->isa = isa;
    add(*table);
    return table;
}

}  // namespace

const KernelTable* avx2_kernels() {
    static const KernelTable* const table = make_table(cpu_runs_avx2(), "avx2", add_avx2_kernels);
    return table;
}

const KernelTable* avx512_kernels() {
    static const KernelTable* const table = make_table(cpu_runs_avx512(), "avx512", add_avx512_kernels);
    return table;
}

const KernelTable* select_kernels(const char* force) {
    if (force == nullptr || force[0] == '\0') {
        if (const KernelTable* t = avx512_kernels()) return t;
        if (const KernelTable* t = avx2_kernels()) return t;
        return &ref_kernels();
    }
    if (std::strcmp(force, "ref") == 0) return &ref_kernels();
    if (std::strcmp(force, "avx2") == 0) return avx2_kernels();
    if (std::strcmp(force, "avx512") == 0) return avx512_kernels();
    return nullptr;
}

}  // namespace retort
