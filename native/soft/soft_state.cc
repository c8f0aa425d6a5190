#include "soft_state.h"

#include <cstring>

namespace soft {

namespace {

template <typename T>
T get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}
template <typename T>
void put(uint8_t* p, size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}

// kvm_regs order -> QEMU's regs[] index.
constexpr int KVM_TO_QEMU[16] = {0, 3, 1, 2, 6, 7, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15};
// kvm_sregs segment order (cs ds es fs gs ss tr ldt) -> ours.
enum Which { W_CS, W_DS, W_ES, W_FS, W_GS, W_SS, W_TR, W_LDT };
SegCache& segRef(const Env& e, int w) {
  switch (w) {
    case W_CS: return e.seg(CS);
    case W_DS: return e.seg(DS);
    case W_ES: return e.seg(ES);
    case W_FS: return e.seg(FS);
    case W_GS: return e.seg(GS);
    case W_SS: return e.seg(SS);
    case W_TR: return e.tr();
    default: return e.ldt();
  }
}

// struct kvm_segment { u64 base; u32 limit; u16 selector; u8 type, present, dpl, db, s, l, g, avl, unusable, pad; }
void segToKvm(const SegCache& c, uint8_t* o) {
  put<uint64_t>(o, 0, c.base);
  put<uint32_t>(o, 8, c.limit);
  put<uint16_t>(o, 12, static_cast<uint16_t>(c.selector));
  const uint32_t f = c.flags;
  o[14] = (f >> 8) & 15;
  o[15] = (f >> 15) & 1;
  o[16] = (f >> 13) & 3;
  o[17] = (f >> 22) & 1;
  o[18] = (f >> 12) & 1;
  o[19] = (f >> 21) & 1;
  o[20] = (f >> 23) & 1;
  o[21] = (f >> 20) & 1;
  o[22] = ((f >> 15) & 1) ? 0 : 1;
  o[23] = 0;
}

SegCache kvmToSeg(const uint8_t* o) {
  SegCache c;
  c.base = get<uint64_t>(o, 0);
  c.limit = get<uint32_t>(o, 8);
  c.selector = get<uint16_t>(o, 12);
  const bool present = o[15] != 0 && o[22] == 0;
  c.flags = (static_cast<uint32_t>(o[14] & 15) << 8) | (static_cast<uint32_t>(o[18] & 1) << 12) |
            (static_cast<uint32_t>(o[16] & 3) << 13) | (present ? DESC_P : 0) | (static_cast<uint32_t>(o[21] & 1) << 20) |
            (static_cast<uint32_t>(o[19] & 1) << 21) | (static_cast<uint32_t>(o[17] & 1) << 22) |
            (static_cast<uint32_t>(o[20] & 1) << 23);
  return c;
}

constexpr uint64_t CR0_ALLOWED = 0xe005003full;  // PE MP EM TS ET NE WP AM NW CD PG
constexpr uint64_t CR4_ALLOWED = 0x7ffull;       // VME..OSXMMEXCPT (no LA57, SMEP, SMAP, PCIDE, OSXSAVE: not advertised)
constexpr uint64_t EFER_ALLOWED = 0xd01ull;      // SCE LME LMA NXE

// What no processor can be in (SDM 2.5, 9.8.5): rejected before anything is written.
bool checkControl(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer, std::string* why) {
  if (cr0 & ~CR0_ALLOWED) return *why = "CR0 has reserved bits set", false;
  if (cr4 & ~CR4_ALLOWED) return *why = "CR4 has bits set this CPU does not support", false;
  if (efer & ~EFER_ALLOWED) return *why = "EFER has bits set this CPU does not support", false;
  if ((cr0 & (1u << 31)) && !(cr0 & 1)) return *why = "CR0.PG without CR0.PE", false;
  if ((cr0 & (1u << 29)) && !(cr0 & (1u << 30))) return *why = "CR0.NW without CR0.CD", false;
  const bool lma = (efer & (1u << 10)) != 0;
  if (lma && !((efer & (1u << 8)) && (cr0 & (1u << 31)) && (cr4 & (1u << 5))))
    return *why = "EFER.LMA without LME, CR0.PG and CR4.PAE", false;
  if (!lma && (efer & (1u << 8)) && (cr0 & (1u << 31))) return *why = "EFER.LME with paging on but LMA clear", false;
  if (cr3 >> PHYS_BITS) return *why = "CR3 beyond the physical address width", false;
  return true;
}

void commitControl(Vcpu& v, uint64_t cr0, uint64_t cr2, uint64_t cr3, uint64_t cr4, uint64_t efer) {
  const Env& e = v.env();
  e.cr(0) = cr0;
  e.cr(2) = cr2;
  e.cr(3) = cr3;
  e.cr(4) = cr4;
  e.efer() = efer;
}

}  // namespace

void getRegs(Vcpu& v, uint8_t* out) {
  const Env& e = v.env();
  for (int i = 0; i < 16; i++) put<uint64_t>(out, 8 * static_cast<size_t>(i), e.reg(KVM_TO_QEMU[i]));
  put<uint64_t>(out, 128, e.eip());
  put<uint64_t>(out, 136, v.cpu().rflags());
}

void setRegs(Vcpu& v, const uint8_t* in) {
  const Env& e = v.env();
  for (int i = 0; i < 16; i++) e.reg(KVM_TO_QEMU[i]) = get<uint64_t>(in, 8 * static_cast<size_t>(i));
  e.eip() = get<uint64_t>(in, 128);
  // Bit 1 is always set; VM/IOPL/TF changes reach hflags below.
  uint64_t rflags = (get<uint64_t>(in, 136) & 0x3f7fd7ull) | 2;
  v.cpu().setRflags(rflags);
  e.updateHflags(rflags);
}

void getSregs(Vcpu& v, uint8_t* out) {
  std::memset(out, 0, KVM_SREGS_SIZE);
  const Env& e = v.env();
  for (int w = 0; w < 8; w++) segToKvm(segRef(e, w), out + 24 * static_cast<size_t>(w));
  put<uint64_t>(out, 192, e.gdt().base);
  put<uint16_t>(out, 200, static_cast<uint16_t>(e.gdt().limit));
  put<uint64_t>(out, 208, e.idt().base);
  put<uint16_t>(out, 216, static_cast<uint16_t>(e.idt().limit));
  put<uint64_t>(out, 224, e.cr(0));
  put<uint64_t>(out, 232, e.cr(2));
  put<uint64_t>(out, 240, e.cr(3));
  put<uint64_t>(out, 248, e.cr(4));
  put<uint64_t>(out, 256, v.cr8());
  put<uint64_t>(out, 264, e.efer());
  put<uint64_t>(out, 272, v.apicBase());
}

bool setSregs(Vcpu& v, const uint8_t* in, std::string* why) {
  const uint64_t cr0 = get<uint64_t>(in, 224), cr2 = get<uint64_t>(in, 232), cr3 = get<uint64_t>(in, 240),
                 cr4 = get<uint64_t>(in, 248), cr8 = get<uint64_t>(in, 256), efer = get<uint64_t>(in, 264),
                 apicBase = get<uint64_t>(in, 272);
  if (!checkControl(cr0, cr3, cr4, efer, why)) return false;
  if (cr8 > 15) return *why = "CR8 above 15", false;
  if (apicBase & ~((((1ull << PHYS_BITS) - 1) & ~0xfffull) | (1u << 8) | (1u << 11)))
    return *why = "APIC base has reserved or x2APIC bits set", false;
  const Env& e = v.env();
  for (int w = 0; w < 8; w++) segRef(e, w) = kvmToSeg(in + 24 * static_cast<size_t>(w));
  e.gdt().base = get<uint64_t>(in, 192);
  e.gdt().limit = get<uint16_t>(in, 200);
  e.idt().base = get<uint64_t>(in, 208);
  e.idt().limit = get<uint16_t>(in, 216);
  commitControl(v, cr0, cr2, cr3, cr4, efer);
  v.setCr8(cr8);
  v.setApicBase(apicBase);
  e.updateHflags(v.cpu().rflags());
  v.flushTlb();
  return true;
}

void saveState(Vcpu& v, uint8_t* out) {
  std::memset(out, 0, rec::SIZE);
  const Env& e = v.env();
  uc_engine* uc = v.uc();
  put<uint32_t>(out, rec::MAGIC_OFF, rec::MAGIC);
  put<uint32_t>(out, rec::SIZE_OFF, static_cast<uint32_t>(rec::SIZE));
  for (int i = 0; i < 16; i++) put<uint64_t>(out, rec::GPR + 8 * static_cast<size_t>(i), e.reg(KVM_TO_QEMU[i]));
  put<uint64_t>(out, rec::RIP, e.eip());
  put<uint64_t>(out, rec::RFLAGS, v.cpu().rflags());
  const SegCache* segs[8] = {&e.seg(ES), &e.seg(CS), &e.seg(SS), &e.seg(DS), &e.seg(FS), &e.seg(GS), &e.ldt(), &e.tr()};
  for (size_t i = 0; i < 8; i++) {
    uint8_t* o = out + rec::SEGS + rec::SEG_SIZE * i;
    put<uint64_t>(o, 0, segs[i]->base);
    put<uint32_t>(o, 8, segs[i]->limit);
    put<uint32_t>(o, 12, segs[i]->selector);
    put<uint32_t>(o, 16, segs[i]->flags);
  }
  put<uint64_t>(out, rec::GDT_BASE, e.gdt().base);
  put<uint32_t>(out, rec::GDT_LIMIT, e.gdt().limit);
  put<uint64_t>(out, rec::IDT_BASE, e.idt().base);
  put<uint32_t>(out, rec::IDT_LIMIT, e.idt().limit);
  put<uint64_t>(out, rec::CR0, e.cr(0));
  put<uint64_t>(out, rec::CR2, e.cr(2));
  put<uint64_t>(out, rec::CR3, e.cr(3));
  put<uint64_t>(out, rec::CR4, e.cr(4));
  put<uint64_t>(out, rec::CR8, v.cr8());
  put<uint64_t>(out, rec::EFER, e.efer());
  put<uint64_t>(out, rec::APIC_BASE, v.apicBase());
  for (int i = 0; i < 8; i++) put<uint64_t>(out, rec::DR + 8 * static_cast<size_t>(i), e.dr(i));
  uint16_t w16;
  uc_reg_read(uc, UC_X86_REG_FPCW, &w16);
  put(out, rec::FCW, w16);
  uc_reg_read(uc, UC_X86_REG_FPSW, &w16);
  put(out, rec::FSW, w16);
  uc_reg_read(uc, UC_X86_REG_FPTAG, &w16);
  put(out, rec::FTW, w16);
  uc_reg_read(uc, UC_X86_REG_FOP, &w16);
  put(out, rec::FOP, w16);
  uint64_t w64;
  uc_reg_read(uc, UC_X86_REG_FIP, &w64);
  put(out, rec::FIP, w64);
  uc_reg_read(uc, UC_X86_REG_FDP, &w64);
  put(out, rec::FDP, w64);
  uc_reg_read(uc, UC_X86_REG_FCS, &w16);
  put(out, rec::FCS, w16);
  uc_reg_read(uc, UC_X86_REG_FDS, &w16);
  put(out, rec::FDS, w16);
  uint32_t mxcsr;
  uc_reg_read(uc, UC_X86_REG_MXCSR, &mxcsr);
  put(out, rec::MXCSR, mxcsr);
  for (int i = 0; i < 8; i++) uc_reg_read(uc, UC_X86_REG_ST0 + i, out + rec::ST + 16 * static_cast<size_t>(i));
  for (int i = 0; i < 16; i++) {
    int id = i < 8 ? UC_X86_REG_XMM0 + i : UC_X86_REG_XMM8 + (i - 8);
    uc_reg_read(uc, id, out + rec::XMM + 16 * static_cast<size_t>(i));
  }
  for (size_t i = 0; i < 12; i++) {
    uint64_t value = 0;
    if (v.readMsr(rec::MSR_LIST[i], &value) != InterposeTarget::Handled) {
      uc_x86_msr msr{rec::MSR_LIST[i], 0};
      uc_reg_read(uc, UC_X86_REG_MSR, &msr);
      value = msr.value;
    }
    put<uint64_t>(out, rec::MSRS + 8 * i, value);
  }
  put<uint32_t>(out, rec::RUN_STATE, static_cast<uint32_t>(v.state()));
  uint32_t ev = ((e.hflags2() & HF2_NMI) ? rec::EVENT_NMI_BLOCKED : 0) | ((e.hflags() & HF_INHIBIT_IRQ) ? rec::EVENT_SHADOW : 0) |
                (v.nmiPending() ? rec::EVENT_NMI_PENDING : 0);
  put<uint32_t>(out, rec::EVENT_FLAGS, ev);
}

bool restoreState(Vcpu& v, const uint8_t* in, size_t size, std::string* why) {
  if (size != rec::SIZE || get<uint32_t>(in, rec::MAGIC_OFF) != rec::MAGIC || get<uint32_t>(in, rec::SIZE_OFF) != rec::SIZE)
    return *why = "not a soft vCPU state record of this version", false;
  const uint64_t cr0 = get<uint64_t>(in, rec::CR0), cr2 = get<uint64_t>(in, rec::CR2), cr3 = get<uint64_t>(in, rec::CR3),
                 cr4 = get<uint64_t>(in, rec::CR4), cr8 = get<uint64_t>(in, rec::CR8), efer = get<uint64_t>(in, rec::EFER),
                 apicBase = get<uint64_t>(in, rec::APIC_BASE);
  if (!checkControl(cr0, cr3, cr4, efer, why)) return false;
  if (cr8 > 15) return *why = "CR8 above 15", false;
  if (apicBase & ~((((1ull << PHYS_BITS) - 1) & ~0xfffull) | (1u << 8) | (1u << 11)))
    return *why = "APIC base has reserved or x2APIC bits set", false;
  const uint32_t runState = get<uint32_t>(in, rec::RUN_STATE), events = get<uint32_t>(in, rec::EVENT_FLAGS);
  if (runState > STATE_WAIT_SIPI) return *why = "unknown run state", false;
  if (events & ~(rec::EVENT_NMI_BLOCKED | rec::EVENT_SHADOW | rec::EVENT_NMI_PENDING)) return *why = "unknown event flags", false;
  const uint32_t mxcsr = get<uint32_t>(in, rec::MXCSR);
  if (mxcsr & ~0xffffu) return *why = "MXCSR has reserved bits set", false;
  for (size_t i = 0; i < 8; i++) {
    const uint8_t* o = in + rec::SEGS + rec::SEG_SIZE * i;
    if (get<uint32_t>(o, 12) > 0xffff || (get<uint32_t>(o, 16) & ~0x00f0ff00u) || get<uint32_t>(o, 20) != 0)
      return *why = "segment register " + std::to_string(i) + " has an impossible selector or flags", false;
  }
  if (get<uint32_t>(in, rec::GDT_LIMIT) > 0xffff || get<uint32_t>(in, rec::IDT_LIMIT) > 0xffff)
    return *why = "descriptor table limit above 0xffff", false;

  const Env& e = v.env();
  uc_engine* uc = v.uc();
  for (int i = 0; i < 16; i++) e.reg(KVM_TO_QEMU[i]) = get<uint64_t>(in, rec::GPR + 8 * static_cast<size_t>(i));
  e.eip() = get<uint64_t>(in, rec::RIP);
  SegCache* segs[8] = {&e.seg(ES), &e.seg(CS), &e.seg(SS), &e.seg(DS), &e.seg(FS), &e.seg(GS), &e.ldt(), &e.tr()};
  for (size_t i = 0; i < 8; i++) {
    const uint8_t* o = in + rec::SEGS + rec::SEG_SIZE * i;
    *segs[i] = SegCache{get<uint32_t>(o, 12), get<uint64_t>(o, 0), get<uint32_t>(o, 8), get<uint32_t>(o, 16)};
  }
  e.gdt() = SegCache{0, get<uint64_t>(in, rec::GDT_BASE), get<uint32_t>(in, rec::GDT_LIMIT), 0};
  e.idt() = SegCache{0, get<uint64_t>(in, rec::IDT_BASE), get<uint32_t>(in, rec::IDT_LIMIT), 0};
  commitControl(v, cr0, cr2, cr3, cr4, efer);
  v.setCr8(cr8);
  v.setApicBase(apicBase);
  for (int i = 0; i < 8; i++) e.dr(i) = get<uint64_t>(in, rec::DR + 8 * static_cast<size_t>(i));
  // x87: status word first (it holds TOP, which ST(i) are relative to).
  uint16_t w16 = get<uint16_t>(in, rec::FSW);
  uc_reg_write(uc, UC_X86_REG_FPSW, &w16);
  w16 = get<uint16_t>(in, rec::FCW);
  uc_reg_write(uc, UC_X86_REG_FPCW, &w16);
  for (int i = 0; i < 8; i++) uc_reg_write(uc, UC_X86_REG_ST0 + i, in + rec::ST + 16 * static_cast<size_t>(i));
  w16 = get<uint16_t>(in, rec::FTW);
  uc_reg_write(uc, UC_X86_REG_FPTAG, &w16);
  w16 = get<uint16_t>(in, rec::FOP);
  uc_reg_write(uc, UC_X86_REG_FOP, &w16);
  uint64_t w64 = get<uint64_t>(in, rec::FIP);
  uc_reg_write(uc, UC_X86_REG_FIP, &w64);
  w64 = get<uint64_t>(in, rec::FDP);
  uc_reg_write(uc, UC_X86_REG_FDP, &w64);
  w16 = get<uint16_t>(in, rec::FCS);
  uc_reg_write(uc, UC_X86_REG_FCS, &w16);
  w16 = get<uint16_t>(in, rec::FDS);
  uc_reg_write(uc, UC_X86_REG_FDS, &w16);
  uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr);
  for (int i = 0; i < 16; i++) {
    int id = i < 8 ? UC_X86_REG_XMM0 + i : UC_X86_REG_XMM8 + (i - 8);
    uc_reg_write(uc, id, in + rec::XMM + 16 * static_cast<size_t>(i));
  }
  for (size_t i = 0; i < 12; i++) {
    uint64_t value = get<uint64_t>(in, rec::MSRS + 8 * i);
    if (v.writeMsr(rec::MSR_LIST[i], value) == InterposeTarget::PassToUnicorn) {
      uc_x86_msr msr{rec::MSR_LIST[i], value};
      uc_reg_write(uc, UC_X86_REG_MSR, &msr);
    }
  }
  // Last: RFLAGS (through cpu_load_eflags), then everything derived from it all.
  const uint64_t rflags = (get<uint64_t>(in, rec::RFLAGS) & 0x3f7fd7ull) | 2;
  v.cpu().setRflags(rflags);
  e.hflags() = (e.hflags() & ~HF_INHIBIT_IRQ) | ((events & rec::EVENT_SHADOW) ? HF_INHIBIT_IRQ : 0);
  e.hflags2() = (e.hflags2() & ~HF2_NMI) | ((events & rec::EVENT_NMI_BLOCKED) ? HF2_NMI : 0);
  e.oldException() = -1;
  e.updateHflags(rflags);
  v.setState(static_cast<int>(runState));
  v.setNmiPending((events & rec::EVENT_NMI_PENDING) != 0);
  v.flushTlb();
  return true;
}

}  // namespace soft
