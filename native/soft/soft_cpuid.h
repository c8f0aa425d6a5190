#pragma once

#include <cstdint>

namespace soft {

// EAX, EBX, ECX, EDX for CPUID(leaf, subleaf) on the vCPU with `apicId` of
// a machine with `cpuCount` vCPUs (see soft_cpuid.cc for what is advertised).
void cpuidLeaf(uint32_t leaf, uint32_t subleaf, uint32_t apicId, uint32_t cpuCount, uint32_t out[4]);

}  // namespace soft
