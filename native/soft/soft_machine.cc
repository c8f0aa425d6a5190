// The soft machine (see soft_machine.h).
//
// How Unicorn 2.0.1 reports what a vCPU does, as measured (docs/soft-cpu.md
// has the table; the probes are the self-test below and the tests in
// test/kernel/soft):
//  - #PF, #GP, #DE, #NM, #SS, #NP, #TS, #AC...: UC_HOOK_INTR with the vector,
//    RIP restored to the faulting instruction, the error code and (for #PF)
//    CR2 set by QEMU's own checks/page walk; QEMU's double-fault tracking
//    (old_exception) is never reset by Unicorn, so the addon resets it after
//    each delivery (or a second #PF would arrive as #DF).
//  - int n / int3 / into: UC_HOOK_INTR with exception_is_int = 1 and RIP
//    already past the instruction.
//  - #UD (ud2, unknown opcodes, features the engine lacks): not through
//    UC_HOOK_INTR but UC_HOOK_INSN_INVALID (else UC_ERR_INSN_INVALID), RIP at
//    the instruction.
//  - hlt: uc_emu_start returns UC_ERR_OK with RIP after it, nothing else
//    telling it from uc_emu_stop: the addon's helper_hlt says.
//  - an access to a linear address that is not itself a mapped physical
//    address: UC_ERR_READ/WRITE/FETCH_UNMAPPED before any page walk, RIP not
//    restored (the paging fix in soft_interpose.cc removes this case).
//  - a fetch from MMIO: UC_ERR_FETCH_PROT.
#include "soft_machine.h"

#include <sys/mman.h>

#include <algorithm>
#include <initializer_list>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

#include "soft_cpuid.h"

extern "C" void* memory_mapping(void* uc, uint64_t address);  // soft_interpose.cc (calls Unicorn's first)

namespace soft {

using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t EFER_SCE = 1, EFER_LME = 1u << 8, EFER_LMA = 1u << 10, EFER_NXE = 1u << 11;
constexpr int R_EAX = 0, R_ECX = 1, R_EDX = 2, R_EBX = 3, R_ESP = 4;

std::string hex(uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

}  // namespace

// ---- The watchdog: bounds every run and re-sends stops. ----
//
// One thread for the process. While a run is in progress it stops the
// engine at the run's deadline, and it repeats any stop (deadline or kick)
// every millisecond until the run ends: uc_emu_stop is lost when it lands in
// the few instructions at the start of uc_emu_start that reset the stop
// request, so a single stop cannot be trusted to end a busy guest's run.
struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool sleepingForever = true;
  Clock::time_point wake{};
  std::vector<Machine*> machines;  // index = token; nullptr when free

  static Watchdog& get() {
    // Never destroyed: the thread waits on it until the process ends.
    static Watchdog* w = new Watchdog;
    return *w;
  }

  void ensureThread() {
    if (started) return;
    started = true;
    std::thread([this] { loop(); }).detach();
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      auto now = Clock::now();
      bool any = false;
      Clock::time_point next{};
      auto consider = [&](Clock::time_point t) {
        if (!any || t < next) next = t;
        any = true;
      };
      for (Machine* m : machines) {
        if (m == nullptr || m->runningUc_ == nullptr) continue;
        if (!m->deadlineHit_ && now >= m->deadline_) {
          m->deadlineHit_ = true;
          m->stopWanted_ = true;
        }
        if (m->stopWanted_) {
          if (!m->stopSent_ || now - m->lastStop_ >= std::chrono::milliseconds(1)) {
            uc_emu_stop(m->runningUc_);
            m->lastStop_ = now;
            m->stopSent_ = true;
          }
          consider(m->lastStop_ + std::chrono::milliseconds(1));
        } else {
          consider(m->deadline_);
        }
      }
      sleepingForever = !any;
      wake = next;
      if (any) cv.wait_until(lock, next);
      else cv.wait(lock);
    }
  }
};

namespace {

// The scratch page a new engine runs its one hlt on (state pointer capture).
constexpr uint64_t CAPTURE_GPA = 0x1000;
uint8_t* capturePage() {
  static uint8_t* page = [] {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return static_cast<uint8_t*>(nullptr);
    std::memset(p, 0xf4, 4096);  // hlt
    return static_cast<uint8_t*>(p);
  }();
  return page;
}

// ---- Hook trampolines (engine thread, inside uc_emu_start) ----

inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

void fillPio(uint8_t* b, bool out, uint32_t port, int size, uint32_t value) {
  put32(b + EXIT_REASON, KVM_EXIT_IO);
  b[EXIT_IO] = out ? 1 : 0;
  b[EXIT_IO + 1] = static_cast<uint8_t>(size);
  put16(b + EXIT_IO + 2, static_cast<uint16_t>(port));
  put32(b + EXIT_IO + 4, 1);
  put64(b + EXIT_IO + 8, EXIT_PIO_DATA);
  put32(b + EXIT_PIO_DATA, value);
}

void onOut(uc_engine*, uint32_t port, int size, uint32_t value, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  if (v->jsThrew() || v->ioStopped()) return;
  Machine* m = v->machine();
  fillPio(m->exitBuffer(), true, port, size, value);
  v->afterExit(m->sink()->onExit());
}

uint32_t onIn(uc_engine*, uint32_t port, int size, void* user) {
  auto* v = static_cast<Vcpu*>(user);
  // All ones: what a read with no device behind it returns.
  uint32_t none = size == 1 ? 0xffu : size == 2 ? 0xffffu : 0xffffffffu;
  if (v->jsThrew() || v->ioStopped()) return none;
  Machine* m = v->machine();
  uint8_t* b = m->exitBuffer();
  fillPio(b, false, port, size, none);
  v->afterExit(m->sink()->onExit());
  uint32_t value = 0;
  std::memcpy(&value, b + EXIT_PIO_DATA, 4);
  return size == 4 ? value : (value & none);
}

void fillMmio(uint8_t* b, uint64_t address, unsigned size, bool write, uint64_t value) {
  put32(b + EXIT_REASON, KVM_EXIT_MMIO);
  put64(b + EXIT_IO, address);
  put64(b + EXIT_IO + 8, value);
  put32(b + EXIT_IO + 16, size);
  b[EXIT_IO + 20] = write ? 1 : 0;
}

uint64_t sizeMask(unsigned size) { return size >= 8 ? ~0ull : ((1ull << (8 * size)) - 1); }

uint64_t onMmioRead(uc_engine*, uint64_t offset, unsigned size, void* user) {
  auto* bind = static_cast<MmioBinding*>(user);
  Vcpu* v = bind->vcpu;
  if (v->jsThrew() || v->ioStopped()) return sizeMask(size);
  Machine* m = v->machine();
  uint8_t* b = m->exitBuffer();
  fillMmio(b, bind->base + offset, size, false, 0);
  v->afterExit(m->sink()->onExit());
  uint64_t value = 0;
  std::memcpy(&value, b + EXIT_IO + 8, 8);
  return value & sizeMask(size);
}

void onMmioWrite(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user) {
  auto* bind = static_cast<MmioBinding*>(user);
  Vcpu* v = bind->vcpu;
  if (v->jsThrew() || v->ioStopped()) return;
  Machine* m = v->machine();
  fillMmio(m->exitBuffer(), bind->base + offset, size, true, value & sizeMask(size));
  v->afterExit(m->sink()->onExit());
}

void onIntrHook(uc_engine*, uint32_t intno, void* user) { static_cast<Vcpu*>(user)->onIntr(intno); }
bool onInvalidHook(uc_engine*, void* user) { return static_cast<Vcpu*>(user)->onInvalidInsn(); }
bool onCpuidHook(uc_engine*, void* user) {
  static_cast<Vcpu*>(user)->onCpuid();
  return true;  // skip QEMU's own CPUID
}
bool onUnmappedHook(uc_engine*, uc_mem_type type, uint64_t address, int size, int64_t, void* user) {
  static_cast<Vcpu*>(user)->onUnmapped(static_cast<int>(type), address, size);
  return false;  // not handled: the engine stops with the error
}

}  // namespace

// ---------------------------------------------------------------- Vcpu ----

Vcpu::~Vcpu() { closeEngine(); }

void Vcpu::closeEngine() {
  if (uc_ != nullptr) uc_close(uc_);
  uc_ = nullptr;
  env_ = Env();
  hooks_.clear();
  mmio_.clear();
  cpuState_ = nullptr;
  catchAll_ = nullptr;
}

bool Vcpu::openEngine(std::string* why) {
  const EnvLayout& layout = envLayout();
  if (!layout.ok) {
    *why = layout.why;
    return false;
  }
  ram_ = &machine_->ram();
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc_) != UC_ERR_OK) {
    *why = "uc_open(UC_ARCH_X86, UC_MODE_64) failed";
    uc_ = nullptr;
    return false;
  }
  // No exit addresses: runs end only by hlt, a stop or an error.
  uc_ctl_exits_enable(uc_);
  // The engine's state pointer: a lone hlt on a scratch page, mapped before
  // guest RAM takes its place.
  uint8_t* page = capturePage();
  if (page == nullptr || uc_mem_map_ptr(uc_, CAPTURE_GPA, 4096, UC_PROT_ALL, page) != UC_ERR_OK) {
    *why = "scratch page for the state pointer could not be mapped";
    return false;
  }
  t_running = this;  // only for noteCpuState: envPtr() is still null, so no replacement acts
  t_capturing = true;
  t_capturedEnv = nullptr;
  uc_err e = uc_emu_start(uc_, CAPTURE_GPA, 0, 0, 0);
  t_capturing = false;
  t_running = nullptr;
  uint8_t* captured = t_capturedEnv;
  // Drop the hlt's translated block before the page goes (unmapping does
  // not): guest RAM may reuse its place in the engine's RAM address space.
  // A full tb_flush would instead clear the whole code buffer (seconds, and
  // every page of it touched).
  uc_ctl_remove_cache(uc_, CAPTURE_GPA, CAPTURE_GPA + 1);
  uc_mem_unmap(uc_, CAPTURE_GPA, 4096);
  if (e != UC_ERR_OK || captured == nullptr) {
    *why = std::string("state pointer capture failed: ") + uc_strerror(e);
    return false;
  }
  uc_context* ctx = nullptr;
  if (uc_context_alloc(uc_, &ctx) != UC_ERR_OK) {
    *why = "uc_context_alloc failed";
    return false;
  }
  uc_context_save(uc_, ctx);
  bool same = std::memcmp(captured, reinterpret_cast<uint8_t*>(ctx) + layout.ctxData, layout.size) == 0;
  uc_context_free(ctx);
  if (!same) {
    *why = "captured state pointer does not match the engine's saved context";
    return false;
  }
  env_ = Env(captured, &layout);
  flushTlb();

  for (const GuestRam::Region& r : ram_->regions) {
    if (uc_mem_map_ptr(uc_, r.gpa, r.size, UC_PROT_ALL, r.host) != UC_ERR_OK) {
      *why = "uc_mem_map_ptr of RAM at " + hex(r.gpa) + " (" + std::to_string(r.size) + " bytes) failed";
      return false;
    }
  }
  for (const MmioRange& r : machine_->mmio()) {
    auto bind = std::make_unique<MmioBinding>(MmioBinding{this, r.base});
    t_mappingMmio = true;
    uc_err me = uc_mmio_map(uc_, r.base, r.size, onMmioRead, bind.get(), onMmioWrite, bind.get());
    t_mappingMmio = false;
    if (me != UC_ERR_OK) {
      *why = "uc_mmio_map at " + hex(r.base) + " (" + std::to_string(r.size) + " bytes) failed: " + uc_strerror(me);
      return false;
    }
    mmio_.push_back(std::move(bind));
  }
  catchAll_ = ram_->regions.empty() ? nullptr : memory_mapping(uc_, ram_->regions[0].gpa);

  auto add = [&](int type, void* cb, int insn = -1) {
    uc_hook h;
    uc_err he = insn >= 0 ? uc_hook_add(uc_, &h, type, cb, this, 1, 0, insn) : uc_hook_add(uc_, &h, type, cb, this, 1, 0);
    if (he == UC_ERR_OK) hooks_.push_back(h);
    return he == UC_ERR_OK;
  };
  if (!add(UC_HOOK_INSN, reinterpret_cast<void*>(onOut), UC_X86_INS_OUT) ||
      !add(UC_HOOK_INSN, reinterpret_cast<void*>(onIn), UC_X86_INS_IN) ||
      !add(UC_HOOK_INSN, reinterpret_cast<void*>(onCpuidHook), UC_X86_INS_CPUID) ||
      !add(UC_HOOK_INTR, reinterpret_cast<void*>(onIntrHook)) ||
      !add(UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(onInvalidHook)) ||
      !add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_FETCH_PROT, reinterpret_cast<void*>(onUnmappedHook))) {
    *why = "uc_hook_add failed";
    return false;
  }
  return true;
}

bool Vcpu::create(std::string* why) {
  if (!openEngine(why)) {
    closeEngine();
    return false;
  }
  resetState(false);
  return true;
}

void Vcpu::flushTlb() {
  if (cpuState_ != nullptr) soft::flushTlb(cpuState_);
}

void Vcpu::resetState(bool init) {
  // SDM vol. 3 table 9-1, as QEMU's x86_cpu_reset sets it.
  for (int i = 0; i < 16; i++) env_.reg(i) = 0;
  env_.reg(R_EDX) = 0x663;  // processor signature (CPUID 1 EAX)
  env_.eip() = 0xfff0;
  env_.seg(CS) = SegCache{0xf000, 0xffff0000ull, 0xffff, DESC_P | DESC_S | DESC_CS | DESC_R | DESC_A};
  for (int s : {ES, SS, DS, FS, GS}) env_.seg(s) = SegCache{0, 0, 0xffff, DESC_P | DESC_S | DESC_W | DESC_A};
  env_.gdt() = SegCache{0, 0, 0xffff, 0};
  env_.idt() = SegCache{0, 0, 0xffff, 0};
  env_.ldt() = SegCache{0, 0, 0xffff, DESC_P | (2u << DESC_TYPE_SHIFT)};
  env_.tr() = SegCache{0, 0, 0xffff, DESC_P | (11u << DESC_TYPE_SHIFT)};
  env_.cr(0) = 0x60000010;
  env_.cr(2) = 0;
  env_.cr(3) = 0;
  env_.cr(4) = 0;
  env_.efer() = 0;
  for (int i = 0; i < 4; i++) env_.dr(i) = 0;
  env_.dr(6) = 0xffff0ff0;
  env_.dr(7) = 0x400;
  env_.oldException() = -1;
  env_.hflags() &= ~HF_INHIBIT_IRQ;
  env_.hflags2() &= ~HF2_NMI;
  cpu().setRflags(0x2);
  env_.updateHflags(0x2);
  cr8_ = 0;
  if (!init) {
    apicBase_ = 0xfee00000ull | (1u << 11) | (index_ == 0 ? (1u << 8) : 0);
    env_.tscOffset() = static_cast<uint64_t>(-static_cast<int64_t>(clockNs()));  // TSC counts from 0
    uint16_t fcw = 0x37f, ftw = 0xffff;
    uint32_t mxcsr = 0x1f80;
    uc_reg_write(uc_, UC_X86_REG_FPCW, &fcw);
    uc_reg_write(uc_, UC_X86_REG_FPTAG, &ftw);
    uc_reg_write(uc_, UC_X86_REG_MXCSR, &mxcsr);
  }
  state_ = (index_ == 0 && !init) ? STATE_RUNNING : STATE_WAIT_SIPI;
  nmiPending_ = false;
  flushTlb();
}

void Vcpu::startAt(int vector) {
  uint32_t sel = static_cast<uint32_t>(vector & 0xff) << 8;
  env_.seg(CS) = SegCache{sel, static_cast<uint64_t>(sel) << 4, 0xffff, DESC_P | DESC_S | DESC_CS | DESC_R | DESC_A};
  env_.eip() = 0;
  env_.updateHflags(cpu().rflags());
  state_ = STATE_RUNNING;
}

uint32_t Vcpu::flags() const {
  uint32_t f = 0;
  if (cpu().rflags() & RF_IF) f |= FLAG_IF;
  if (env_.hflags() & HF_INHIBIT_IRQ) f |= FLAG_SHADOW;
  if (env_.hflags2() & HF2_NMI) f |= FLAG_NMI_BLOCKED;
  if (env_.longMode()) f |= FLAG_LONG;
  if (env_.protectedMode()) f |= FLAG_PROTECTED;
  if (nmiPending_) f |= FLAG_NMI_PENDING;
  return f;
}

int Vcpu::raiseNmi() {
  if (state_ == STATE_WAIT_SIPI) return 0;  // a CPU waiting for SIPI ignores NMIs
  nmiPending_ = true;
  return deliverHeldNmi();
}

int Vcpu::deliverHeldNmi() {
  if (!nmiPending_ || (env_.hflags2() & HF2_NMI) || state_ == STATE_WAIT_SIPI) return 0;
  nmiPending_ = false;
  Event e;
  e.vector = 2;
  e.kind = EventKind::Nmi;
  return deliver(e);
}

std::string Vcpu::where() const {
  std::ostringstream s;
  s << "vCPU " << index_ << ", RIP " << hex(env_.eip()) << ", ";
  uint64_t rf = cpu().rflags();
  if (!env_.protectedMode()) s << "real mode";
  else if (rf & RF_VM) s << "virtual-8086 mode";
  else if (env_.code64()) s << "64-bit mode";
  else if (env_.longMode()) s << "compatibility mode";
  else if (env_.hflags() & HF_CS32) s << "32-bit protected mode";
  else s << "16-bit protected mode";
  s << ", CPL " << env_.cpl();
  return s.str();
}

int Vcpu::deliver(const Event& e) {
  std::string why;
  switch (deliverEvent(cpu(), e, &why)) {
    case DeliverResult::Delivered:
      if (state_ == STATE_HALTED) state_ = STATE_RUNNING;
      return 0;
    case DeliverResult::TripleFault:
      lastError_ = "triple fault (" + where() + ")";
      return RUN_SHUTDOWN;
    case DeliverResult::Unsupported:
    default:
      lastError_ = "cannot deliver vector " + std::to_string(e.vector) + ": " + why + " (" + where() + ")";
      return RUN_ERROR;
  }
}

void Vcpu::beginRun() {
  hlt_ = ioStop_ = jsException_ = yield_ = shutdown_ = failed_ = event_ = false;
  pauses_ = 0;
  unmappedType_ = 0;
  unmappedAddress_ = 0;
}

void Vcpu::afterExit(int r) {
  if (r == 0) return;
  if (r == 3) {
    // An NMI became pending: the run ends unless one is being handled (the
    // scheduler then holds it until the handler's iret).
    if ((env_.hflags2() & HF2_NMI) || event_) return;
    event_ = true;
  } else if (r == 2) {
    // Only worth ending the run at once if the interrupt can be taken now;
    // otherwise end it soon, so that the scheduler checks again after the
    // guest sets IF (Linux raises THRI with its port lock held, IF clear:
    // waiting for the next timer let a higher vector overtake it every time).
    if (!(cpu().rflags() & RF_IF) || (env_.hflags() & HF_INHIBIT_IRQ) || event_) {
      if (!event_) machine_->shortenRun(100000);
      return;
    }
    event_ = true;
  } else if (r < 0) {
    jsException_ = true;
  } else {
    ioStop_ = true;
  }
  uc_emu_stop(uc_);
}

void Vcpu::onPause() {
  // Pause-loop exiting: after a few spins, let the other vCPUs run.
  if (++pauses_ >= 16 && machine_->otherRunnable(index_)) {
    yield_ = true;
    uc_emu_stop(uc_);
  }
}

void Vcpu::onIntr(uint32_t intno) {
  Event e;
  e.vector = static_cast<int>(intno);
  if (env_.exceptionIsInt()) {
    e.kind = EventKind::SoftwareInterrupt;  // int n, int3, into: RIP is past the instruction
    e.hasRestart = softwareInterruptStart(intno, &e.restartRip);
  } else if (intno < 32) {
    e.kind = EventKind::Exception;  // RIP at the faulting instruction (traps: after it)
    e.hasError = exceptionHasErrorCode(e.vector);
    e.error = static_cast<uint32_t>(env_.errorCode());
    if (intno == 14) e.cr2 = env_.cr(2);
  } else {
    failed_ = true;
    lastError_ = "engine raised internal exception " + std::to_string(intno) + " (" + where() + ")";
    uc_emu_stop(uc_);
    return;
  }
  env_.oldException() = -1;
  int r = deliver(e);
  if (r == RUN_SHUTDOWN) {
    shutdown_ = true;
    uc_emu_stop(uc_);
  } else if (r != 0) {
    failed_ = true;
    uc_emu_stop(uc_);
  }
}

// Where the int n / int3 / into that raised `intno` starts, RIP being past
// it (Unicorn moved it there before calling UC_HOOK_INTR): CD ib, CC, CE.
bool Vcpu::softwareInterruptStart(uint32_t intno, uint64_t* start) const {
  const uint64_t next = env_.eip();
  const uint64_t csBase = env_.code64() ? 0 : env_.seg(CS).base;
  Fault f;
  uint8_t b[2] = {0, 0};
  if (next >= 2 && cpu().readLinear(csBase + next - 2, b, 2, &f) && b[0] == 0xcd && b[1] == intno) {
    *start = next - 2;
    return true;
  }
  if (next >= 1 && ((intno == 3 && b[1] == 0xcc) || (intno == 4 && b[1] == 0xce))) {
    *start = next - 1;
    return true;
  }
  return false;
}

bool Vcpu::onInvalidInsn() {
  // #UD: RIP is at the instruction. The engine stops after this hook (it
  // treats the exception as a halt); run() starts it again at the handler.
  Event e;
  e.vector = 6;
  e.kind = EventKind::Exception;
  env_.oldException() = -1;
  int r = deliver(e);
  if (r == RUN_SHUTDOWN) shutdown_ = true;
  else if (r != 0) failed_ = true;
  return true;
}

void Vcpu::onCpuid() {
  uint32_t out[4];
  uint32_t leaf = static_cast<uint32_t>(env_.reg(R_EAX)), sub = static_cast<uint32_t>(env_.reg(R_ECX));
  cpuidLeaf(leaf, sub, static_cast<uint32_t>(index_), static_cast<uint32_t>(machine_->count()), out);
  if (leaf == 1 && !(apicBase_ & (1u << 11))) out[3] &= ~(1u << 9);  // APIC globally disabled
  env_.reg(R_EAX) = out[0];
  env_.reg(R_EBX) = out[1];
  env_.reg(R_ECX) = out[2];
  env_.reg(R_EDX) = out[3];
}

void Vcpu::onUnmapped(int type, uint64_t address, int) {
  unmappedType_ = type;
  unmappedAddress_ = address;
}

namespace {

// MSRs QEMU 5.0's helpers implement for this engine (its rdmsr/wrmsr case
// lists); the addon passes these through and raises #GP for the rest.
bool qemuMsr(uint32_t i) {
  switch (i) {
    case 0x174: case 0x175: case 0x176:                       // SYSENTER_CS/ESP/EIP
    case 0x277:                                               // PAT
    case 0x8b:                                                // microcode revision
    case 0x1a0:                                               // MISC_ENABLE
    case 0x198:                                               // PERF_STATUS
    case 0x34:                                                // SMI_COUNT
    case 0xc0000081: case 0xc0000082: case 0xc0000083: case 0xc0000084:  // STAR LSTAR CSTAR FMASK
    case 0xc0000100: case 0xc0000101: case 0xc0000102: case 0xc0000103:  // FS/GS/KERNEL_GS base, TSC_AUX
      return true;
    default:
      return false;
  }
}

}  // namespace

uint64_t Vcpu::clockNs() const { return machine_->clockNs(); }

InterposeTarget::MsrResult Vcpu::readMsr(uint32_t index, uint64_t* value) {
  switch (index) {
    case 0x10:  // IA32_TSC (QEMU 5.0 reads 0)
      *value = clockNs() + env_.tscOffset();
      return Handled;
    case 0x1b:  // IA32_APIC_BASE (QEMU 5.0 reads 0: no APIC model inside Unicorn)
      *value = apicBase_;
      return Handled;
    case 0xc0000080:
      *value = env_.efer();
      return Handled;
    default:
      return qemuMsr(index) ? PassToUnicorn : GeneralProtection;
  }
}

InterposeTarget::MsrResult Vcpu::writeMsr(uint32_t index, uint64_t value) {
  switch (index) {
    case 0x10:
      env_.tscOffset() = value - clockNs();
      return Handled;
    case 0x1b: {
      // Base below MAXPHYADDR, BSP (8) and global enable (11); x2APIC (10) unsupported.
      uint64_t allowed = (((1ull << PHYS_BITS) - 1) & ~0xfffull) | (1u << 8) | (1u << 11);
      if (value & ~allowed) return GeneralProtection;
      apicBase_ = (value & ~(1ull << 8)) | (apicBase_ & (1ull << 8));  // BSP flag is read-only
      return Handled;
    }
    case 0xc0000080: {
      // The engine's own wrmsr would drop SCE and NXE (Unicorn 2.0.1's CPU
      // model lacks the SYSCALL and NX feature bits that gate them).
      const uint64_t efer = env_.efer();
      if (value & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) return GeneralProtection;
      if (((value ^ efer) & EFER_LME) && (env_.cr(0) & (1u << 31))) return GeneralProtection;
      env_.efer() = (efer & EFER_LMA) | (value & (EFER_SCE | EFER_LME | EFER_NXE));
      if ((value ^ efer) & EFER_NXE) flushTlb();
      return Handled;
    }
    default:
      return qemuMsr(index) ? PassToUnicorn : GeneralProtection;
  }
}

void Vcpu::onCodePage(uint64_t ramAddr, bool hasCode) {
  uint64_t* mask = machine_->codeMaskOf(ramAddr);
  if (mask == nullptr) return;
  const bool first = *mask == 0;
  if (hasCode) *mask |= 1ull << index_;
  else *mask &= ~(1ull << index_);
  // The page's first code: stores to it must be checked again, in every
  // engine (some may hold fast entries for it).
  if (hasCode && first && fastStoresActive()) {
    uint8_t* host = machine_->hostOfRamAddr(ramAddr & ~0xfffull);
    if (host != nullptr) {
      for (int i = 0; i < machine_->count(); i++) tlbResetDirty(machine_->vcpu(i).cpuState(), host, 4096);
    }
  }
}

bool Vcpu::storesMayBeFast(uint64_t physical) {
  uint64_t ram = machine_->ramAddrOfGpa(physical);
  if (ram == UINT64_MAX) return false;
  uint64_t* mask = machine_->codeMaskOf(ram);
  return mask != nullptr && *mask == 0;
}

void Vcpu::beforeStore(uint64_t ramAddr, int len) {
  uint64_t* mask = machine_->codeMaskOf(ramAddr);
  if (mask == nullptr) return;
  for (uint64_t others = *mask & ~(1ull << index_); others != 0; others &= others - 1) {
    g_counts.crossInvalidations.fetch_add(1, std::memory_order_relaxed);
    machine_->vcpu(__builtin_ctzll(others)).invalidateOwn(ramAddr, static_cast<uint64_t>(len));
  }
}

void Vcpu::invalidateOwn(uint64_t ramAddr, uint64_t len) {
  InterposeTarget* previous = t_invalidating;
  t_invalidating = this;
  invalidateRange(uc_, ramAddr, ramAddr + len);
  t_invalidating = previous;
}

bool Vcpu::translatePage(uint64_t linear, uint64_t* physical) {
  if (!env_.valid()) return false;
  Translation t = cpu().translate(linear, Access::Read, false, false);
  if (!t.ok) return false;
  *physical = t.physical;
  return true;
}

int Vcpu::syscallInsn(int nextEipAddend) {
  // SDM vol. 2 SYSCALL (Intel: 64-bit mode only).
  if (!(env_.efer() & EFER_SCE) || !env_.code64()) return 6;
  const uint64_t rflags = cpu().rflags();
  env_.reg(R_ECX) = env_.eip() + static_cast<uint64_t>(nextEipAddend);
  env_.reg(11) = rflags & ~RF_RF;
  const uint64_t r = rflags & ~(env_.fmask() | RF_RF);
  cpu().setRflags(r);
  const uint32_t sel = static_cast<uint32_t>(env_.star() >> 32) & 0xffff;
  env_.seg(CS) = SegCache{sel & 0xfffc, 0, 0xffffffff, DESC_G | DESC_P | DESC_S | DESC_CS | DESC_R | DESC_A | DESC_L};
  env_.seg(SS) = SegCache{(sel + 8) & 0xfffc, 0, 0xffffffff, DESC_G | DESC_B | DESC_P | DESC_S | DESC_W | DESC_A};
  env_.eip() = env_.lstar();
  env_.updateHflags(r);
  return -1;
}

int Vcpu::sysenterInsn(int) {
  // SDM vol. 2 SYSENTER.
  const uint32_t cs = env_.sysenterCs();
  if (!env_.protectedMode() || (cs & 0xfffc) == 0) return 13;
  const uint64_t r = cpu().rflags() & ~(RF_VM | RF_IF | RF_RF);
  cpu().setRflags(r);
  const uint32_t l = env_.longMode() ? DESC_L : DESC_B;
  env_.seg(CS) = SegCache{cs & 0xfffc, 0, 0xffffffff, DESC_G | l | DESC_P | DESC_S | DESC_CS | DESC_R | DESC_A};
  env_.seg(SS) = SegCache{(cs + 8) & 0xfffc, 0, 0xffffffff, DESC_G | DESC_B | DESC_P | DESC_S | DESC_W | DESC_A};
  env_.reg(R_ESP) = env_.longMode() ? env_.sysenterEsp() : static_cast<uint32_t>(env_.sysenterEsp());
  env_.eip() = env_.longMode() ? env_.sysenterEip() : static_cast<uint32_t>(env_.sysenterEip());
  env_.updateHflags(r);
  return -1;
}

int Vcpu::classify(uc_err err, bool kicked, bool deadlineHit) {
  if (jsException_) return RUN_JS_EXCEPTION;
  if (shutdown_) return RUN_SHUTDOWN;
  if (failed_) return RUN_ERROR;
  if (err != UC_ERR_OK) {
    std::string what;
    switch (err) {
      case UC_ERR_READ_UNMAPPED: what = "read of unmapped address " + hex(unmappedAddress_); break;
      case UC_ERR_WRITE_UNMAPPED: what = "write to unmapped address " + hex(unmappedAddress_); break;
      case UC_ERR_FETCH_UNMAPPED: what = "instruction fetch from unmapped address " + hex(unmappedAddress_); break;
      case UC_ERR_FETCH_PROT: what = "instruction fetch from MMIO at " + hex(unmappedAddress_); break;
      default: what = std::string("engine error: ") + uc_strerror(err); break;
    }
    lastError_ = what + " (" + where() + ")";
    return RUN_ERROR;
  }
  if (ioStop_) return RUN_IO_STOP;
  if (hlt_) {
    state_ = STATE_HALTED;
    return RUN_HALTED;
  }
  if (kicked) return RUN_KICKED;
  if (yield_) return RUN_YIELD;
  if (event_) return RUN_EVENT;
  if (deadlineHit) return RUN_QUANTUM_END;
  return -1;  // stopped for no reason of its own (#UD restart, a late stop): go on
}

// ------------------------------------------------------------- Machine ----

std::unique_ptr<Machine> Machine::create(Config config, std::string* why) {
  if (config.cpus < 1 || config.cpus > 64) {
    *why = "cpus must be 1..64";  // one bit per vCPU in the code map
    return nullptr;
  }
  if (config.exitBuffer == nullptr || config.sink == nullptr) {
    *why = "exit buffer and I/O sink are required";
    return nullptr;
  }
  std::unique_ptr<Machine> m(new Machine(std::move(config)));
  for (int i = 0; i < m->config_.cpus; i++) {
    auto v = std::make_unique<Vcpu>(m.get(), i);
    if (!v->create(why)) return nullptr;
    m->vcpus_.push_back(std::move(v));
  }
  if (!m->layoutRamAddrs(why)) return nullptr;
  Watchdog& w = Watchdog::get();
  std::lock_guard<std::mutex> lock(w.mu);
  w.ensureThread();
  for (size_t t = 0; t < w.machines.size(); t++) {
    if (w.machines[t] == nullptr) {
      w.machines[t] = m.get();
      m->token_ = static_cast<int>(t);
      break;
    }
  }
  if (m->token_ < 0) {
    w.machines.push_back(m.get());
    m->token_ = static_cast<int>(w.machines.size() - 1);
  }
  return m;
}

Machine::~Machine() {
  Watchdog& w = Watchdog::get();
  {
    std::lock_guard<std::mutex> lock(w.mu);
    if (token_ >= 0 && static_cast<size_t>(token_) < w.machines.size()) w.machines[static_cast<size_t>(token_)] = nullptr;
    runningUc_ = nullptr;
  }
  vcpus_.clear();  // uc_close each engine
}

int Machine::kickToken(int token) {
  Watchdog& w = Watchdog::get();
  Machine* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(w.mu);
    if (token < 0 || static_cast<size_t>(token) >= w.machines.size()) return -ESRCH;
    m = w.machines[static_cast<size_t>(token)];
    if (m == nullptr) return -ESRCH;
    m->kickPending_ = true;
    if (m->runningUc_ != nullptr) {
      m->stopWanted_ = true;
      uc_emu_stop(m->runningUc_);
      m->lastStop_ = Clock::now();
      m->stopSent_ = true;
      w.cv.notify_one();  // to repeat the stop should this one be lost
    }
    m->idleCv_.notify_all();
  }
  return 0;
}

void Machine::kick() { kickToken(token_); }

// Every engine maps the same RAM regions in the same order, so each region
// has the same RAM address (QEMU's ram_addr_t) in all of them: one code map
// serves the machine. Checked, not assumed.
bool Machine::layoutRamAddrs(std::string* why) {
  uint64_t end = 0;
  for (const GuestRam::Region& r : config_.ram.regions) {
    uint64_t base = ramAddrOf(vcpus_[0]->uc(), r.host);
    for (const auto& v : vcpus_) {
      if (ramAddrOf(v->uc(), r.host) != base || base == UINT64_MAX) {
        *why = "guest RAM at " + hex(r.gpa) + " has different RAM addresses in the vCPUs' engines";
        return false;
      }
    }
    ramAddr_.push_back(base);
    end = std::max(end, base + r.size);
  }
  codeMask_.assign(static_cast<size_t>((end + 4095) >> 12), 0);
  return true;
}

uint64_t Machine::ramAddrOfGpa(uint64_t gpa) const {
  for (size_t i = 0; i < config_.ram.regions.size(); i++) {
    const GuestRam::Region& r = config_.ram.regions[i];
    if (gpa >= r.gpa && gpa - r.gpa < r.size) return ramAddr_[i] + (gpa - r.gpa);
  }
  return UINT64_MAX;
}

uint8_t* Machine::hostOfRamAddr(uint64_t ramAddr) const {
  for (size_t i = 0; i < config_.ram.regions.size(); i++) {
    const GuestRam::Region& r = config_.ram.regions[i];
    if (ramAddr >= ramAddr_[i] && ramAddr - ramAddr_[i] < r.size) return r.host + (ramAddr - ramAddr_[i]);
  }
  return nullptr;
}

uint64_t Machine::invalidateCode(uint64_t gpa, uint64_t len) {
  uint64_t pages = 0;
  for (size_t i = 0; i < config_.ram.regions.size() && len > 0; i++) {
    const GuestRam::Region& r = config_.ram.regions[i];
    if (gpa + len <= r.gpa || gpa >= r.gpa + r.size) continue;
    uint64_t from = std::max(gpa, r.gpa), to = std::min(gpa + len, r.gpa + r.size);
    for (uint64_t at = from; at < to;) {
      uint64_t next = std::min<uint64_t>(to, (at & ~0xfffull) + 4096);
      uint64_t ram = ramAddr_[i] + (at - r.gpa);
      uint64_t* mask = codeMaskOf(ram);
      if (mask != nullptr && *mask != 0) {
        pages++;
        for (uint64_t m = *mask; m != 0; m &= m - 1) vcpu(__builtin_ctzll(m)).invalidateOwn(ram, next - at);
      }
      at = next;
    }
  }
  return pages;
}

bool Machine::otherRunnable(int except) const {
  for (const auto& v : vcpus_) {
    if (v->index() != except && v->state() == STATE_RUNNING) return true;
  }
  return false;
}

int Machine::run(int i, int64_t budgetNs) {
  if (i < 0 || i >= count()) return RUN_ERROR;
  Vcpu& v = vcpu(i);
  if (inRun_) {
    v.setError("run() re-entered from an I/O handler");
    return RUN_ERROR;
  }
  // An NMI held while its predecessor's handler ran goes in once that handler returned.
  if (int r = v.deliverHeldNmi(); r != 0) return r;
  if (v.state() != STATE_RUNNING) return RUN_HALTED;
  inRun_ = true;
  Watchdog& w = Watchdog::get();
  const auto deadline = Clock::now() + std::chrono::nanoseconds(std::max<int64_t>(budgetNs, 0));
  int code = -1;
  while (code < 0) {
    {
      std::lock_guard<std::mutex> lock(w.mu);
      if (kickPending_) {
        kickPending_ = false;
        code = RUN_KICKED;
        break;
      }
      if (Clock::now() >= deadline) {
        code = RUN_QUANTUM_END;
        break;
      }
      runningUc_ = v.uc();
      deadline_ = deadline;
      deadlineHit_ = stopWanted_ = stopSent_ = false;
      entries_++;
      if (watcherWaiting_) enteredCv_.notify_all();
      if (w.sleepingForever || deadline < w.wake) {
        w.sleepingForever = false;
        w.wake = deadline;
        w.cv.notify_one();
      }
    }
    v.beginRun();
    t_running = &v;
    uc_err err = uc_emu_start(v.uc(), v.env().eip(), 0, 0, 0);
    t_running = nullptr;
    bool kicked, hit;
    {
      std::lock_guard<std::mutex> lock(w.mu);
      runningUc_ = nullptr;
      kicked = kickPending_;
      hit = deadlineHit_;
    }
    code = v.classify(err, kicked, hit);
    if (code == RUN_KICKED) {
      std::lock_guard<std::mutex> lock(w.mu);
      kickPending_ = false;
    }
  }
  inRun_ = false;
  return code;
}

void Machine::shortenRun(int64_t ns) {
  Watchdog& w = Watchdog::get();
  std::lock_guard<std::mutex> lock(w.mu);
  if (runningUc_ == nullptr) return;
  const auto at = Clock::now() + std::chrono::nanoseconds(ns);
  if (at >= deadline_) return;
  deadline_ = at;
  if (w.sleepingForever || at < w.wake) {
    w.sleepingForever = false;
    w.wake = at;
    w.cv.notify_one();
  }
}

bool Machine::idle(int64_t timeoutNs) {
  Watchdog& w = Watchdog::get();
  std::unique_lock<std::mutex> lock(w.mu);
  entries_++;
  if (watcherWaiting_) enteredCv_.notify_all();
  idleCv_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(timeoutNs, 0)), [this] { return kickPending_; });
  if (!kickPending_) return false;
  kickPending_ = false;
  return true;
}

uint64_t Machine::waitEntered(uint64_t seen, int timeoutMs, const bool* stop) {
  Watchdog& w = Watchdog::get();
  std::unique_lock<std::mutex> lock(w.mu);
  watcherWaiting_ = true;
  enteredCv_.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                      [&] { return entries_ != seen || __atomic_load_n(stop, __ATOMIC_SEQ_CST); });
  watcherWaiting_ = false;
  return entries_;
}

uint64_t Machine::entries() {
  std::lock_guard<std::mutex> lock(Watchdog::get().mu);
  return entries_;
}

void Machine::wakeWaiters() {
  std::lock_guard<std::mutex> lock(Watchdog::get().mu);
  enteredCv_.notify_all();
}

// ----------------------------------------------------------- self-test ----

namespace {

struct NullSink : IoSink {
  int onExit() override { return 1; }  // the self-test guest does no I/O: stop if it does
};

// 64-bit code at 0x8000 (assembled from the comment's source):
//   movabs $0x1122334455667788, %rax
//   movabs %rax, 0x700000000000     linear page mapped to physical 0x81000
//   mov 0x81000, %rbx               the same bytes through the identity map
//   movq $0xabcd, 0x10000           linear 0x10000 mapped to physical 0x80000
//   mov 0x80000, %rcx
//   mov %rcx, %r9
//   movabs 0x700000001000, %rax     not present: #PF
//   hlt
// #PF handler at 0x9000: mov %cr2,%rsi; pop %rdi; rdtsc; mov $0x10,%ecx; rdmsr; pause; hlt
const uint8_t kMain[] = {0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x48, 0xa3, 0x00, 0x00, 0x00,
                         0x00, 0x00, 0x70, 0x00, 0x00, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x10, 0x08, 0x00, 0x48, 0xc7,
                         0x04, 0x25, 0x00, 0x00, 0x01, 0x00, 0xcd, 0xab, 0x00, 0x00, 0x48, 0x8b, 0x0c, 0x25, 0x00,
                         0x00, 0x08, 0x00, 0x49, 0x89, 0xc9, 0x48, 0xa1, 0x00, 0x10, 0x00, 0x00, 0x00, 0x70, 0x00,
                         0x00, 0xf4};
const uint8_t kHandler[] = {0x0f, 0x20, 0xd6, 0x5f, 0x0f, 0x31, 0xb9, 0x10, 0x00, 0x00, 0x00, 0x0f, 0x32, 0xf3, 0x90, 0xf4};

void put64(uint8_t* ram, uint64_t at, uint64_t v) { std::memcpy(ram + at, &v, 8); }

// Every feature the CPUID table advertises that the engine's translator
// checks against its own model must be one the model has (else the guest
// gets #UD for an instruction CPUID promised): the engine's own CPUID, no
// hook installed, says what the model has.
std::string checkCpuidAgainstEngine() {
  uc_engine* uc = nullptr;
  if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK) return "CPUID check: uc_open failed";
  void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  std::string result = "CPUID: every advertised feature the engine checks is one it has";
  if (mem == MAP_FAILED || uc_mem_map_ptr(uc, 0x1000, 4096, UC_PROT_ALL, mem) != UC_ERR_OK) {
    result = "CPUID check: no scratch memory";
  } else {
    uc_ctl_exits_enable(uc);
    for (size_t i = 0; i < kGatedCount; i++) {
      const CpuidGate& g = kGated[i];
      auto* p = static_cast<uint8_t*>(mem) + 16 * i;
      p[0] = 0x0f;  // cpuid; hlt
      p[1] = 0xa2;
      p[2] = 0xf4;
      uint64_t a = g.leaf, cx = g.subleaf;
      uc_reg_write(uc, UC_X86_REG_RAX, &a);
      uc_reg_write(uc, UC_X86_REG_RCX, &cx);
      uc_emu_start(uc, 0x1000 + 16 * i, 0, 0, 0);
      const int regs[4] = {UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX};
      uint64_t engine = 0;
      uc_reg_read(uc, regs[g.reg], &engine);
      uint32_t ours[4];
      cpuidLeaf(g.leaf, g.subleaf, 0, 1, ours);
      uint32_t missing = ours[g.reg] & g.mask & ~static_cast<uint32_t>(engine);
      if (missing != 0) {
        result = "CPUID: leaf " + hex(g.leaf) + " register " + std::to_string(g.reg) + " advertises " + hex(missing) +
                 ", which this Unicorn's CPU model lacks (its translator would raise #UD)";
        break;
      }
    }
  }
  uc_close(uc);
  if (mem != MAP_FAILED) munmap(mem, 4096);
  return result;
}

// Flat 64-bit state at CPL0, paging off (Unicorn's engines allow it), RIP = `rip`.
void flat64(Vcpu& v, uint64_t rip) {
  const Env& e = v.env();
  e.seg(CS) = SegCache{8, 0, 0xffffffff, DESC_G | DESC_L | DESC_P | DESC_S | DESC_CS | DESC_R | DESC_A};
  for (int s : {ES, SS, DS, FS, GS}) e.seg(s) = SegCache{16, 0, 0xffffffff, DESC_G | DESC_B | DESC_P | DESC_S | DESC_W | DESC_A};
  e.cr(0) = 0x11;
  e.efer() = 0x500;
  e.eip() = rip;
  e.updateHflags(2);
  v.setState(STATE_RUNNING);
}

// Two vCPUs: what one engine translated is dropped when the other stores
// into it, when the same engine stores into it, and when the host writes it
// and says so (invalidateCode). The first stores land on pages before they
// hold code, so with fast stores on, the engines hold fast TLB entries for
// them that must be re-armed when code appears.
std::string checkCodeCoherence(uint8_t* ram, size_t size) {
  auto put = [&](uint64_t at, std::initializer_list<uint8_t> bytes) { std::copy(bytes.begin(), bytes.end(), ram + at); };
  put(0x20000, {0xb8, 0x01, 0x00, 0x00, 0x00, 0xf4});                     // mov $1, %eax; hlt
  put(0x21000, {0xc6, 0x04, 0x25, 0x01, 0x00, 0x02, 0x00, 0x02, 0xf4});   // movb $2, 0x20001; hlt
  put(0x22000, {0xc6, 0x04, 0x25, 0x10, 0x00, 0x02, 0x00, 0x00,           // movb $0, 0x20010
                0xc6, 0x04, 0x25, 0x10, 0x30, 0x02, 0x00, 0x00, 0xf4});   // movb $0, 0x23010; hlt
  put(0x23000, {0xb8, 0x05, 0x00, 0x00, 0x00, 0xf4});                     // mov $5, %eax; hlt
  put(0x24000, {0xc6, 0x04, 0x25, 0x01, 0x30, 0x02, 0x00, 0x06, 0xf4});   // movb $6, 0x23001; hlt
  static uint8_t exitBuf[EXIT_BUFFER_SIZE];
  static NullSink sink;
  Machine::Config c;
  c.cpus = 2;
  c.ram.regions.push_back({0, size, ram});
  c.exitBuffer = exitBuf;
  c.sink = &sink;
  std::string why;
  auto m = Machine::create(std::move(c), &why);
  if (!m) return "code coherence: no 2-vCPU machine: " + why;
  Vcpu& a = m->vcpu(0);
  Vcpu& b = m->vcpu(1);
  auto call = [&](Vcpu& v, uint64_t rip) {
    flat64(v, rip);
    v.env().reg(0) = 0;
    int code = m->run(v.index(), 1000000000);
    return code == RUN_HALTED ? v.env().reg(0) : ~0ull;
  };
  call(a, 0x22000);
  uint64_t first = call(b, 0x20000);
  call(a, 0x21000);
  uint64_t afterStore = call(b, 0x20000);
  uint64_t own = call(a, 0x23000);
  call(a, 0x24000);
  uint64_t afterOwnStore = call(a, 0x23000);
  ram[0x20001] = 3;
  uint64_t pages = m->invalidateCode(0x20001, 1);
  uint64_t afterHost = call(b, 0x20000);
  std::ostringstream r;
  if (first == 1 && afterStore == 2 && own == 5 && afterOwnStore == 6 && afterHost == 3 && pages == 1) {
    r << "code coherence: checked (a store by another vCPU, by the same vCPU, and a host write reported with "
         "invalidateCode, each drops the translated code)";
  } else {
    r << "code coherence: FAILED (first " << first << ", after the other vCPU's store " << afterStore << ", own " << own
      << " then " << afterOwnStore << ", after the host write " << afterHost << ", pages " << pages << ")";
  }
  return r.str();
}

std::string runSelfTest(bool* ok) {
  *ok = false;
  const EnvLayout& layout = envLayout();
  if (!layout.ok) return layout.why;
  const size_t size = 2u << 20;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return "self-test: mmap failed";
  auto* ram = static_cast<uint8_t*>(mem);
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { munmap(p, n); }
  } unmap{mem, size};
  // Page tables: identity 2 MiB (4 KiB pages) except linear 0x10000 -> 0x80000;
  // linear 0x700000000000 -> 0x81000, 0x700000001000 not present.
  put64(ram, 0x1000, 0x2000 | 3);
  put64(ram, 0x1000 + 8 * 0xe0, 0x5000 | 3);
  put64(ram, 0x2000, 0x3000 | 3);
  put64(ram, 0x3000, 0x4000 | 3);
  for (uint64_t i = 0; i < 512; i++) put64(ram, 0x4000 + 8 * i, (i << 12) | 3);
  put64(ram, 0x4000 + 8 * 0x10, 0x80000 | 3);
  put64(ram, 0x5000, 0x6000 | 3);
  put64(ram, 0x6000, 0x7000 | 3);
  put64(ram, 0x7000, 0x81000 | 3);
  std::memcpy(ram + 0x8000, kMain, sizeof kMain);
  std::memcpy(ram + 0x9000, kHandler, sizeof kHandler);
  // IDT at 0xa000: #PF -> 0x9000 (64-bit interrupt gate, CS 8); GDT at 0xb000.
  put64(ram, 0xa000 + 16 * 14, 0x9000 | (8ull << 16) | (0x8eull << 40));
  put64(ram, 0xb000 + 8, 0x00af9b000000ffffull);
  put64(ram, 0xb000 + 16, 0x00cf93000000ffffull);

  static uint8_t exitBuf[EXIT_BUFFER_SIZE];
  static NullSink sink;
  Machine::Config c;
  c.cpus = 1;
  c.ram.regions.push_back({0, size, ram});
  c.exitBuffer = exitBuf;
  c.sink = &sink;
  std::string why;
  auto m = Machine::create(std::move(c), &why);
  if (!m) return "self-test: " + why;
  Vcpu& v = m->vcpu(0);
  const Env& e = v.env();
  e.seg(CS) = SegCache{8, 0, 0xffffffff, DESC_G | DESC_L | DESC_P | DESC_S | DESC_CS | DESC_R | DESC_A};
  for (int s : {ES, SS, DS, FS, GS}) e.seg(s) = SegCache{16, 0, 0xffffffff, DESC_G | DESC_B | DESC_P | DESC_S | DESC_W | DESC_A};
  e.gdt() = SegCache{0, 0xb000, 23, 0};
  e.idt() = SegCache{0, 0xa000, 0xfff, 0};
  e.cr(3) = 0x1000;
  e.cr(4) = 0x20;
  e.efer() = 0x500;
  e.cr(0) = 0x80000011;
  e.reg(4) = 0xf000;
  e.eip() = 0x8000;
  e.updateHflags(2);
  v.flushTlb();

  const uint64_t before[6] = {g_counts.pageCollectionLock.load(), g_counts.getTsc.load(), g_counts.rdmsr.load(),
                              g_counts.pause.load(), g_counts.exitChecksDropped.load(), g_counts.tlbSetPage.load()};
  setPagingFixActive(true);
  int code = m->run(0, 2000000000);
  std::ostringstream r;
  const uint64_t rbx = e.reg(3), r9 = e.reg(9), rsi = e.reg(6), rdi = e.reg(7);
  bool pagingOk = code == RUN_HALTED && rbx == 0x1122334455667788ull && r9 == 0xabcd && rsi == 0x700000001000ull &&
                  rdi == 0 && e.eip() == 0x9010;
  if (!pagingOk) {
    setPagingFixActive(false);
    r << "paging fix: inactive (run code " << code << ", " << v.lastError() << "; rbx " << hex(rbx) << ", r9 " << hex(r9)
      << ", cr2 " << hex(rsi) << ", error " << hex(rdi) << ", " << v.where() << "); guests must identity-map their memory\n";
  } else {
    r << "paging fix: active (non-identity mappings and #PF on them checked)\n";
  }
  const char* names[6] = {"page_collection_lock_x86_64", "cpu_get_tsc_x86_64", "helper_rdmsr_x86_64", "helper_pause_x86_64",
                          "check_exit_request_x86_64", "tlb_set_page_with_attrs_x86_64"};
  const uint64_t after[6] = {g_counts.pageCollectionLock.load(), g_counts.getTsc.load(), g_counts.rdmsr.load(),
                             g_counts.pause.load(), g_counts.exitChecksDropped.load(), g_counts.tlbSetPage.load()};
  bool bound = true;
  r << "bound: helper_hlt_x86_64 (state capture)";
  for (int i = 0; i < 6; i++) {
    bool seen = after[i] > before[i];
    if (i != 5 || pagingOk) bound = bound && seen;
    r << (seen ? ", " : ", NOT ") << names[i];
  }
  r << "\n";
  *ok = bound && (code == RUN_HALTED || code == RUN_ERROR);
  m.reset();
  // With the fast store path (stores to pages without code skip the check),
  // then, should that fail, without it.
  setFastStores(true);
  std::string coherence = checkCodeCoherence(ram, size);
  if (coherence.rfind("code coherence: checked", 0) == 0) {
    r << coherence << "; fast stores: active\n";
  } else {
    setFastStores(false);
    r << coherence << " with fast stores; fast stores: inactive\n";
    coherence = checkCodeCoherence(ram, size);
    r << coherence << "\n";
    if (coherence.rfind("code coherence: checked", 0) != 0) *ok = false;
  }
  std::string cpuid = checkCpuidAgainstEngine();
  r << cpuid << "\n";
  if (cpuid.rfind("CPUID: every", 0) != 0) *ok = false;
  return r.str();
}

}  // namespace

std::string selfTest(bool* ok) {
  static bool cachedOk = false;
  static const std::string report = runSelfTest(&cachedOk);
  *ok = cachedOk;
  return report;
}

}  // namespace soft
