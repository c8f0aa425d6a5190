#pragma once

#include <cstddef>
#include <cstdint>

namespace soft {

// EAX, EBX, ECX, EDX for CPUID(leaf, subleaf) on the vCPU with `apicId` of
// a machine with `cpuCount` vCPUs (see soft_cpuid.cc for what is advertised).
void cpuidLeaf(uint32_t leaf, uint32_t subleaf, uint32_t apicId, uint32_t cpuCount, uint32_t out[4]);

// Feature bits Unicorn's translator checks against its own CPU model (an
// instruction whose bit the model lacks raises #UD): register 0-3 = EAX,
// EBX, ECX, EDX of CPUID(leaf, subleaf).
struct CpuidGate {
  uint32_t leaf, subleaf;
  int reg;
  uint32_t mask;
};
extern const CpuidGate kGated[];
extern const size_t kGatedCount;

}  // namespace soft
