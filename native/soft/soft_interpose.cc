// Replacements for functions inside libunicorn.so.2 (see soft_interpose.h
// for how they get bound and when they act). Signatures are QEMU 5.0's, as
// Unicorn 2.0.x builds them (target x86_64, symbol suffix _x86_64).
//
// Unicorn is GPL-2 (its QEMU part); this addon links it dynamically and is
// only built where the system provides it (binding.gyp).
#include "soft_interpose.h"

#include <dlfcn.h>
#include <time.h>

#include <cstddef>
#include <cstring>

namespace soft {

struct MemTxAttrs {
  unsigned int bits;  // QEMU's bitfield struct, 32 bits, passed by value
};

thread_local InterposeTarget* t_running = nullptr;
thread_local uint8_t* t_capturedEnv = nullptr;
thread_local bool t_capturing = false;
thread_local bool t_mappingMmio = false;
thread_local InterposeTarget* t_invalidating = nullptr;
InterposeCounts g_counts;

namespace {


using PageCollectionLockFn = void* (*)(void*, uint64_t, uint64_t);
using PageCollectionUnlockFn = void (*)(void*);
using HltFn = void (*)(void*, int);
using PauseFn = void (*)(void*, int);
using GetTscFn = uint64_t (*)(void*);
using MsrFn = void (*)(void*);
using MemoryMappingFn = void* (*)(void*, uint64_t);
using TlbSetPageFn = void (*)(void*, uint64_t, uint64_t, MemTxAttrs, int, int, uint64_t);
using RaiseErrRaFn = void (*)(void*, int, int, uintptr_t);
using SyscallFn = void (*)(void*, int);
using TlbFlushFn = void (*)(void*);
using InitIoFn = void (*)(void*, void*, const void*, void*, uint64_t);
using CodePageFn = void (*)(void*, uint64_t);
using PageFastFn = void (*)(void*, void*, uint64_t, int, uintptr_t);
using RangeFn = void (*)(void*, uint64_t, uint64_t);
using RamAddrFn = uint64_t (*)(void*, void*);
using SetDirtyFn = void (*)(void*, uint64_t);
using CheckExitFn = void (*)(void*);
using ResetDirtyFn = void (*)(void*, uintptr_t, uintptr_t);

struct Real {
  PageCollectionLockFn pageCollectionLock = nullptr;
  PageCollectionUnlockFn pageCollectionUnlock = nullptr;
  HltFn hlt = nullptr;
  PauseFn pause = nullptr;
  GetTscFn getTsc = nullptr;
  MsrFn rdmsr = nullptr;
  MsrFn wrmsr = nullptr;
  MemoryMappingFn memoryMapping = nullptr;
  TlbSetPageFn tlbSetPage = nullptr;
  RaiseErrRaFn raiseErrRa = nullptr;
  SyscallFn syscall = nullptr;
  SyscallFn sysenter = nullptr;
  TlbFlushFn tlbFlush = nullptr;
  InitIoFn initIo = nullptr;
  CodePageFn protectCode = nullptr;
  CodePageFn unprotectCode = nullptr;
  PageFastFn pageFast = nullptr;
  RangeFn invalidateRange = nullptr;
  RamAddrFn ramAddrFromHost = nullptr;
  SetDirtyFn setDirty = nullptr;
  ResetDirtyFn resetDirty = nullptr;
  CheckExitFn checkExit = nullptr;
};

Real g_real;
bool g_inited = false;
bool g_active = false;
bool g_pagingFix = false;
bool g_fastStores = false;
const char* g_why = nullptr;
timespec g_t0{};

template <typename F>
F resolve(void* lib, const char* name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}

// The state pointer a replacement was called with belongs to the engine this
// thread is running for the machine, and the replacements are active.
inline InterposeTarget* ours(void* env) {
  InterposeTarget* t = t_running;
  return (g_active && t != nullptr && t->envPtr() == env) ? t : nullptr;
}

constexpr int R_EAX = 0, R_ECX = 1, R_EDX = 2;
inline uint64_t& envReg(void* env, int i) { return reinterpret_cast<uint64_t*>(env)[i]; }

}  // namespace

bool interposeInit(const char** why) {
  if (g_inited) {
    if (why != nullptr) *why = g_why;
    return g_why == nullptr;
  }
  g_inited = true;
  clock_gettime(CLOCK_MONOTONIC, &g_t0);
  // RTLD_NOLOAD: the library is already loaded as this addon's dependency.
  void* lib = dlopen("libunicorn.so.2", RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) lib = dlopen("libunicorn.so", RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) {
    g_why = "libunicorn is not loaded (dlopen RTLD_NOLOAD failed)";
    if (why != nullptr) *why = g_why;
    return false;
  }
  g_real.pageCollectionLock = resolve<PageCollectionLockFn>(lib, "page_collection_lock_x86_64");
  g_real.pageCollectionUnlock = resolve<PageCollectionUnlockFn>(lib, "page_collection_unlock_x86_64");
  g_real.hlt = resolve<HltFn>(lib, "helper_hlt_x86_64");
  g_real.pause = resolve<PauseFn>(lib, "helper_pause_x86_64");
  g_real.getTsc = resolve<GetTscFn>(lib, "cpu_get_tsc_x86_64");
  g_real.rdmsr = resolve<MsrFn>(lib, "helper_rdmsr_x86_64");
  g_real.wrmsr = resolve<MsrFn>(lib, "helper_wrmsr_x86_64");
  g_real.memoryMapping = resolve<MemoryMappingFn>(lib, "memory_mapping");
  g_real.tlbSetPage = resolve<TlbSetPageFn>(lib, "tlb_set_page_with_attrs_x86_64");
  g_real.raiseErrRa = resolve<RaiseErrRaFn>(lib, "raise_exception_err_ra_x86_64");
  g_real.syscall = resolve<SyscallFn>(lib, "helper_syscall_x86_64");
  g_real.sysenter = resolve<SyscallFn>(lib, "helper_sysenter_x86_64");
  g_real.tlbFlush = resolve<TlbFlushFn>(lib, "tlb_flush_x86_64");
  g_real.initIo = resolve<InitIoFn>(lib, "memory_region_init_io_x86_64");
  g_real.protectCode = resolve<CodePageFn>(lib, "tlb_protect_code_x86_64");
  g_real.unprotectCode = resolve<CodePageFn>(lib, "tlb_unprotect_code_x86_64");
  g_real.pageFast = resolve<PageFastFn>(lib, "tb_invalidate_phys_page_fast_x86_64");
  g_real.invalidateRange = resolve<RangeFn>(lib, "tb_invalidate_phys_range_x86_64");
  g_real.ramAddrFromHost = resolve<RamAddrFn>(lib, "qemu_ram_addr_from_host_x86_64");
  g_real.setDirty = resolve<SetDirtyFn>(lib, "tlb_set_dirty_x86_64");
  g_real.resetDirty = resolve<ResetDirtyFn>(lib, "tlb_reset_dirty_x86_64");
  g_real.checkExit = resolve<CheckExitFn>(lib, "check_exit_request_x86_64");
  unsigned major = 0, minor = 0;
  uc_version(&major, &minor);
  // Everything here mirrors 2.0.x's internals; elsewhere the library's own
  // functions run (a later Unicorn fixed what most of these work around).
  g_active = major == 2 && minor == 0;
  if (!g_active) {
    g_why = "the soft CPU needs Unicorn 2.0.x (its CPU state layout and helpers are checked against 2.0.1)";
  } else if (g_real.hlt == nullptr || g_real.getTsc == nullptr || g_real.rdmsr == nullptr ||
             g_real.wrmsr == nullptr || g_real.pause == nullptr || g_real.raiseErrRa == nullptr ||
             g_real.syscall == nullptr || g_real.sysenter == nullptr || g_real.tlbFlush == nullptr ||
             g_real.initIo == nullptr || g_real.protectCode == nullptr || g_real.unprotectCode == nullptr ||
             g_real.pageFast == nullptr || g_real.invalidateRange == nullptr || g_real.ramAddrFromHost == nullptr ||
             g_real.checkExit == nullptr) {
    g_why = "libunicorn lacks one of helper_hlt/pause/rdmsr/wrmsr/syscall/sysenter, cpu_get_tsc, "
            "raise_exception_err_ra, tlb_flush, memory_region_init_io, tlb_(un)protect_code, "
            "tb_invalidate_phys_page_fast/range, qemu_ram_addr_from_host, check_exit_request";
    g_active = false;
  }
  if (why != nullptr) *why = g_why;
  return g_why == nullptr;
}

bool interposeActive() { return g_active; }
bool pagingFixActive() { return g_pagingFix; }
void setPagingFixActive(bool on) { g_pagingFix = on && g_active && g_real.memoryMapping && g_real.tlbSetPage; }

bool flushTlb(void* cpuState) {
  if (cpuState == nullptr || g_real.tlbFlush == nullptr) return false;
  g_real.tlbFlush(cpuState);
  return true;
}

bool fastStoresActive() { return g_fastStores; }
void setFastStores(bool on) { g_fastStores = on && g_active && g_real.setDirty != nullptr && g_real.resetDirty != nullptr; }

void tlbSetDirty(void* cpuState, uint64_t vaddr) {
  if (cpuState != nullptr && g_real.setDirty != nullptr) g_real.setDirty(cpuState, vaddr);
}

void tlbResetDirty(void* cpuState, void* host, uint64_t len) {
  if (cpuState != nullptr && g_real.resetDirty != nullptr)
    g_real.resetDirty(cpuState, reinterpret_cast<uintptr_t>(host), static_cast<uintptr_t>(len));
}

bool invalidateRange(uc_engine* uc, uint64_t start, uint64_t end) {
  if (g_real.invalidateRange == nullptr) return false;
  g_real.invalidateRange(uc, start, end);
  return true;
}

uint64_t ramAddrOf(uc_engine* uc, void* host) {
  return g_real.ramAddrFromHost == nullptr ? UINT64_MAX : g_real.ramAddrFromHost(uc, host);
}

int64_t monotonicNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000ll + static_cast<int64_t>(t.tv_nsec);
}

uint64_t hostTsc() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  uint64_t ns = static_cast<uint64_t>(t.tv_sec - g_t0.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec) -
                static_cast<uint64_t>(g_t0.tv_nsec);
  static_assert(TSC_HZ == 1000000000ull, "TSC ticks are nanoseconds; scale here if TSC_HZ changes");
  return ns;
}

}  // namespace soft

using soft::g_counts;
using soft::g_real;

extern "C" {

// Unicorn 2.0.1 builds and frees a GTree on every store to a page it
// believes clean (notdirty_write -> page_collection_lock); it takes no page
// locks, so the collection is dead weight (upstream dropped it after 2.0.1,
// unicorn-engine/unicorn#1838). Returning NULL is that change: the precise
// self-modifying-code path only hands the pointer back to unlock.
__attribute__((visibility("default"))) void* page_collection_lock_x86_64(void* uc, uint64_t start, uint64_t end) {
  if (soft::g_active) {
    g_counts.pageCollectionLock.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return g_real.pageCollectionLock ? g_real.pageCollectionLock(uc, start, end) : nullptr;
}

__attribute__((visibility("default"))) void page_collection_unlock_x86_64(void* set) {
  if (soft::g_active) return;
  if (g_real.pageCollectionUnlock) g_real.pageCollectionUnlock(set);
}

// hlt: tells the vCPU (exact halt detection; Unicorn reports a hlt only as
// uc_emu_start returning UC_ERR_OK), and captures a new engine's state
// pointer (soft_env.cc runs a lone hlt for that).
__attribute__((visibility("default"))) void helper_hlt_x86_64(void* env, int next_eip_addend) {
  g_counts.hlt.fetch_add(1, std::memory_order_relaxed);
  if (soft::t_capturing) {
    soft::t_capturedEnv = static_cast<uint8_t*>(env);
    soft::t_capturing = false;
  }
  if (soft::InterposeTarget* t = soft::ours(env)) t->onHlt();
  g_real.hlt(env, next_eip_addend);
}

// pause: a spin-wait hint; lets the machine give the other vCPUs their turn
// (like pause-loop exiting) instead of spinning out the quantum.
__attribute__((visibility("default"))) void helper_pause_x86_64(void* env, int next_eip_addend) {
  g_counts.pause.fetch_add(1, std::memory_order_relaxed);
  if (soft::InterposeTarget* t = soft::ours(env)) t->onPause();
  g_real.pause(env, next_eip_addend);
}

// TSC: the machine clock (host CLOCK_MONOTONIC less the machine's offset,
// stopped while paused) at a fixed rate (soft::TSC_HZ) rather than the
// host's own TSC (Unicorn's cpu_get_ticks): the ACPI PM timer and the
// device timers read the same clock, a pause stops it, and a snapshot
// restored on another host continues at the same rate. rdtsc adds the
// vCPU's offset.
__attribute__((visibility("default"))) uint64_t cpu_get_tsc_x86_64(void* env) {
  if (soft::g_active) {
    g_counts.getTsc.fetch_add(1, std::memory_order_relaxed);
    soft::InterposeTarget* t = soft::ours(env);
    return t != nullptr ? t->clockNs() : soft::hostTsc();
  }
  return g_real.getTsc(env);
}

// rdmsr/wrmsr: the vCPU emulates the MSRs QEMU 5.0's TCG gets wrong for a
// hypervisor (IA32_TSC reads 0 and ignores writes; APIC_BASE reads 0) and
// raises #GP(0) for MSRs nothing implements, as hardware does (QEMU 5.0
// returns 0 and drops the write). The #GP is raised with this call's return
// address, which lies in the translated block, so QEMU restores RIP to the
// rdmsr/wrmsr itself. Nothing with a destructor may live in these frames:
// raising longjmps out of them.
__attribute__((visibility("default"))) void helper_rdmsr_x86_64(void* env) {
  g_counts.rdmsr.fetch_add(1, std::memory_order_relaxed);
  soft::InterposeTarget* t = soft::ours(env);
  if (t != nullptr) {
    uint32_t index = static_cast<uint32_t>(soft::envReg(env, soft::R_ECX));
    uint64_t value = 0;
    switch (t->readMsr(index, &value)) {
      case soft::InterposeTarget::Handled:
        soft::envReg(env, soft::R_EAX) = static_cast<uint32_t>(value);
        soft::envReg(env, soft::R_EDX) = static_cast<uint32_t>(value >> 32);
        return;
      case soft::InterposeTarget::GeneralProtection:
        g_real.raiseErrRa(env, 13, 0, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
        return;  // not reached: raising longjmps
      case soft::InterposeTarget::PassToUnicorn:
        break;
    }
  }
  g_real.rdmsr(env);
}

__attribute__((visibility("default"))) void helper_wrmsr_x86_64(void* env) {
  g_counts.wrmsr.fetch_add(1, std::memory_order_relaxed);
  soft::InterposeTarget* t = soft::ours(env);
  if (t != nullptr) {
    uint32_t index = static_cast<uint32_t>(soft::envReg(env, soft::R_ECX));
    uint64_t value = (soft::envReg(env, soft::R_EDX) << 32) | static_cast<uint32_t>(soft::envReg(env, soft::R_EAX));
    switch (t->writeMsr(index, value)) {
      case soft::InterposeTarget::Handled:
        return;
      case soft::InterposeTarget::GeneralProtection:
        g_real.raiseErrRa(env, 13, 0, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
        return;  // not reached
      case soft::InterposeTarget::PassToUnicorn:
        break;
    }
  }
  g_real.wrmsr(env);
}

// Unicorn 2.0.1 checks every slow-path guest access against its list of
// mapped regions using the *linear* address, before translating it, and
// stops the engine (UC_ERR_*_UNMAPPED, RIP not restored) when the linear
// address is not itself mapped: any kernel whose virtual addresses differ
// from physical ones (a higher-half kernel) cannot run, and a #PF on such an
// address is never raised. While one of this addon's engines runs, an
// address that is not mapped is attributed to a catch-all RAM region, so the
// access goes on to QEMU's own page walk: a #PF or non-canonical #GP is
// raised precisely (RIP restored), a mapped page reaches
// tlb_set_page_with_attrs below.
__attribute__((visibility("default"))) void* memory_mapping(void* uc, uint64_t address) {
  void* mr = g_real.memoryMapping(uc, address);
  if (mr != nullptr || !soft::g_pagingFix) return mr;
  soft::InterposeTarget* t = soft::t_running;
  if (t == nullptr || static_cast<void*>(t->engine()) != uc) return mr;
  g_counts.memoryMapping.fetch_add(1, std::memory_order_relaxed);
  return t->catchAllRegion();
}

// Unicorn 2.0.1 walks the guest's page tables (permissions, A/D bits,
// faults) and then throws the result away, mapping each linear page to the
// physical page of the same number ("indentity map guest virtual address to
// host virtual address", target/i386/excp_helper.c; fixed upstream in 2.1).
// With paging on, the physical page is recomputed here by the addon's own
// walk (soft_x86.cc) before the TLB entry is made.
__attribute__((visibility("default"))) void tlb_set_page_with_attrs_x86_64(void* cpu, uint64_t vaddr, uint64_t paddr,
                                                                           soft::MemTxAttrs attrs, int prot, int mmu_idx,
                                                                           uint64_t size) {
  soft::InterposeTarget* t = soft::t_running;
  if (t != nullptr) t->noteCpuState(cpu);
  if (soft::g_pagingFix) {
    // A new engine runs one hlt before its state pointer is known (paging is off then anyway).
    if (t != nullptr && t->envPtr() != nullptr) {
      g_counts.tlbSetPage.fetch_add(1, std::memory_order_relaxed);
      uint64_t physical = 0;
      if (t->translatePage(vaddr, &physical)) paddr = physical & ~0xfffull;
    }
  }
  g_real.tlbSetPage(cpu, vaddr, paddr, attrs, prot, mmu_idx, size);
  // Unicorn 2.0.1 keeps no dirty bitmap, so it marks every writable RAM
  // entry "not dirty" and every store takes the slow path to be checked
  // against translated code. Where no engine holds code on the page, the
  // check cannot find any: the entry is marked dirty (the fast path). When
  // code appears on a page later, tlb_protect_code below re-arms the check
  // in every engine before that code can run.
  if (soft::g_fastStores && t != nullptr && t->envPtr() != nullptr && (prot & 2 /* PAGE_WRITE */) &&
      t->storesMayBeFast(paddr)) {
    g_counts.fastStorePages.fetch_add(1, std::memory_order_relaxed);
    g_real.setDirty(cpu, vaddr);
  }
}

// QEMU 5.0's MemoryRegionOps (include/exec/memory.h), nested as there:
// the nesting decides the padding.
struct MemoryRegionOpsHead {
  void* read;
  void* write;
  void* readWithAttrs;
  void* writeWithAttrs;
  int endianness;
  struct {
    unsigned minAccessSize;
    unsigned maxAccessSize;
    bool unaligned;
    void* accepts;
  } valid;
  struct {
    unsigned minAccessSize;
    unsigned maxAccessSize;
    bool unaligned;
  } impl;
};
static_assert(offsetof(MemoryRegionOpsHead, valid) == 40 && offsetof(MemoryRegionOpsHead, valid.accepts) == 56 &&
                  offsetof(MemoryRegionOpsHead, impl) == 64 && sizeof(MemoryRegionOpsHead) == 80,
              "MemoryRegionOps layout on x86-64");

// uc_mmio_map leaves its region's access sizes at 0, which QEMU reads as
// "at most 4 bytes": an 8-byte guest access would reach the addon as two
// 4-byte ones. For the regions the addon maps (t_mappingMmio), and only if
// the ops look exactly as Unicorn 2.0.1's memory_map_io leaves them (read
// and write set, nothing else), 8 bytes become the limit, as on KVM, where
// an 8-byte access is one exit.
__attribute__((visibility("default"))) void memory_region_init_io_x86_64(void* uc, void* mr, const void* ops, void* opaque,
                                                                         uint64_t size) {
  if (soft::g_active && soft::t_mappingMmio && ops != nullptr) {
    auto* o = static_cast<MemoryRegionOpsHead*>(const_cast<void*>(ops));
    if (o->read != nullptr && o->write != nullptr && o->readWithAttrs == nullptr && o->writeWithAttrs == nullptr &&
        o->endianness == 0 && o->valid.minAccessSize == 0 && o->valid.maxAccessSize == 0 && !o->valid.unaligned &&
        o->valid.accepts == nullptr && o->impl.minAccessSize == 0 && o->impl.maxAccessSize == 0 && !o->impl.unaligned) {
      o->valid.maxAccessSize = 8;
      o->impl.maxAccessSize = 8;
      g_counts.mmioWide.fetch_add(1, std::memory_order_relaxed);
    }
  }
  g_real.initIo(uc, mr, ops, opaque, size);
}

// Which engines hold translated code on which RAM page: QEMU calls these
// when a page gets its first translated block and loses its last.
__attribute__((visibility("default"))) void tlb_protect_code_x86_64(void* uc, uint64_t ram_addr) {
  soft::InterposeTarget* t = soft::t_invalidating != nullptr ? soft::t_invalidating : soft::t_running;
  if (soft::g_active && t != nullptr && static_cast<void*>(t->engine()) == uc) {
    g_counts.codePages.fetch_add(1, std::memory_order_relaxed);
    t->onCodePage(ram_addr, true);
  }
  g_real.protectCode(uc, ram_addr);
}

__attribute__((visibility("default"))) void tlb_unprotect_code_x86_64(void* uc, uint64_t ram_addr) {
  soft::InterposeTarget* t = soft::t_invalidating != nullptr ? soft::t_invalidating : soft::t_running;
  if (soft::g_active && t != nullptr && static_cast<void*>(t->engine()) == uc) t->onCodePage(ram_addr, false);
  g_real.unprotectCode(uc, ram_addr);
}

// Unicorn 2.0.1 keeps no dirty bitmap, so every guest store to RAM comes
// here to be checked against the engine's own translated code. Code another
// engine (another vCPU) translated from the same page is invalidated first:
// the engines share RAM but not their code caches (QEMU's TCG would see
// every vCPU's stores itself). Before the engine's own check, which may
// leave this function by longjmp when the store hits the running block.
__attribute__((visibility("default"))) void tb_invalidate_phys_page_fast_x86_64(void* uc, void* pages, uint64_t start,
                                                                                int len, uintptr_t retaddr) {
  soft::InterposeTarget* t = soft::t_running;
  if (soft::g_active && t != nullptr && soft::t_invalidating == nullptr && static_cast<void*>(t->engine()) == uc)
    t->beforeStore(start, len);
  g_real.pageFast(uc, pages, start, len, retaddr);
}

// Unicorn 2.0.1 makes every translated guest load and store followed by a
// check of the exit request (tcg/tcg-op.c check_exit_request), so that
// uc_emu_stop takes effect mid-block; but the exit then puts RIP back at the
// start of the block (cpu_tb_exec: synchronize_from_tb) without undoing what
// the block's earlier instructions did, and the next run executes them
// again: a kick or the end of a quantum between an `out` and a later load
// in the same block repeated the `out` (a COM1 character printed twice, seen
// in the snapshot test), and `inc` before a load would count twice. While
// an engine of this addon translates, no such check is emitted: a stop then
// takes effect at the next block boundary, as in QEMU, where state is
// exact (the block it stops before has not run).
__attribute__((visibility("default"))) void check_exit_request_x86_64(void* tcg_ctx) {
  if (soft::g_active && soft::t_running != nullptr) {
    g_counts.exitChecksDropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  g_real.checkExit(tcg_ctx);
}

// syscall/sysenter with their architectural effect (see
// InterposeTarget::syscallInsn); #UD/#GP are raised with this call's return
// address, so RIP is the instruction's.
__attribute__((visibility("default"))) void helper_syscall_x86_64(void* env, int next_eip_addend) {
  g_counts.syscall.fetch_add(1, std::memory_order_relaxed);
  if (soft::InterposeTarget* t = soft::ours(env)) {
    int vector = t->syscallInsn(next_eip_addend);
    if (vector >= 0) g_real.raiseErrRa(env, vector, 0, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
    return;
  }
  g_real.syscall(env, next_eip_addend);
}

__attribute__((visibility("default"))) void helper_sysenter_x86_64(void* env, int next_eip_addend) {
  g_counts.sysenter.fetch_add(1, std::memory_order_relaxed);
  if (soft::InterposeTarget* t = soft::ours(env)) {
    int vector = t->sysenterInsn(next_eip_addend);
    if (vector >= 0) g_real.raiseErrRa(env, vector, 0, reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
    return;
  }
  g_real.sysenter(env, next_eip_addend);
}

}  // extern "C"
