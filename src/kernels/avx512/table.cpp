// The avx512 KernelTable entries: what this ISA overrides in its copy of ref_kernels().
// Called by dispatch.cpp only on a CPU with AVX-512 F/BW/VL/DQ/VNNI/BF16 (and AVX2).

#include "kernels/kernel_table.h"

namespace retort {

void add_avx512_kernels(KernelTable& t) { (void)t; }

}  // namespace retort
