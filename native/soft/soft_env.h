// Direct access to an engine's CPUX86State (QEMU 5.0's x86 CPU state, the
// one inside Unicorn 2.0.x).
//
// Why: Unicorn's register API cannot express what a hypervisor must set. In a
// UC_MODE_64 engine, writing CS/SS/DS/ES sets only the selector (no hidden
// part), writing CR0/CR3/CR4 stores the value without recomputing the
// translation flags (hflags: CPL, CS32/CS64, PE, LMA...), and no API call
// changes the CPL at all. Event delivery from CPL3 to CPL0, the loader's flat
// 32-bit PVH state, a real-mode AP at its SIPI vector and an exact snapshot
// restore all need exactly that. So the addon finds the offsets of the fields
// it needs inside CPUX86State (writing known values through the API and
// looking for them in a uc_context_save copy, which is a memcpy of the state),
// captures each engine's state pointer (a TCG helper receives it as its first
// argument, see soft_interpose.cc), and checks the pointer against a context
// copy. Nothing is assumed that was not checked on this very library: if a
// check fails, the soft CPU is unavailable with the reason, never misused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <unicorn/unicorn.h>

namespace soft {

// QEMU's SegmentCache: selector, base, limit (byte granular), flags (the
// descriptor's high dword bits 8..23: type, S, DPL, P, AVL, L, D/B, G).
struct SegCache {
  uint32_t selector;
  uint64_t base;
  uint32_t limit;
  uint32_t flags;
};
static_assert(sizeof(SegCache) == 24, "SegmentCache is 24 bytes on x86-64 hosts");

enum Seg { ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5 };

// Descriptor flag bits (QEMU's DESC_*_MASK, SDM vol. 3 3.4.5).
constexpr uint32_t DESC_G = 1u << 23, DESC_B = 1u << 22, DESC_L = 1u << 21, DESC_AVL = 1u << 20;
constexpr uint32_t DESC_P = 1u << 15, DESC_S = 1u << 12, DESC_DPL_SHIFT = 13, DESC_TYPE_SHIFT = 8;
constexpr uint32_t DESC_CS = 1u << 11, DESC_C = 1u << 10, DESC_R = 1u << 9, DESC_E = 1u << 10, DESC_W = 1u << 9;
constexpr uint32_t DESC_A = 1u << 8;

// hflags bits (QEMU target/i386/cpu.h HF_*).
constexpr uint32_t HF_CPL_MASK = 3, HF_INHIBIT_IRQ = 1u << 3, HF_CS32 = 1u << 4, HF_SS32 = 1u << 5,
                   HF_ADDSEG = 1u << 6, HF_PE = 1u << 7, HF_TF = 1u << 8, HF_MP = 1u << 9, HF_EM = 1u << 10,
                   HF_TS = 1u << 11, HF_IOPL = 3u << 12, HF_LMA = 1u << 14, HF_CS64 = 1u << 15,
                   HF_VM = 1u << 17, HF_OSFXSR = 1u << 22;
constexpr uint32_t HF2_NMI = 1u << 2;  // "CPU serving NMI": set on NMI delivery, cleared by iret

// Offsets (bytes from the start of CPUX86State) of what the addon touches.
struct EnvLayout {
  bool ok = false;
  std::string why;     // when !ok
  size_t size = 0;     // bytes uc_context_save copies (offsetof retaddr)
  size_t ctxData = 0;  // where the state starts inside a uc_context
  size_t regs = 0, eip = 0, ccSrc = 0, ccOp = 0, df = 0, hflags = 0, hflags2 = 0, segs = 0, ldt = 0, tr = 0,
         gdt = 0, idt = 0, cr = 0, efer = 0, errorCode = 0, exceptionIsInt = 0, exceptionNextEip = 0, dr = 0,
         oldException = 0, tscOffset = 0;
  // MSR-backed fields, found by writing each MSR through the API.
  size_t sysenterCs = 0, sysenterEsp = 0, sysenterEip = 0, star = 0, lstar = 0, cstar = 0, fmask = 0,
         kernelGsBase = 0;
};

// Finds and checks the layout on a scratch engine. Must be called once, on
// the thread that will run engines, with env capture working (see
// soft_interpose.h: captureEnv); `scratch` is mapped with a page at 0x1000
// for the check's code.
const EnvLayout& envLayout();

// Typed view of one engine's state at a checked layout.
class Env {
 public:
  Env() = default;
  Env(uint8_t* base, const EnvLayout* layout) : p_(base), l_(layout) {}
  bool valid() const { return p_ != nullptr; }
  uint8_t* raw() const { return p_; }

  uint64_t& reg(int i) const { return at<uint64_t>(l_->regs + 8 * i); }
  uint64_t& eip() const { return at<uint64_t>(l_->eip); }
  uint32_t& hflags() const { return at<uint32_t>(l_->hflags); }
  uint32_t& hflags2() const { return at<uint32_t>(l_->hflags2); }
  SegCache& seg(int s) const { return at<SegCache>(l_->segs + 24 * s); }
  SegCache& ldt() const { return at<SegCache>(l_->ldt); }
  SegCache& tr() const { return at<SegCache>(l_->tr); }
  SegCache& gdt() const { return at<SegCache>(l_->gdt); }
  SegCache& idt() const { return at<SegCache>(l_->idt); }
  uint64_t& cr(int i) const { return at<uint64_t>(l_->cr + 8 * i); }
  uint64_t& efer() const { return at<uint64_t>(l_->efer); }
  int32_t& errorCode() const { return at<int32_t>(l_->errorCode); }
  int32_t& exceptionIsInt() const { return at<int32_t>(l_->exceptionIsInt); }
  int32_t& oldException() const { return at<int32_t>(l_->oldException); }
  uint64_t& tscOffset() const { return at<uint64_t>(l_->tscOffset); }
  uint64_t& dr(int i) const { return at<uint64_t>(l_->dr + 8 * i); }
  uint32_t& sysenterCs() const { return at<uint32_t>(l_->sysenterCs); }
  uint64_t& sysenterEsp() const { return at<uint64_t>(l_->sysenterEsp); }
  uint64_t& sysenterEip() const { return at<uint64_t>(l_->sysenterEip); }
  uint64_t& star() const { return at<uint64_t>(l_->star); }
  uint64_t& lstar() const { return at<uint64_t>(l_->lstar); }
  uint64_t& cstar() const { return at<uint64_t>(l_->cstar); }
  uint64_t& fmask() const { return at<uint64_t>(l_->fmask); }

  int cpl() const { return static_cast<int>(hflags() & HF_CPL_MASK); }
  bool longMode() const { return (hflags() & HF_LMA) != 0; }
  bool code64() const { return (hflags() & HF_CS64) != 0; }
  bool protectedMode() const { return (cr(0) & 1) != 0; }

  // QEMU's x86_update_hflags (target/i386/cpu.c): recomputes every hflags bit
  // that follows from CR0/CR4/EFER/EFLAGS and the CS/SS/DS/ES caches, keeping
  // the others (interrupt shadow, SMM, ...). Call after changing any of them.
  void updateHflags(uint64_t eflags) const;

 private:
  template <typename T>
  T& at(size_t off) const { return *reinterpret_cast<T*>(p_ + off); }
  uint8_t* p_ = nullptr;
  const EnvLayout* l_ = nullptr;
};

}  // namespace soft
