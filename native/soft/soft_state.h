// A vCPU's state in and out of the engine, as byte layouts the TypeScript
// side decodes: struct kvm_regs and struct kvm_sregs (so the loader and
// src/kernel/VcpuRegisters.ts work unchanged), and one fixed "soft vCPU
// state" record holding everything a snapshot needs to resume exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "soft_machine.h"

namespace soft {

constexpr size_t KVM_REGS_SIZE = 144;
constexpr size_t KVM_SREGS_SIZE = 312;

// The snapshot record (little endian). Offsets are part of the format:
// src/kernel/soft/SoftState.ts decodes the same layout.
namespace rec {
constexpr uint32_t MAGIC = 0x31435653;  // "SVC1"
constexpr size_t MAGIC_OFF = 0, SIZE_OFF = 4;
constexpr size_t GPR = 8;          // 16 x u64, kvm_regs order (rax rbx rcx rdx rsi rdi rsp rbp r8..r15)
constexpr size_t RIP = 136, RFLAGS = 144;
constexpr size_t SEGS = 152;       // es cs ss ds fs gs ldt tr: {u64 base; u32 limit; u32 selector; u32 flags; u32 0}
constexpr size_t SEG_SIZE = 24;
constexpr size_t GDT_BASE = 344, GDT_LIMIT = 352, IDT_BASE = 360, IDT_LIMIT = 368;
constexpr size_t CR0 = 376, CR2 = 384, CR3 = 392, CR4 = 400, CR8 = 408, EFER = 416, APIC_BASE = 424;
constexpr size_t DR = 432;         // 8 x u64
constexpr size_t FCW = 496, FSW = 498, FTW = 500, FOP = 502, FIP = 504, FDP = 512, FCS = 520, FDS = 522;
constexpr size_t MXCSR = 524;
constexpr size_t ST = 528;         // 8 x 16 bytes (80-bit values, ST(0)..ST(7))
constexpr size_t XMM = 656;        // 16 x 16 bytes
constexpr size_t MSRS = 912;       // u64 each, in MSR_LIST order
constexpr size_t RUN_STATE = 1008, EVENT_FLAGS = 1012;
constexpr size_t SIZE = 1016;
// MSRs in the record, in order.
constexpr uint32_t MSR_LIST[12] = {0x10,       0x174,      0x175,      0x176,      0xc0000081, 0xc0000082,
                                   0xc0000083, 0xc0000084, 0xc0000102, 0xc0000103, 0x277,      0x1a0};
constexpr uint32_t EVENT_NMI_BLOCKED = 1, EVENT_SHADOW = 2, EVENT_NMI_PENDING = 4;
}  // namespace rec

void getRegs(Vcpu& v, uint8_t* out);
void setRegs(Vcpu& v, const uint8_t* in);
void getSregs(Vcpu& v, uint8_t* out);
// False with `why` when the values are impossible (the engine is untouched).
bool setSregs(Vcpu& v, const uint8_t* in, std::string* why);

void saveState(Vcpu& v, uint8_t* out);
bool restoreState(Vcpu& v, const uint8_t* in, size_t size, std::string* why);

}  // namespace soft
