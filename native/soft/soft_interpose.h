// Functions of libunicorn.so.2 (2.0.x) replaced by definitions in this addon.
//
// libunicorn calls its internal functions through the PLT and its TCG
// helpers through the GOT (helper table relocations), so a definition with
// the same name in an object the dynamic linker searches first wins. This
// addon is that object: node dlopen()s it, and libunicorn, its dependency,
// comes after it in the local lookup scope. Every replacement checks that it
// is active (Unicorn 2.0.x, layout checked) and that the engine is one this
// addon is running; otherwise it calls the library's own function (found
// with dlsym on libunicorn's handle), so the library behaves as shipped.
// Each replacement counts its calls, and the addon reports which ones were
// seen bound (a replacement that is never called was not bound).
#pragma once

#include <atomic>
#include <cstdint>

#include <unicorn/unicorn.h>

namespace soft {

// What the replaced functions ask of the vCPU whose engine is running on
// this thread (see t_running below).
class InterposeTarget {
 public:
  virtual ~InterposeTarget() = default;
  // The engine's CPUX86State, as captured (soft_env.h).
  virtual uint8_t* envPtr() const = 0;
  // hlt executed: the engine is about to stop with RIP after the hlt.
  virtual void onHlt() = 0;
  // pause executed (spin-wait hint): may end this vCPU's quantum.
  virtual void onPause() = 0;
  // rdmsr/wrmsr: Handled (a read's value in *value), PassToUnicorn (QEMU's
  // helper implements it), or GeneralProtection (no one does: #GP(0)).
  enum MsrResult { Handled, PassToUnicorn, GeneralProtection };
  virtual MsrResult readMsr(uint32_t index, uint64_t* value) = 0;
  virtual MsrResult writeMsr(uint32_t index, uint64_t value) = 0;
  // The guest-physical address a guest-linear page maps to, by walking the
  // guest's page tables (Unicorn 2.0.1 identity-maps instead; see
  // soft_x86.h). False when the walk fails (QEMU's own walk just succeeded,
  // so this means the tables changed under us: keep Unicorn's address).
  virtual bool translatePage(uint64_t linear, uint64_t* physical) = 0;
  // A region every guest access may be attributed to when the accessed
  // linear address is not itself a mapped physical address (see
  // memory_mapping in soft_interpose.cc); nullptr to keep Unicorn's answer.
  virtual void* catchAllRegion() const = 0;
  // syscall / sysenter: Unicorn 2.0.1 replaces both with a call to its
  // UC_HOOK_INSN hooks and a jump past the instruction, without their
  // architectural effect. The target does what the SDM says; -1 when done,
  // else an exception vector to raise with error code 0 (#UD, #GP).
  virtual int syscallInsn(int nextEipAddend) = 0;
  virtual int sysenterInsn(int nextEipAddend) = 0;
  // The engine's CPUState, seen on its first TLB fill (for tlb_flush).
  virtual void noteCpuState(void* cpu) = 0;
  // Translated code: the engine now has (or no longer has) code on the
  // page at RAM address `ramAddr`; a guest store of `len` bytes at
  // `ramAddr` is about to be checked against the engine's own code. Each
  // engine keeps its own translations and sees only its own stores, so the
  // machine tells the other engines (see Machine::CodeMap).
  virtual void onCodePage(uint64_t ramAddr, bool hasCode) = 0;
  virtual void beforeStore(uint64_t ramAddr, int len) = 0;
  // A writable TLB entry was just made for `vaddr` -> guest-physical
  // `physical`; true when stores to it may skip the code check (the page is
  // RAM with no translated code in any engine).
  virtual bool storesMayBeFast(uint64_t physical) = 0;
  virtual uc_engine* engine() const = 0;
  // The machine clock in nanoseconds, the base of every vCPU's TSC (rdtsc
  // adds the vCPU's tsc_offset): it stops while the machine is paused.
  virtual uint64_t clockNs() const = 0;
};

// The vCPU whose engine runs guest code on this thread, or nullptr.
extern thread_local InterposeTarget* t_running;
// While set, the next helper_hlt call records its state pointer here
// (engine creation: a one-instruction hlt on a scratch page).
extern thread_local uint8_t* t_capturedEnv;
extern thread_local bool t_capturing;
// Set around uc_mmio_map: the region it makes takes 8-byte accesses whole
// (see memory_region_init_io in soft_interpose.cc).
extern thread_local bool t_mappingMmio;
// The vCPU whose engine the addon is invalidating code in (from another
// engine's store or a host write): tlb_unprotect_code calls are its.
extern thread_local InterposeTarget* t_invalidating;

struct InterposeCounts {
  std::atomic<uint64_t> pageCollectionLock{0}, hlt{0}, pause{0}, getTsc{0}, rdmsr{0}, wrmsr{0},
      memoryMapping{0}, tlbSetPage{0}, syscall{0}, sysenter{0}, mmioWide{0}, codePages{0}, crossInvalidations{0},
      fastStorePages{0}, exitChecksDropped{0};
};
extern InterposeCounts g_counts;

// Resolves libunicorn's own definitions and decides whether the
// replacements act (only on Unicorn 2.0.x). Idempotent; returns false with
// `why` filled when a definition the addon relies on is missing.
bool interposeInit(const char** why);
bool interposeActive();
// Whether Unicorn's identity "paging" is corrected (memory_mapping and
// tlb_set_page_with_attrs both bound); set by the self-check.
bool pagingFixActive();
void setPagingFixActive(bool on);

// Guest TSC: the machine clock's nanoseconds (Machine::clockNs) times
// TSC_HZ / 1e9, plus the vCPU's CPUX86State tsc_offset. An engine that is
// no machine's (the self-test's) counts CLOCK_MONOTONIC since the addon loaded.
constexpr uint64_t TSC_HZ = 1000000000ull;
uint64_t hostTsc();
// CLOCK_MONOTONIC in nanoseconds, as Node's process.hrtime reads it.
int64_t monotonicNs();

// Flushes an engine's TLB and jump cache (QEMU's tlb_flush) given its
// CPUState; false when Unicorn's function is missing.
bool flushTlb(void* cpuState);

// Stores through `vaddr`'s TLB entries skip the slow path (QEMU's tlb_set_dirty).
void tlbSetDirty(void* cpuState, uint64_t vaddr);
// Every TLB entry of the engine mapping host bytes [host, host + len) for
// writing takes the slow path again (QEMU's tlb_reset_dirty).
void tlbResetDirty(void* cpuState, void* host, uint64_t len);
// The fast store path is in use (Unicorn 2.0.x, bound, not disabled).
bool fastStoresActive();
void setFastStores(bool on);

// Invalidates the translated code of `uc` in RAM addresses [start, end)
// (QEMU's tb_invalidate_phys_range); false when Unicorn lacks it.
bool invalidateRange(uc_engine* uc, uint64_t start, uint64_t end);
// The engine's RAM address of host memory it maps (qemu_ram_addr_from_host), or UINT64_MAX.
uint64_t ramAddrOf(uc_engine* uc, void* host);

}  // namespace soft
