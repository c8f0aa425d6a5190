// x86 mechanics Unicorn 2.0.1 leaves to its user (SDM vol. 3): paging walks
// done outside the engine, segment descriptor loads, and the delivery of
// interrupts and exceptions through the guest's IDT (chapter 6), with the
// double-fault and triple-fault rules. Everything runs on the thread that
// runs the engine, with the engine stopped or inside one of its hooks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <unicorn/unicorn.h>

#include "soft_env.h"

namespace soft {

// Guest RAM as host memory: the same mappings every engine of the machine
// maps with uc_mem_map_ptr.
struct GuestRam {
  struct Region {
    uint64_t gpa;
    uint64_t size;
    uint8_t* host;
  };
  std::vector<Region> regions;
  // Host address of [gpa, gpa+len), or nullptr when not wholly inside one region.
  uint8_t* at(uint64_t gpa, uint64_t len) const {
    for (const Region& r : regions) {
      if (gpa >= r.gpa && len <= r.size && gpa - r.gpa <= r.size - len) return r.host + (gpa - r.gpa);
    }
    return nullptr;
  }
};

// MAXPHYADDR: what CPUID 0x80000008 reports, and what QEMU 5.0's TCG uses
// for reserved-bit checks in page tables (TCG_PHYS_ADDR_BITS).
constexpr int PHYS_BITS = 40;

// RFLAGS bits.
constexpr uint64_t RF_CF = 1, RF_TF = 1u << 8, RF_IF = 1u << 9, RF_DF = 1u << 10, RF_IOPL = 3u << 12,
                   RF_NT = 1u << 14, RF_RF = 1u << 16, RF_VM = 1u << 17, RF_AC = 1u << 18;

enum class Access { Read = 0, Write = 1, Fetch = 2 };

// A fault raised by the addon's own access to guest memory or descriptors.
struct Fault {
  int vector = -1;  // -1: none
  uint32_t error = 0;
  bool hasError = false;
  uint64_t cr2 = 0;  // for #PF
  std::string unsupported;  // not a fault: something the addon cannot do (then vector -1)
  bool raised() const { return vector >= 0; }
};

struct Translation {
  bool ok = false;
  uint64_t physical = 0;
  uint64_t pageSize = 4096;
  Fault fault;  // when !ok: #PF with error code, #GP(0) for a non-canonical address, or unsupported
};

// One vCPU's view: its engine, its state, guest RAM.
struct Cpu {
  uc_engine* uc;
  Env env;
  const GuestRam* ram;

  uint64_t rflags() const;
  void setRflags(uint64_t value) const;

  // Walks the guest's page tables for `linear` (SDM vol. 3 ch. 4: 32-bit,
  // PAE, 4-level and 5-level paging). `user`: an access made with CPL 3
  // (implicit supervisor accesses, such as descriptor-table and TSS reads
  // and the frames of an event delivery, pass false). With `setAccessed`,
  // A is set in every entry used and D in the final one of a write, as the
  // processor does.
  Translation translate(uint64_t linear, Access access, bool user, bool setAccessed) const;

  // Supervisor reads/writes of guest-linear memory; on failure `fault` says why.
  bool readLinear(uint64_t linear, void* out, size_t size, Fault* fault) const;
  bool writeLinear(uint64_t linear, const void* in, size_t size, Fault* fault) const;
};

enum class EventKind {
  External,           // INTR from the interrupt controllers (IF-gated)
  Nmi,
  Exception,          // fault, trap or abort raised by an instruction or by delivery
  SoftwareInterrupt,  // int n: gate DPL checked against CPL, no error code
  SoftwareException,  // int3, into: as int n (DPL checked)
  PrivilegedSoftware  // int1 (icebp): like a hardware event, DPL not checked
};

struct Event {
  int vector = 0;
  EventKind kind = EventKind::Exception;
  bool hasError = false;
  uint32_t error = 0;
  uint64_t cr2 = 0;  // for #PF: written to CR2 just before delivery
  // int n / int3 / into: RIP is past the instruction; a fault while
  // delivering the interrupt is reported at the instruction itself.
  bool hasRestart = false;
  uint64_t restartRip = 0;
};

enum class DeliverResult { Delivered, TripleFault, Unsupported };

// Delivers `event` with RIP already at the return address (faulting
// instruction for faults, next instruction for traps and int n), through the
// IDT as the current mode says: real-mode IVT, 32-bit protected mode gates
// (8 bytes; interrupt/trap, 16- or 32-bit), IA-32e gates (16 bytes, IST).
// Faults during delivery become the next event, escalating to #DF and then
// to a triple fault per SDM table 6-5. `why` explains Unsupported (a task
// gate, a descriptor table outside RAM).
DeliverResult deliverEvent(const Cpu& cpu, Event event, std::string* why);

// Which exceptions push an error code (SDM table 6-1).
bool exceptionHasErrorCode(int vector);

}  // namespace soft
