// Finding and checking the CPUX86State layout (see soft_env.h for why).
//
// Offsets are found, not assumed, where the register API can write a value
// that lands in the field (GPRs, RIP, GDTR/IDTR/LDTR/TR, CS selector, FS/GS
// base, CR2/CR3, DR0-7, EFER); the rest are QEMU 5.0's neighbours of those
// and are then checked by behaviour on a scratch engine:
//  - hflags: with CS64/LMA cleared and CS32 set, "48 90" must execute as
//    32-bit code (dec eax; nop), not as a REX.W nop;
//  - error_code / exception_is_int / old_exception: a #GP raised by loading
//    DS with a selector beyond the GDT limit must show that selector as the
//    error code, and an int $0x42 must show exception_is_int = 1;
//  - tsc_offset: rdtsc must return the host TSC plus it.
#include "soft_env.h"

#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "soft_interpose.h"

namespace soft {

namespace {

long findU64(const uint8_t* bytes, size_t size, uint64_t value) {
  for (size_t i = 0; i + 8 <= size; i += 4) {
    if (std::memcmp(bytes + i, &value, 8) == 0) return static_cast<long>(i);
  }
  return -1;
}

struct Scratch {
  uc_engine* uc = nullptr;
  uint8_t* page = nullptr;  // 3 pages at 0x1000: code, GDT, stack
  ~Scratch() {
    if (uc != nullptr) uc_close(uc);
    if (page != nullptr) munmap(page, 3 * 4096);
  }
};

struct IntrProbe {
  Env env;
  int gpSeen = 0, intSeen = 0;
  int32_t gpError = 0, gpIsInt = -1, gpOld = 0, intIsInt = -1;
  uint64_t intNextEip = 0, intEip = 0;
};

void onProbeIntr(uc_engine*, uint32_t intno, void* user) {
  auto* p = static_cast<IntrProbe*>(user);
  if (intno == 13) {
    p->gpSeen++;
    p->gpError = p->env.errorCode();
    p->gpIsInt = p->env.exceptionIsInt();
    p->gpOld = p->env.oldException();
    p->env.oldException() = -1;
    p->env.eip() += 2;  // skip the faulting mov %eax,%ds
  } else if (intno == 0x42) {
    p->intSeen++;
    p->intIsInt = p->env.exceptionIsInt();
    p->intEip = p->env.eip();
  }
}

// Runs `code` at 0x1000 + 0x100 * slot until hlt; returns the engine's
// error. Each check uses its own slot: the engine keeps its translation of
// code it ran, and host writes to guest memory do not invalidate it.
uc_err runCode(Scratch& s, int slot, const std::vector<uint8_t>& code) {
  uint8_t* at = s.page + 0x100 * slot;
  std::memset(at, 0xf4, 0x100);
  std::memcpy(at, code.data(), code.size());
  return uc_emu_start(s.uc, 0x1000 + 0x100 * static_cast<uint64_t>(slot), 0, 0, 0);
}

EnvLayout discover() {
  EnvLayout l;
  auto fail = [&l](const std::string& why) {
    l.ok = false;
    l.why = "CPU state layout check failed: " + why;
    return l;
  };
  const char* interposeWhy = nullptr;
  if (!interposeInit(&interposeWhy)) return fail(interposeWhy != nullptr ? interposeWhy : "interposition unavailable");

  Scratch s;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &s.uc) != UC_ERR_OK) return fail("uc_open failed");
  void* mem = mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return fail("mmap failed");
  s.page = static_cast<uint8_t*>(mem);
  if (uc_mem_map_ptr(s.uc, 0x1000, 3 * 4096, UC_PROT_ALL, s.page) != UC_ERR_OK) return fail("uc_mem_map_ptr failed");
  // No exits: hlt ends each run (UC_CTL_UC_USE_EXITS with an empty set).
  uc_ctl_exits_enable(s.uc);

  // 1. Registers the API writes straight into the state.
  const int gprs[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP, UC_X86_REG_RBP,
                        UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                        UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
  const uint64_t gprMagic = 0x5a3c9e1f00000000ull, ripMagic = 0x5a3c9e2f00000010ull, gdtMagic = 0x5a3c9e3f00000100ull,
                 idtMagic = 0x5a3c9e4f00000200ull, ldtMagic = 0x5a3c9e5f00000300ull, trMagic = 0x5a3c9e6f00000400ull,
                 fsMagic = 0x5a3c9e7f00000500ull, gsMagic = 0x5a3c9e8f00000600ull, cr2Magic = 0x5a3c9e9f00000700ull,
                 cr3Magic = 0x000000003c9ea000ull, drMagic = 0x5a3c9eaf00000800ull;
  for (int i = 0; i < 16; i++) {
    uint64_t v = gprMagic + static_cast<uint64_t>(i);
    uc_reg_write(s.uc, gprs[i], &v);
  }
  uint64_t v = ripMagic;
  uc_reg_write(s.uc, UC_X86_REG_RIP, &v);
  uc_x86_mmr mmr{0, gdtMagic, 0x1234, 0};
  uc_reg_write(s.uc, UC_X86_REG_GDTR, &mmr);
  mmr = {0, idtMagic, 0x2345, 0};
  uc_reg_write(s.uc, UC_X86_REG_IDTR, &mmr);
  mmr = {0x38, ldtMagic, 0x3456, 0x8200};
  uc_reg_write(s.uc, UC_X86_REG_LDTR, &mmr);
  mmr = {0x40, trMagic, 0x4567, 0x8b00};
  uc_reg_write(s.uc, UC_X86_REG_TR, &mmr);
  v = fsMagic;
  uc_reg_write(s.uc, UC_X86_REG_FS_BASE, &v);
  v = gsMagic;
  uc_reg_write(s.uc, UC_X86_REG_GS_BASE, &v);
  v = cr2Magic;
  uc_reg_write(s.uc, UC_X86_REG_CR2, &v);
  v = cr3Magic;
  uc_reg_write(s.uc, UC_X86_REG_CR3, &v);
  for (int i = 0; i < 8; i++) {
    v = drMagic + static_cast<uint64_t>(i);
    uc_reg_write(s.uc, UC_X86_REG_DR0 + i, &v);
  }
  uint16_t sel = 0x1238;
  uc_reg_write(s.uc, UC_X86_REG_CS, &sel);  // UC_MODE_64: selector only
  struct MsrProbe {
    uint32_t index;
    uint64_t magic;
    size_t EnvLayout::*field;
  };
  const MsrProbe msrs[] = {
      {0x174, 0xe174u, &EnvLayout::sysenterCs},  // QEMU keeps the low 16 bits, in a u32 before sysenter_esp
      {0x175, 0x5a3c9e0000000175ull, &EnvLayout::sysenterEsp},
      {0x176, 0x5a3c9e0000000176ull, &EnvLayout::sysenterEip},
      {0xc0000081, 0x5a3c9e00c0000081ull, &EnvLayout::star},
      {0xc0000082, 0x5a3c9e00c0000082ull, &EnvLayout::lstar},
      {0xc0000083, 0x5a3c9e00c0000083ull, &EnvLayout::cstar},
      {0xc0000084, 0x5a3c9e00c0000084ull, &EnvLayout::fmask},
      {0xc0000102, 0x5a3c9e00c0000102ull, &EnvLayout::kernelGsBase},
  };
  for (const MsrProbe& m : msrs) {
    uc_x86_msr msr{m.index, m.magic};
    uc_reg_write(s.uc, UC_X86_REG_MSR, &msr);
  }

  uc_context* ctx = nullptr;
  if (uc_context_alloc(s.uc, &ctx) != UC_ERR_OK) return fail("uc_context_alloc failed");
  struct CtxFree {
    uc_context* c;
    ~CtxFree() { uc_context_free(c); }
  } ctxFree{ctx};
  uc_context_save(s.uc, ctx);
  const size_t ctxSize = uc_context_size(s.uc);
  const uint8_t* blob = reinterpret_cast<const uint8_t*>(ctx);

  long rax = findU64(blob, ctxSize, gprMagic);
  if (rax < 0) return fail("general registers not found in a saved context");
  l.ctxData = static_cast<size_t>(rax);
  l.size = ctxSize - l.ctxData;
  const uint8_t* env = blob + l.ctxData;
  for (int i = 0; i < 16; i++) {
    uint64_t got;
    std::memcpy(&got, env + 8 * i, 8);
    if (got != gprMagic + static_cast<uint64_t>(i)) return fail("general registers are not 16 consecutive slots");
  }
  auto off = [&](uint64_t magic) { return findU64(env, l.size, magic); };
  long rip = off(ripMagic), gdt = off(gdtMagic), idt = off(idtMagic), ldt = off(ldtMagic), tr = off(trMagic),
       fs = off(fsMagic), gs = off(gsMagic), cr2 = off(cr2Magic), cr3 = off(cr3Magic), dr = off(drMagic);
  if (rip < 0 || gdt < 0 || idt < 0 || ldt < 0 || tr < 0 || fs < 0 || gs < 0 || cr2 < 0 || cr3 < 0 || dr < 0)
    return fail("a register written through the API was not found in the state");
  // SegmentCache { u32 selector; u64 base; u32 limit; u32 flags; }: base at +8.
  l.regs = 0;
  l.eip = static_cast<size_t>(rip);
  l.gdt = static_cast<size_t>(gdt) - 8;
  l.idt = static_cast<size_t>(idt) - 8;
  l.ldt = static_cast<size_t>(ldt) - 8;
  l.tr = static_cast<size_t>(tr) - 8;
  l.segs = l.ldt - 6 * 24;
  l.cr = static_cast<size_t>(cr2) - 16;
  l.dr = static_cast<size_t>(dr);
  if (l.tr != l.ldt + 24 || l.gdt != l.tr + 24 || l.idt != l.gdt + 24 || l.cr != l.idt + 24 ||
      static_cast<size_t>(cr3) != l.cr + 24)
    return fail("segment caches / descriptor tables / control registers are not laid out as in QEMU 5.0");
  if (static_cast<size_t>(fs) != l.segs + 4 * 24 + 8 || static_cast<size_t>(gs) != l.segs + 5 * 24 + 8)
    return fail("FS/GS base are not where segs[] puts them");
  const SegCache* ldtc = reinterpret_cast<const SegCache*>(env + l.ldt);
  if (ldtc->selector != 0x38 || ldtc->limit != 0x3456 || ldtc->flags != 0x8200)
    return fail("LDTR selector/limit/flags are not in SegmentCache order");
  const SegCache* csc = reinterpret_cast<const SegCache*>(env + l.segs + 24 * CS);
  if (csc->selector != 0x1238) return fail("CS selector not at segs[1]");
  // Neighbours (QEMU 5.0 CPUX86State): cc_src at eip+16 (after eflags,
  // cc_dst), cc_op and df after cc_src2, then hflags, hflags2, segs[].
  l.ccSrc = l.eip + 24;
  l.ccOp = l.eip + 40;
  l.df = l.eip + 44;
  l.hflags = l.segs - 8;
  l.hflags2 = l.segs - 4;
  // cr[5], a20_mask (+pad), bnd_regs[4], bndcs_regs, msr_bndcfgs, efer.
  l.efer = l.cr + 40 + 8 + 64 + 16 + 8;
  // error_code, exception_is_int, exception_next_eip, dr[8], cpu_breakpoint[4],
  // old_exception (+pad), vm_vmcb, tsc_offset.
  l.errorCode = l.dr - 16;
  l.exceptionIsInt = l.dr - 12;
  l.exceptionNextEip = l.dr - 8;
  l.oldException = l.dr + 64 + 32;
  l.tscOffset = l.oldException + 8 + 8;
  if (l.tscOffset + 8 > l.size) return fail("state too small");
  for (const MsrProbe& m : msrs) {
    long at = -1;
    if (m.index == 0x174) {
      long esp = off(0x5a3c9e0000000175ull);
      uint32_t got = 0;
      if (esp >= 8) std::memcpy(&got, env + esp - 8, 4);
      if (got == m.magic) at = esp - 8;
    } else {
      at = off(m.magic);
    }
    if (at < 0) return fail("MSR 0x" + std::to_string(m.index) + " written through the API not found in the state");
    l.*(m.field) = static_cast<size_t>(at);
  }

  int32_t ccOp, df;
  std::memcpy(&ccOp, env + l.ccOp, 4);
  std::memcpy(&df, env + l.df, 4);
  uint32_t hflags;
  std::memcpy(&hflags, env + l.hflags, 4);
  if (ccOp != 1 /* CC_OP_EFLAGS after reset */ || df != 1 || (hflags & (HF_CS64 | HF_LMA | HF_PE)) != (HF_CS64 | HF_LMA | HF_PE))
    return fail("cc_op/df/hflags do not hold their reset values where expected");
  uint64_t efer;
  std::memcpy(&efer, env + l.efer, 8);
  if (efer != 0x500) return fail("EFER is not LME|LMA where expected");

  // 2. The engine's own state pointer, captured by a lone hlt.
  t_capturing = true;
  t_capturedEnv = nullptr;
  uc_err e = runCode(s, 0, {0xf4});
  t_capturing = false;
  if (e != UC_ERR_OK || t_capturedEnv == nullptr) return fail("hlt did not reach the addon's helper_hlt (not interposed)");
  Env live(t_capturedEnv, &l);
  uc_context_save(s.uc, ctx);
  if (std::memcmp(live.raw(), blob + l.ctxData, l.size) != 0) return fail("captured state pointer differs from a context copy");
  // A reset value and an API write, seen through the pointer.
  v = 0x0123456789abcdefull;
  uc_reg_write(s.uc, UC_X86_REG_R13, &v);
  if (live.reg(13) != v) return fail("R13 written through the API not seen through the state pointer");

  // 3. hflags decide how code decodes: 32-bit protected mode in this
  // UC_MODE_64 engine (the basis of running every x86 mode in one engine).
  live.cr(0) = 0x11;  // PE | ET
  live.efer() = 0;
  for (int sg = 0; sg < 6; sg++) live.seg(sg) = SegCache{sg == CS ? 8u : 16u, 0, 0xffffffff,
                                                          DESC_G | DESC_B | DESC_P | DESC_S | DESC_A | DESC_W |
                                                              (sg == CS ? DESC_CS : 0)};
  live.updateHflags(0x2);
  v = 5;
  uc_reg_write(s.uc, UC_X86_REG_RAX, &v);
  e = runCode(s, 1, {0x48, 0x90, 0xf4});  // 32-bit: dec %eax; nop; hlt
  uc_reg_read(s.uc, UC_X86_REG_RAX, &v);
  if (e != UC_ERR_OK || v != 4) return fail("code did not run as 32-bit code after clearing CS64/LMA in hflags");

  // 4. error_code / exception_is_int / old_exception, in 64-bit mode again.
  live.efer() = 0x500;
  live.cr(0) = 0x11;  // paging stays off: the scratch engine has no page tables
  live.seg(CS) = SegCache{8, 0, 0xffffffff, DESC_G | DESC_L | DESC_P | DESC_S | DESC_A | DESC_R | DESC_CS};
  live.updateHflags(0x2);
  live.gdt().base = 0x2000;
  live.gdt().limit = 0x17;
  IntrProbe probe;
  probe.env = live;
  uc_hook h;
  if (uc_hook_add(s.uc, &h, UC_HOOK_INTR, reinterpret_cast<void*>(onProbeIntr), &probe, 1, 0) != UC_ERR_OK)
    return fail("UC_HOOK_INTR could not be added");
  // mov $0x1238,%eax; mov %eax,%ds; int $0x42; hlt
  e = runCode(s, 2, {0xb8, 0x38, 0x12, 0x00, 0x00, 0x8e, 0xd8, 0xcd, 0x42, 0xf4});
  uc_hook_del(s.uc, h);
  if (e != UC_ERR_OK || probe.gpSeen != 1 || probe.intSeen != 1)
    return fail("#GP / int $0x42 did not reach UC_HOOK_INTR once each");
  if (probe.gpError != 0x1238 || probe.gpIsInt != 0 || probe.gpOld != 13)
    return fail("#GP error code / exception_is_int / old_exception not where expected");
  if (probe.intIsInt != 1 || probe.intEip != 0x1209) return fail("int $0x42: exception_is_int or RIP past it not as expected");

  // 5. tsc_offset.
  const uint64_t big = 1ull << 50;
  live.tscOffset() = big;
  e = runCode(s, 3, {0x0f, 0x31, 0xf4});  // rdtsc; hlt
  uint64_t edx = 0;
  uc_reg_read(s.uc, UC_X86_REG_RDX, &edx);
  if (e != UC_ERR_OK || (edx >> 18) != 1) return fail("rdtsc does not add tsc_offset (or cpu_get_tsc is not interposed): edx=" + std::to_string(edx));
  live.tscOffset() = 0;

  l.ok = true;
  return l;
}

}  // namespace

const EnvLayout& envLayout() {
  static const EnvLayout layout = discover();
  return layout;
}

void Env::updateHflags(uint64_t eflags) const {
  constexpr uint32_t keep = ~(HF_CPL_MASK | HF_PE | HF_MP | HF_EM | HF_TS | HF_TF | HF_VM | HF_IOPL | HF_OSFXSR |
                              HF_LMA | HF_CS32 | HF_SS32 | HF_CS64 | HF_ADDSEG);
  uint32_t h = hflags() & keep;
  const uint64_t cr0 = cr(0);
  h |= (seg(SS).flags >> DESC_DPL_SHIFT) & HF_CPL_MASK;
  h |= static_cast<uint32_t>(cr0 & 1) << 7;                                  // PE
  h |= static_cast<uint32_t>(cr0 << (9 - 1)) & (HF_MP | HF_EM | HF_TS);      // MP, EM, TS from CR0 bits 1..3
  h |= static_cast<uint32_t>(eflags) & (HF_TF | HF_VM | HF_IOPL);            // same bit positions as EFLAGS
  if (cr(4) & (1u << 9)) h |= HF_OSFXSR;
  if (efer() & (1u << 10)) h |= HF_LMA;
  if ((h & HF_LMA) && (seg(CS).flags & DESC_L)) {
    h |= HF_CS32 | HF_SS32 | HF_CS64;
  } else {
    h |= (seg(CS).flags & DESC_B) >> (22 - 4);
    h |= (seg(SS).flags & DESC_B) >> (22 - 5);
    if (!(cr0 & 1) || (eflags & (1u << 17)) || !(h & HF_CS32)) {
      h |= HF_ADDSEG;
    } else if ((seg(DS).base | seg(ES).base | seg(SS).base) != 0) {
      h |= HF_ADDSEG;
    }
  }
  hflags() = h;
}

}  // namespace soft
