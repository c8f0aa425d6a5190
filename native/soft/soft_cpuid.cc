// CPUID as the soft CPU answers it: a fixed table, the same on every host
// and every Unicorn build, so a snapshot restores onto the same CPU. It
// advertises only what QEMU 5.0's TCG (inside Unicorn 2.0.x) implements and
// what the addon can save and restore: no AVX, no XSAVE (Linux then uses
// FXSAVE), no x2APIC, no TSC-deadline timer, no PCID/INVPCID, no MONITOR,
// no RDRAND, no SMEP/SMAP. Family/model are those of QEMU's "qemu64"
// lineage on an Intel vendor string (so leaves 0x15/0x16 give the TSC rate).
// Unicorn 2.0.1's engine refuses (#UD) instructions its own CPU model lacks
// whatever CPUID says: POPCNT, MOVBE, PCLMULQDQ, RDRAND, XSAVE, FSGSBASE
// among them, so those are not advertised; the self-test checks that every
// advertised feature the engine gates is one it has (kGated below). MTRR,
// MCE and MCA are not advertised either: the engine's MTRR MSRs read as
// absent and it has no machine-check banks.
#include "soft_cpuid.h"

#include <cstring>

#include "soft_interpose.h"
#include "soft_x86.h"

namespace soft {

namespace {

void text(uint32_t* regs, const char* s) { std::memcpy(regs, s, 12); }

}  // namespace

void cpuidLeaf(uint32_t leaf, uint32_t subleaf, uint32_t apicId, uint32_t cpuCount, uint32_t out[4]) {
  uint32_t& eax = out[0];
  uint32_t& ebx = out[1];
  uint32_t& ecx = out[2];
  uint32_t& edx = out[3];
  eax = ebx = ecx = edx = 0;
  (void)subleaf;
  constexpr uint32_t MAX_BASIC = 0x16, MAX_EXT = 0x80000008, MAX_HV = 0x40000000;
  // Above the maximum basic leaf, Intel CPUs answer with the highest basic leaf.
  if (leaf > MAX_BASIC && leaf < 0x40000000) leaf = MAX_BASIC;
  if (leaf > MAX_HV && leaf < 0x80000000) return;
  if (leaf > MAX_EXT) leaf = MAX_BASIC;
  switch (leaf) {
    case 0: {
      eax = MAX_BASIC;
      char v[13] = "GenuineIntel";  // EBX, EDX, ECX order
      std::memcpy(&ebx, v, 4);
      std::memcpy(&edx, v + 4, 4);
      std::memcpy(&ecx, v + 8, 4);
      return;
    }
    case 1:
      // Family 6, model 6, stepping 3 (QEMU's "QEMU Virtual CPU" numbers).
      eax = 0x00000663;
      // CLFLUSH line 8 qwords; logical processors; initial APIC ID.
      ebx = (8u << 8) | ((cpuCount & 0xff) << 16) | ((apicId & 0xff) << 24);
      // SSE3, SSSE3, CX16, SSE4.1, SSE4.2, AES, hypervisor.
      ecx = (1u << 0) | (1u << 9) | (1u << 13) | (1u << 19) | (1u << 20) | (1u << 25) | (1u << 31);
      // FPU DE PSE TSC MSR PAE CX8 APIC SEP PGE CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2 (+HTT).
      edx = (1u << 0) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 9) |
            (1u << 11) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 17) | (1u << 19) | (1u << 23) | (1u << 24) |
            (1u << 25) | (1u << 26);
      if (cpuCount > 1) edx |= 1u << 28;
      return;
    case 6:
      eax = 1u << 2;  // ARAT: the LAPIC timer keeps host time whatever the vCPU does
      return;
    case 7:
      if (subleaf == 0) ebx = (1u << 3) | (1u << 8) | (1u << 9) | (1u << 19);  // BMI1 BMI2 ERMS ADX
      return;
    case 0x15:
      // TSC = crystal (ECX Hz) * EBX / EAX.
      eax = 1;
      ebx = 1;
      ecx = static_cast<uint32_t>(TSC_HZ);
      return;
    case 0x16:
      eax = static_cast<uint32_t>(TSC_HZ / 1000000);  // base MHz
      ebx = eax;                                      // max MHz
      ecx = 100;                                      // bus MHz
      return;
    case 0x40000000:
      eax = MAX_HV;
      text(&ebx, "bhyve bhyve ");  // FreeBSD bhyve's signature, EBX ECX EDX
      return;
    case 0x80000000:
      eax = MAX_EXT;
      return;
    case 0x80000001:
      ecx = (1u << 0) | (1u << 5);  // LAHF/SAHF in 64-bit mode, LZCNT (ABM)
      // SYSCALL, NX, 1 GiB pages, RDTSCP, long mode.
      edx = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
      return;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      static const char brand[49] = "bhyve-ts soft CPU (Unicorn 2.0 TCG)             ";
      std::memcpy(out, brand + 16 * (leaf - 0x80000002), 16);
      return;
    }
    case 0x80000008:
      eax = static_cast<uint32_t>(PHYS_BITS) | (48u << 8);
      return;
    default:
      return;
  }
}

const CpuidGate kGated[] = {
    {1, 0, 3, (1u << 8) | (1u << 15) | (1u << 19) | (1u << 24) | (1u << 25) | (1u << 26)},  // CX8 CMOV CLFSH FXSR SSE SSE2
    {1, 0, 2, (1u << 1) | (1u << 3) | (1u << 9) | (1u << 13) | (1u << 19) | (1u << 20) | (1u << 22) | (1u << 23) |
                  (1u << 25) | (1u << 26) | (1u << 30)},  // PCLMUL MONITOR SSSE3 CX16 SSE4.1/2 MOVBE POPCNT AES XSAVE RDRAND
    {7, 0, 1, (1u << 0) | (1u << 3) | (1u << 8) | (1u << 19) | (1u << 20) | (1u << 23) | (1u << 24)},  // FSGSBASE BMI1/2 ADX SMAP CLFLUSHOPT CLWB
    {0x80000001, 0, 3, (1u << 27) | (1u << 31)},  // RDTSCP 3DNow!
    {0x80000001, 0, 2, (1u << 0) | (1u << 5)},    // LAHF/SAHF in 64-bit mode, LZCNT
};
const size_t kGatedCount = sizeof kGated / sizeof kGated[0];

}  // namespace soft
