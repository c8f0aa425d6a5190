// Paging, descriptors and event delivery per the Intel SDM vol. 3 (chapters
// 3, 4 and 6) and the INT n/INTO/INT3/INT1 pseudo-code of vol. 2. QEMU's
// own do_interrupt64/do_interrupt_protected/do_interrupt_real (which
// Unicorn never calls: it hands every exception to UC_HOOK_INTR instead)
// were the cross-check for details the SDM leaves to the reader.
#include "soft_x86.h"

#include <cstring>

namespace soft {

namespace {

constexpr uint64_t PTE_P = 1, PTE_RW = 2, PTE_US = 4, PTE_A = 1u << 5, PTE_D = 1u << 6, PTE_PS = 1u << 7,
                   PTE_XD = 1ull << 63;
constexpr uint64_t ADDR_MASK = ((1ull << PHYS_BITS) - 1) & ~0xfffull;
// Bits 51:MAXPHYADDR of a 64-bit paging entry.
constexpr uint64_t RSVD_HI = ((1ull << 52) - 1) & ~((1ull << PHYS_BITS) - 1);

constexpr uint32_t PF_P = 1, PF_W = 2, PF_U = 4, PF_RSVD = 8, PF_ID = 16;

constexpr uint64_t CR0_PE = 1, CR0_WP = 1u << 16, CR0_PG = 1u << 31;
constexpr uint64_t CR4_PSE = 1u << 4, CR4_PAE = 1u << 5, CR4_LA57 = 1u << 12, CR4_SMEP = 1u << 20;
constexpr uint64_t EFER_NXE = 1u << 11;

constexpr int EXC_DE = 0, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12, EXC_GP = 13, EXC_PF = 14;

Fault makeFault(int vector, uint32_t error) {
  Fault f;
  f.vector = vector;
  f.error = error;
  f.hasError = true;
  return f;
}

Fault unsupported(const std::string& why) {
  Fault f;
  f.unsupported = why;
  return f;
}

bool canonical(uint64_t a, bool la57) {
  int bits = la57 ? 57 : 48;
  int64_t s = static_cast<int64_t>(a << (64 - bits)) >> (64 - bits);
  return static_cast<uint64_t>(s) == a;
}

}  // namespace

bool exceptionHasErrorCode(int vector) {
  switch (vector) {
    case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21: case 29: case 30:
      return true;
    default:
      return false;
  }
}

uint64_t Cpu::rflags() const {
  // cpu_compute_eflags: the arithmetic flags live lazily in cc_src/cc_op.
  uint64_t v = 0;
  uc_reg_read(uc, UC_X86_REG_RFLAGS, &v);
  return v;
}

void Cpu::setRflags(uint64_t value) const {
  // cpu_load_eflags with every bit writable; not RIP, so the engine is not stopped.
  uc_reg_write(uc, UC_X86_REG_RFLAGS, &value);
}

Translation Cpu::translate(uint64_t linear, Access access, bool user, bool setAccessed) const {
  Translation t;
  const uint64_t cr0 = env.cr(0), cr4 = env.cr(4);
  const bool lma = env.longMode();
  if (!(cr0 & CR0_PG)) {
    t.ok = true;
    t.physical = lma ? linear : (linear & 0xffffffffull);
    return t;
  }
  const bool write = access == Access::Write, fetch = access == Access::Fetch;
  const bool nxe = (env.efer() & EFER_NXE) != 0;
  auto pageFault = [&](uint32_t bits) {
    uint32_t e = bits | (write ? PF_W : 0) | (user ? PF_U : 0);
    // I/D is reported only where execute-disable or SMEP exist for the walk.
    if (fetch && ((nxe && (cr4 & CR4_PAE)) || (cr4 & CR4_SMEP))) e |= PF_ID;
    t.ok = false;
    t.fault = makeFault(EXC_PF, e);
    t.fault.cr2 = linear;
    return t;
  };
  auto entryAt = [&](uint64_t pa, int size) -> uint8_t* { return ram->at(pa, static_cast<uint64_t>(size)); };

  struct Used {
    uint8_t* host;
    int size;
  } used[5];
  int nUsed = 0;
  bool rw = true, us = true, xd = false;
  uint64_t physical = 0, pageSize = 4096;

  if (lma) {
    const bool la57 = (cr4 & CR4_LA57) != 0;
    if (!canonical(linear, la57)) {
      t.fault = makeFault(EXC_GP, 0);
      return t;
    }
    uint64_t table = env.cr(3) & ADDR_MASK;
    int levels = la57 ? 5 : 4;
    for (int level = levels; level >= 1; level--) {
      int shift = 12 + 9 * (level - 1);
      uint64_t pa = table + ((linear >> shift) & 511) * 8;
      uint8_t* h = entryAt(pa, 8);
      if (h == nullptr) {
        t.fault = unsupported("page-table entry at physical 0x" + std::to_string(pa) + " is not in RAM");
        return t;
      }
      uint64_t e;
      std::memcpy(&e, h, 8);
      if (!(e & PTE_P)) return pageFault(0);
      bool leaf = level == 1 || ((level == 2 || level == 3) && (e & PTE_PS));
      uint64_t rsvd = RSVD_HI | (nxe ? 0 : PTE_XD);
      if (level >= 4 && (e & PTE_PS)) rsvd |= PTE_PS;  // no pages at PML4/PML5 level
      if (leaf && level == 3) rsvd |= 0x3fffe000ull;   // 1 GiB page: bits 29:13
      if (leaf && level == 2) rsvd |= 0x1fe000ull;     // 2 MiB page: bits 20:13
      if (e & rsvd) return pageFault(PF_P | PF_RSVD);
      rw = rw && (e & PTE_RW);
      us = us && (e & PTE_US);
      xd = xd || (e & PTE_XD);
      used[nUsed++] = {h, 8};
      if (leaf) {
        pageSize = 1ull << shift;
        physical = (e & ADDR_MASK & ~(pageSize - 1)) | (linear & (pageSize - 1));
        break;
      }
      table = e & ADDR_MASK;
    }
  } else if (cr4 & CR4_PAE) {
    linear &= 0xffffffffull;
    uint64_t pa = (env.cr(3) & 0xffffffe0ull) + ((linear >> 30) & 3) * 8;
    uint8_t* h = entryAt(pa, 8);
    if (h == nullptr) {
      t.fault = unsupported("PAE PDPTE not in RAM");
      return t;
    }
    uint64_t pdpte;
    std::memcpy(&pdpte, h, 8);
    if (!(pdpte & PTE_P)) return pageFault(0);
    if (pdpte & (RSVD_HI | PTE_XD | 0x1e6ull)) return pageFault(PF_P | PF_RSVD);  // bits 2:1, 8:5 reserved
    uint64_t table = pdpte & ADDR_MASK;
    for (int level = 2; level >= 1; level--) {
      int shift = 12 + 9 * (level - 1);
      uint64_t epa = table + ((linear >> shift) & 511) * 8;
      uint8_t* eh = entryAt(epa, 8);
      if (eh == nullptr) {
        t.fault = unsupported("PAE page-table entry not in RAM");
        return t;
      }
      uint64_t e;
      std::memcpy(&e, eh, 8);
      if (!(e & PTE_P)) return pageFault(0);
      bool leaf = level == 1 || (e & PTE_PS);
      uint64_t rsvd = RSVD_HI | (nxe ? 0 : PTE_XD) | ((leaf && level == 2) ? 0x1fe000ull : 0);
      if (e & rsvd) return pageFault(PF_P | PF_RSVD);
      rw = rw && (e & PTE_RW);
      us = us && (e & PTE_US);
      xd = xd || (e & PTE_XD);
      used[nUsed++] = {eh, 8};
      if (leaf) {
        pageSize = 1ull << shift;
        physical = (e & ADDR_MASK & ~(pageSize - 1)) | (linear & (pageSize - 1));
        break;
      }
      table = e & ADDR_MASK;
    }
  } else {
    linear &= 0xffffffffull;
    uint64_t pa = (env.cr(3) & 0xfffff000ull) + ((linear >> 22) & 1023) * 4;
    uint8_t* h = entryAt(pa, 4);
    if (h == nullptr) {
      t.fault = unsupported("page directory entry not in RAM");
      return t;
    }
    uint32_t pde;
    std::memcpy(&pde, h, 4);
    if (!(pde & PTE_P)) return pageFault(0);
    rw = pde & PTE_RW;
    us = pde & PTE_US;
    used[nUsed++] = {h, 4};
    if ((cr4 & CR4_PSE) && (pde & PTE_PS)) {
      if (pde & (1u << 21)) return pageFault(PF_P | PF_RSVD);  // PSE-36: bit 21 reserved with 40-bit MAXPHYADDR
      pageSize = 4u << 20;
      physical = (pde & 0xffc00000ull) | (static_cast<uint64_t>((pde >> 13) & 0xff) << 32) | (linear & 0x3fffff);
    } else {
      uint64_t ptpa = (pde & 0xfffff000ull) + ((linear >> 12) & 1023) * 4;
      uint8_t* ph = entryAt(ptpa, 4);
      if (ph == nullptr) {
        t.fault = unsupported("page table entry not in RAM");
        return t;
      }
      uint32_t pte;
      std::memcpy(&pte, ph, 4);
      if (!(pte & PTE_P)) return pageFault(0);
      rw = rw && (pte & PTE_RW);
      us = us && (pte & PTE_US);
      used[nUsed++] = {ph, 4};
      physical = (pte & 0xfffff000ull) | (linear & 0xfff);
    }
  }

  // Protection (SDM 4.6).
  if (user) {
    if (!us) return pageFault(PF_P);
    if (write && !rw) return pageFault(PF_P);
  } else {
    if (write && !rw && (cr0 & CR0_WP)) return pageFault(PF_P);
    if (fetch && us && (cr4 & CR4_SMEP)) return pageFault(PF_P);
  }
  if (fetch && xd && nxe) return pageFault(PF_P);

  if (setAccessed) {
    for (int i = 0; i < nUsed; i++) {
      // A and D are bits 5 and 6 of both entry sizes; the low dword holds them.
      uint32_t low;
      std::memcpy(&low, used[i].host, 4);
      uint32_t want = low | static_cast<uint32_t>(PTE_A) | ((i == nUsed - 1 && write) ? static_cast<uint32_t>(PTE_D) : 0);
      if (want != low) std::memcpy(used[i].host, &want, 4);
    }
  }
  t.ok = true;
  t.physical = physical;
  t.pageSize = pageSize;
  return t;
}

bool Cpu::readLinear(uint64_t linear, void* out, size_t size, Fault* fault) const {
  auto* dst = static_cast<uint8_t*>(out);
  while (size > 0) {
    size_t chunk = 4096 - (linear & 0xfff);
    if (chunk > size) chunk = size;
    Translation t = translate(linear, Access::Read, false, true);
    if (!t.ok) {
      *fault = t.fault;
      return false;
    }
    uint8_t* h = ram->at(t.physical, chunk);
    if (h == nullptr) {
      *fault = unsupported("system structure read from non-RAM physical address");
      return false;
    }
    std::memcpy(dst, h, chunk);
    dst += chunk;
    linear += chunk;
    size -= chunk;
  }
  return true;
}

bool Cpu::writeLinear(uint64_t linear, const void* in, size_t size, Fault* fault) const {
  // Translate every page first, so a fault leaves memory as it was.
  struct Piece {
    uint8_t* host;
    size_t size;
  } pieces[3];
  int n = 0;
  uint64_t at = linear;
  size_t left = size;
  while (left > 0) {
    size_t chunk = 4096 - (at & 0xfff);
    if (chunk > left) chunk = left;
    Translation t = translate(at, Access::Write, false, true);
    if (!t.ok) {
      *fault = t.fault;
      return false;
    }
    uint8_t* h = ram->at(t.physical, chunk);
    if (h == nullptr || n == 3) {
      *fault = unsupported("event frame written to non-RAM physical address");
      return false;
    }
    pieces[n++] = {h, chunk};
    at += chunk;
    left -= chunk;
  }
  const auto* src = static_cast<const uint8_t*>(in);
  for (int i = 0; i < n; i++) {
    std::memcpy(pieces[i].host, src, pieces[i].size);
    src += pieces[i].size;
  }
  return true;
}

namespace {

// A segment descriptor as read from the GDT/LDT.
struct Descriptor {
  uint32_t lo = 0, hi = 0;
  uint64_t linear = 0;  // where it was read (to set the accessed bit)
  uint32_t dpl() const { return (hi >> 13) & 3; }
  bool present() const { return (hi & DESC_P) != 0; }
  bool system() const { return (hi & DESC_S) == 0; }
  uint32_t type() const { return (hi >> 8) & 15; }
  bool code() const { return !system() && (hi & DESC_CS); }
  uint64_t base() const { return (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000u); }
  uint32_t limit() const {
    uint32_t l = (lo & 0xffff) | (hi & 0xf0000);
    return (hi & DESC_G) ? ((l << 12) | 0xfff) : l;
  }
  // QEMU's SegmentCache flags: the high dword's bits 8..23.
  uint32_t flags() const { return hi & 0x00f0ff00u; }
};

class Delivery {
 public:
  Delivery(const Cpu& cpu, const Event& ev) : cpu_(cpu), env_(cpu.env), ev_(ev) {
    ext_ = (ev.kind == EventKind::SoftwareInterrupt || ev.kind == EventKind::SoftwareException) ? 0 : 1;
    software_ = ev.kind == EventKind::SoftwareInterrupt || ev.kind == EventKind::SoftwareException;
    pushError_ = ev.kind == EventKind::Exception && ev.hasError;
    // A fault's saved RFLAGS has RF set, so the faulting instruction can be
    // restarted past an instruction breakpoint (SDM 17.3.1.1); traps and
    // aborts save RFLAGS as it is.
    switch (ev.kind == EventKind::Exception ? ev.vector : -1) {
      case 0: case 5: case 6: case 7: case 10: case 11: case 12: case 13: case 14: case 16: case 17: case 19: case 20:
        faultRf_ = RF_RF;
        break;
      default:
        break;
    }
  }

  // Delivers once; a fault raised on the way is returned, state untouched
  // (memory may hold part of a frame, as on hardware).
  Fault run() {
    rflags_ = cpu_.rflags();
    if (!(env_.cr(0) & CR0_PE)) return real();
    if ((rflags_ & RF_VM) && software_ && ((rflags_ & RF_IOPL) >> 12) < 3) return makeFault(EXC_GP, 0);
    if (env_.longMode()) return ia32e();
    return legacy();
  }

 private:
  uint32_t idtError() const { return static_cast<uint32_t>(ev_.vector) * 8 + 2 + ext_; }
  uint32_t selError(uint32_t sel) const { return (sel & 0xfffc) + ext_; }

  bool readDescriptor(uint32_t sel, Descriptor* d, Fault* f, int vector) {
    const SegCache& table = (sel & 4) ? env_.ldt() : env_.gdt();
    if ((sel & 4) && !(table.flags & DESC_P)) {
      *f = makeFault(vector, selError(sel));
      return false;
    }
    uint32_t index = sel & ~7u;
    if (index + 7 > table.limit) {
      *f = makeFault(vector, selError(sel));
      return false;
    }
    d->linear = table.base + index;
    uint32_t words[2];
    if (!cpu_.readLinear(d->linear, words, 8, f)) return false;
    d->lo = words[0];
    d->hi = words[1];
    return true;
  }

  // Sets the accessed bit of a descriptor being loaded (SDM 3.4.5.1).
  void markAccessed(const Descriptor& d) {
    if (d.hi & DESC_A) return;
    uint32_t hi = d.hi | DESC_A;
    Fault ignored;
    cpu_.writeLinear(d.linear + 4, &hi, 4, &ignored);
  }

  // The gate's target code segment: SDM INT pseudo-code, "PROTECTED-MODE" checks.
  bool targetCode(uint32_t sel, Descriptor* cs, Fault* f) {
    if ((sel & 0xfffc) == 0) {
      *f = makeFault(EXC_GP, ext_);
      return false;
    }
    if (!readDescriptor(sel, cs, f, EXC_GP)) return false;
    if (!cs->code() || cs->dpl() > static_cast<uint32_t>(env_.cpl())) {
      *f = makeFault(EXC_GP, selError(sel));
      return false;
    }
    if (!cs->present()) {
      *f = makeFault(EXC_NP, selError(sel));
      return false;
    }
    return true;
  }

  void commitFlags(bool interruptGate) {
    uint64_t r = rflags_ & ~(RF_TF | RF_NT | RF_RF | RF_VM);
    if (interruptGate) r &= ~RF_IF;
    cpu_.setRflags(r);
    env_.hflags() &= ~HF_INHIBIT_IRQ;
    env_.updateHflags(r);
    if (ev_.kind == EventKind::Nmi) env_.hflags2() |= HF2_NMI;  // blocked until the next iret
  }

  // IA-32e mode (long mode, 64-bit or compatibility code): 16-byte gates.
  Fault ia32e() {
    Fault f;
    const uint32_t v = static_cast<uint32_t>(ev_.vector);
    const SegCache& idt = env_.idt();
    if (v * 16 + 15 > idt.limit) return makeFault(EXC_GP, idtError());
    uint32_t g[4];
    if (!cpu_.readLinear(idt.base + v * 16, g, 16, &f)) return f;
    const uint32_t type = (g[1] >> 8) & 0x1f, dpl = (g[1] >> 13) & 3;
    if (type != 0xe && type != 0xf) return makeFault(EXC_GP, idtError());
    if (software_ && dpl < static_cast<uint32_t>(env_.cpl())) return makeFault(EXC_GP, v * 8 + 2);
    if (!(g[1] & DESC_P)) return makeFault(EXC_NP, idtError());
    const uint32_t sel = g[0] >> 16;
    const uint64_t offset = (g[0] & 0xffff) | (g[1] & 0xffff0000u) | (static_cast<uint64_t>(g[2]) << 32);
    const uint32_t ist = g[1] & 7;
    Descriptor cs;
    if (!targetCode(sel, &cs, &f)) return f;
    if (!(cs.hi & DESC_L) || (cs.hi & DESC_B)) return makeFault(EXC_GP, selError(sel));
    const int cpl = env_.cpl();
    const bool conforming = (cs.type() & 4) != 0;
    const int newCpl = (!conforming && static_cast<int>(cs.dpl()) < cpl) ? static_cast<int>(cs.dpl()) : cpl;
    if (!canonical(offset, (env_.cr(4) & CR4_LA57) != 0)) return makeFault(EXC_GP, ext_);

    uint64_t rsp = env_.reg(4);
    if (ist != 0 || newCpl != cpl) {
      const SegCache& tr = env_.tr();
      uint32_t off = ist != 0 ? 0x24 + (ist - 1) * 8 : 4 + static_cast<uint32_t>(newCpl) * 8;
      uint32_t trType = (tr.flags >> 8) & 15;
      if (!(tr.flags & DESC_P) || (trType != 9 && trType != 11) || off + 7 > tr.limit)
        return makeFault(EXC_TS, selError(tr.selector));
      if (!cpu_.readLinear(tr.base + off, &rsp, 8, &f)) return f;
    }
    if (!canonical(rsp, (env_.cr(4) & CR4_LA57) != 0)) return makeFault(EXC_SS, ext_);
    rsp &= ~0xfull;
    uint64_t frame[6];
    int n = 0;
    if (pushError_) frame[n++] = ev_.error;
    frame[n++] = env_.eip();
    frame[n++] = env_.seg(CS).selector;
    frame[n++] = rflags_ | faultRf_;
    frame[n++] = env_.reg(4);
    frame[n++] = env_.seg(SS).selector;
    rsp -= static_cast<uint64_t>(n) * 8;
    if (!cpu_.writeLinear(rsp, frame, static_cast<size_t>(n) * 8, &f)) {
      if (f.vector == EXC_GP) f = makeFault(EXC_SS, ext_);  // non-canonical stack
      return f;
    }
    // Commit.
    markAccessed(cs);
    if (newCpl != cpl) {
      // SS <- NULL with RPL = new CPL (QEMU keeps the DPL in the hidden part: it is its CPL).
      env_.seg(SS) = SegCache{static_cast<uint32_t>(newCpl), 0, 0, static_cast<uint32_t>(newCpl) << DESC_DPL_SHIFT};
    }
    env_.seg(CS) = SegCache{(sel & 0xfffc) | static_cast<uint32_t>(newCpl), cs.base(), cs.limit(), cs.flags() | DESC_A};
    env_.reg(4) = rsp;
    env_.eip() = offset;
    commitFlags(type == 0xe);
    return Fault{};
  }

  // Push for 32-bit protected mode: `size` 2 or 4, onto `ss` at `sp`.
  bool push(const SegCache& ss, uint64_t* sp, uint32_t value, int size, uint32_t ssError, Fault* f) {
    const bool big = (ss.flags & DESC_B) != 0;
    uint64_t mask = big ? 0xffffffffull : 0xffffull;
    uint64_t next = (*sp - static_cast<uint64_t>(size)) & mask;
    // Limit check (expand-down data segments valid above the limit).
    bool expandDown = (ss.flags & DESC_S) && !(ss.flags & DESC_CS) && (ss.flags & DESC_E);
    uint64_t last = next + static_cast<uint64_t>(size) - 1;
    bool inside = expandDown ? (next > ss.limit && last <= mask) : (last <= ss.limit);
    if (!inside) {
      *f = makeFault(EXC_SS, ssError);
      return false;
    }
    if (!cpu_.writeLinear((ss.base + next) & 0xffffffffull, &value, static_cast<size_t>(size), f)) return false;
    *sp = (*sp & ~mask) | next;
    return true;
  }

  // 32-bit protected mode (and virtual-8086 mode): 8-byte gates.
  Fault legacy() {
    Fault f;
    const uint32_t v = static_cast<uint32_t>(ev_.vector);
    const SegCache& idt = env_.idt();
    if (v * 8 + 7 > idt.limit) return makeFault(EXC_GP, idtError());
    uint32_t g[2];
    if (!cpu_.readLinear(idt.base + v * 8, g, 8, &f)) return f;
    const uint32_t type = (g[1] >> 8) & 0x1f, dpl = (g[1] >> 13) & 3;
    if (type == 5) {
      f = unsupported("task gate at vector " + std::to_string(v) + " (hardware task switching is not emulated)");
      return f;
    }
    if (type != 6 && type != 7 && type != 0xe && type != 0xf) return makeFault(EXC_GP, idtError());
    if (software_ && dpl < static_cast<uint32_t>(env_.cpl())) return makeFault(EXC_GP, v * 8 + 2);
    if (!(g[1] & DESC_P)) return makeFault(EXC_NP, idtError());
    const bool gate32 = (type & 8) != 0;
    const int size = gate32 ? 4 : 2;
    const uint32_t sel = g[0] >> 16;
    uint32_t offset = (g[0] & 0xffff) | (g[1] & 0xffff0000u);
    if (!gate32) offset &= 0xffff;
    Descriptor cs;
    if (!targetCode(sel, &cs, &f)) return f;
    const int cpl = env_.cpl();
    const bool conforming = (cs.type() & 4) != 0;
    const bool vm = (rflags_ & RF_VM) != 0;
    const bool inter = !conforming && static_cast<int>(cs.dpl()) < cpl;
    if (vm && (!inter || cs.dpl() != 0)) return makeFault(EXC_GP, selError(sel));
    const int newCpl = inter ? static_cast<int>(cs.dpl()) : cpl;
    if (offset > cs.limit()) return makeFault(EXC_GP, ext_);

    SegCache ss = env_.seg(SS);
    uint64_t sp = env_.reg(4);
    uint32_t ssError = ext_;
    Descriptor ssd;
    uint32_t newSs = 0;
    if (inter) {
      const SegCache& tr = env_.tr();
      uint32_t trType = (tr.flags >> 8) & 15;
      bool tss32 = trType == 9 || trType == 11;
      if (!(tr.flags & DESC_P) || !(tss32 || trType == 1 || trType == 3)) return makeFault(EXC_TS, selError(tr.selector));
      uint32_t newSp = 0;
      if (tss32) {
        uint32_t off = 4 + static_cast<uint32_t>(newCpl) * 8;
        if (off + 5 > tr.limit) return makeFault(EXC_TS, selError(tr.selector));
        uint32_t words[2];
        if (!cpu_.readLinear(tr.base + off, words, 8, &f)) return f;
        newSp = words[0];
        newSs = words[1] & 0xffff;
      } else {
        uint32_t off = 2 + static_cast<uint32_t>(newCpl) * 4;
        if (off + 3 > tr.limit) return makeFault(EXC_TS, selError(tr.selector));
        uint16_t words[2];
        if (!cpu_.readLinear(tr.base + off, words, 4, &f)) return f;
        newSp = words[0];
        newSs = words[1];
      }
      if ((newSs & 0xfffc) == 0) return makeFault(EXC_TS, ext_);
      if ((newSs & 3) != static_cast<uint32_t>(newCpl)) return makeFault(EXC_TS, selError(newSs));
      if (!readDescriptor(newSs, &ssd, &f, EXC_TS)) return f;
      bool writableData = !ssd.system() && !(ssd.hi & DESC_CS) && (ssd.hi & DESC_W);
      if (!writableData || ssd.dpl() != static_cast<uint32_t>(newCpl)) return makeFault(EXC_TS, selError(newSs));
      if (!ssd.present()) return makeFault(EXC_SS, selError(newSs));
      ss = SegCache{newSs, ssd.base(), ssd.limit(), ssd.flags() | DESC_A};
      sp = newSp;
      ssError = selError(newSs);
    }
    uint64_t newSp = sp;
    if (inter && vm) {
      for (int s : {GS, FS, DS, ES}) {
        if (!push(ss, &newSp, env_.seg(s).selector, size, ssError, &f)) return f;
      }
    }
    if (inter) {
      if (!push(ss, &newSp, env_.seg(SS).selector, size, ssError, &f)) return f;
      if (!push(ss, &newSp, static_cast<uint32_t>(env_.reg(4)), size, ssError, &f)) return f;
    }
    if (!push(ss, &newSp, static_cast<uint32_t>(rflags_ | faultRf_), size, ssError, &f)) return f;
    if (!push(ss, &newSp, env_.seg(CS).selector, size, ssError, &f)) return f;
    if (!push(ss, &newSp, static_cast<uint32_t>(env_.eip()), size, ssError, &f)) return f;
    if (pushError_ && !push(ss, &newSp, ev_.error, size, ssError, &f)) return f;

    // Commit.
    markAccessed(cs);
    if (inter) {
      markAccessed(ssd);
      env_.seg(SS) = ss;
      if (vm) {
        for (int s : {GS, FS, DS, ES}) env_.seg(s) = SegCache{0, 0, 0, 0};
      }
    }
    env_.reg(4) = newSp;
    env_.seg(CS) = SegCache{(sel & 0xfffc) | static_cast<uint32_t>(newCpl), cs.base(), cs.limit(), cs.flags() | DESC_A};
    env_.eip() = offset;
    commitFlags(type == 6 || type == 0xe);
    return Fault{};
  }

  // Real-address mode: the IVT.
  Fault real() {
    Fault f;
    const uint32_t v = static_cast<uint32_t>(ev_.vector);
    const SegCache& idt = env_.idt();
    if (v * 4 + 3 > idt.limit) return makeFault(EXC_GP, 0);
    uint16_t vec[2];
    if (!cpu_.readLinear(idt.base + v * 4, vec, 4, &f)) return f;
    SegCache& ss = env_.seg(SS);
    uint64_t sp = env_.reg(4);
    uint16_t frame[3] = {static_cast<uint16_t>(env_.eip()), static_cast<uint16_t>(env_.seg(CS).selector),
                         static_cast<uint16_t>(rflags_)};
    for (int i = 2; i >= 0; i--) {
      sp = (sp & ~0xffffull) | ((sp - 2) & 0xffff);
      if (!cpu_.writeLinear((ss.base + (sp & 0xffff)) & 0xfffff, &frame[i], 2, &f)) return f;
    }
    env_.reg(4) = sp;
    env_.seg(CS).selector = vec[1];
    env_.seg(CS).base = static_cast<uint64_t>(vec[1]) << 4;
    env_.eip() = vec[0];
    uint64_t r = rflags_ & ~(RF_IF | RF_TF | RF_AC | RF_RF);
    cpu_.setRflags(r);
    env_.hflags() &= ~HF_INHIBIT_IRQ;
    env_.updateHflags(r);
    if (ev_.kind == EventKind::Nmi) env_.hflags2() |= HF2_NMI;
    return Fault{};
  }

  const Cpu& cpu_;
  const Env& env_;
  Event ev_;
  uint32_t ext_ = 1;
  bool software_ = false;
  bool pushError_ = false;
  uint64_t faultRf_ = 0;
  uint64_t rflags_ = 0;
};

enum class Class { Benign, Contributory, PageFault };

Class classify(const Event& e) {
  if (e.kind != EventKind::Exception) return Class::Benign;
  if (e.vector == EXC_PF) return Class::PageFault;
  if (e.vector == EXC_DE || (e.vector >= EXC_TS && e.vector <= EXC_GP)) return Class::Contributory;
  return Class::Benign;
}

}  // namespace

DeliverResult deliverEvent(const Cpu& cpu, Event event, std::string* why) {
  // Each round either delivers, escalates toward #DF (contributory or page
  // fault pairs, SDM table 6-5) or shuts down; benign pairs deliver the
  // second event. The bound only guards against a loop of benign faults.
  for (int round = 0; round < 8; round++) {
    if (event.vector == EXC_PF) cpu.env.cr(2) = event.cr2;
    Fault f = Delivery(cpu, event).run();
    if (!f.raised()) {
      if (!f.unsupported.empty()) {
        if (why != nullptr) *why = f.unsupported;
        return DeliverResult::Unsupported;
      }
      cpu.env.oldException() = -1;
      return DeliverResult::Delivered;
    }
    if (event.kind == EventKind::Exception && event.vector == EXC_DF) return DeliverResult::TripleFault;
    if (event.hasRestart) cpu.env.eip() = event.restartRip;
    Event next;
    next.kind = EventKind::Exception;
    next.vector = f.vector;
    next.hasError = exceptionHasErrorCode(f.vector);
    next.error = f.error;
    next.cr2 = f.cr2;
    Class first = classify(event), second = classify(next);
    if ((first == Class::Contributory && second == Class::Contributory) ||
        (first == Class::PageFault && second != Class::Benign)) {
      next = Event{};
      next.kind = EventKind::Exception;
      next.vector = EXC_DF;
      next.hasError = true;
      next.error = 0;
    }
    event = next;
  }
  return DeliverResult::TripleFault;
}

}  // namespace soft
