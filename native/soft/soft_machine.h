// The soft machine: N vCPUs, one Unicorn engine each, all run interleaved on
// the one thread that calls run() (Unicorn's `lock`-prefixed instructions
// are not atomic across engines on different threads). Guest RAM is the
// same host memory in every engine; every other physical address in the
// machine's MMIO ranges calls back into JavaScript, synchronously, on this
// thread, through the IoSink.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <unicorn/unicorn.h>

#include "soft_env.h"
#include "soft_interpose.h"
#include "soft_x86.h"

namespace soft {

// What run() reports.
enum RunCode : int {
  RUN_QUANTUM_END = 0,   // its time was up (the watchdog stopped it)
  RUN_KICKED = 1,        // kick() (any thread, or the event-loop watch)
  RUN_HALTED = 2,        // hlt: the vCPU waits for an interrupt (state Halted)
  RUN_IO_STOP = 3,       // the I/O handler asked to stop
  RUN_SHUTDOWN = 4,      // triple fault
  RUN_ERROR = 5,         // the engine failed; lastError(i) says why
  RUN_YIELD = 6,         // spinning on pause while another vCPU can run
  RUN_JS_EXCEPTION = 7,  // the I/O handler threw; the exception is pending
  RUN_EVENT = 8,         // an I/O handler made an interrupt pending while IF was set
};

enum RunState : int { STATE_RUNNING = 0, STATE_HALTED = 1, STATE_WAIT_SIPI = 2 };

// vCPU flags the scheduler reads between runs.
enum : uint32_t {
  FLAG_IF = 1,           // RFLAGS.IF
  FLAG_SHADOW = 2,       // sti / mov ss interrupt shadow
  FLAG_NMI_BLOCKED = 4,  // an NMI is being handled (until iret)
  FLAG_LONG = 8,         // IA-32e mode
  FLAG_PROTECTED = 16,   // CR0.PE
  FLAG_NMI_PENDING = 32, // an NMI waits for the running NMI handler's iret
};

// The exit buffer: struct kvm_run's layout where src/kernel/VcpuExit.ts
// reads it (exit reason at 8, the io/mmio union at 0x20).
constexpr size_t EXIT_REASON = 8;
constexpr size_t EXIT_IO = 0x20;
constexpr size_t EXIT_PIO_DATA = 0x100;
constexpr size_t EXIT_BUFFER_SIZE = 0x200;
constexpr uint32_t KVM_EXIT_IO = 2, KVM_EXIT_MMIO = 6;

class IoSink {
 public:
  virtual ~IoSink() = default;
  // The exit buffer is filled; JavaScript handles it on this thread.
  // 0: go on; 1: stop the machine; 2: an interrupt is now pending for this
  // vCPU (the run ends if IF is set, so it is taken after this instruction);
  // 3: an NMI is now pending (the run ends unless an NMI is being handled);
  // -1: JavaScript threw (left pending).
  virtual int onExit() = 0;
};

struct MmioRange {
  uint64_t base;
  uint64_t size;
};

class Machine;
class Vcpu;

// User data of one MMIO range's callbacks in one engine.
struct MmioBinding {
  Vcpu* vcpu;
  uint64_t base;
};

class Vcpu final : public InterposeTarget {
 public:
  Vcpu(Machine* machine, int index) : machine_(machine), index_(index) {}
  ~Vcpu() override;
  bool create(std::string* why);  // engine, state pointer, memory, hooks
  bool recreate(std::string* why);  // a fresh engine with the same state (empty TLB and code cache)

  int index() const { return index_; }
  Machine* machine() const { return machine_; }
  Cpu cpu() const { return Cpu{uc_, env_, ram_}; }
  const Env& env() const { return env_; }
  uc_engine* uc() const { return uc_; }
  int state() const { return state_; }
  void setState(int s) { state_ = s; }
  uint32_t flags() const;
  const std::string& lastError() const { return lastError_; }
  void setError(const std::string& e) { lastError_ = e; }
  std::string where() const;  // "vCPU i, RIP 0x..., 64-bit mode, CPL n"

  // Power-on/INIT state (SDM table 9-1); `keepFpu`: INIT leaves x87/SSE and MSRs.
  void resetState(bool init);
  void startAt(int sipiVector);  // SIPI: real mode at vector << 12
  void flushTlb();
  uint64_t apicBase() const { return apicBase_; }
  void setApicBase(uint64_t v) { apicBase_ = v; }
  uint64_t cr8() const { return cr8_; }
  void setCr8(uint64_t v) { cr8_ = v; }

  // Event injection between runs: RUN_* code (0 = delivered).
  int deliver(const Event& e);
  // An NMI: delivered now, or held (one, as the CPU latches it) while an
  // NMI handler runs, and delivered by the first run after its iret.
  int raiseNmi();
  int deliverHeldNmi();
  bool nmiPending() const { return nmiPending_; }
  void setNmiPending(bool p) { nmiPending_ = p; }

  // Run bookkeeping (Machine::run).
  void beginRun();
  int classify(uc_err err, bool kicked, bool deadlineHit);
  bool ioStopped() const { return ioStop_; }
  bool jsThrew() const { return jsException_; }
  void afterExit(int r);

  // InterposeTarget
  uint8_t* envPtr() const override { return env_.raw(); }
  void onHlt() override { hlt_ = true; }
  void onPause() override;
  MsrResult readMsr(uint32_t index, uint64_t* value) override;
  MsrResult writeMsr(uint32_t index, uint64_t value) override;
  bool translatePage(uint64_t linear, uint64_t* physical) override;
  void* catchAllRegion() const override { return catchAll_; }
  int syscallInsn(int nextEipAddend) override;
  int sysenterInsn(int nextEipAddend) override;
  void noteCpuState(void* cpu) override {
    if (cpuState_ == nullptr) cpuState_ = cpu;
  }
  uc_engine* engine() const override { return uc_; }
  void onCodePage(uint64_t ramAddr, bool hasCode) override;
  void beforeStore(uint64_t ramAddr, int len) override;
  bool storesMayBeFast(uint64_t physical) override;
  uint64_t clockNs() const override;
  void* cpuState() const { return cpuState_; }
  // Drops this engine's translations of RAM addresses [ramAddr, ramAddr + len).
  void invalidateOwn(uint64_t ramAddr, uint64_t len);

  // Hooks (static trampolines in soft_machine.cc).
  void onIntr(uint32_t intno);
  bool onInvalidInsn();
  void onCpuid();
  void onUnmapped(int type, uint64_t address, int size);
  bool softwareInterruptStart(uint32_t intno, uint64_t* start) const;

 private:
  bool openEngine(std::string* why);
  void closeEngine();

  Machine* machine_;
  int index_;
  uc_engine* uc_ = nullptr;
  Env env_;
  const GuestRam* ram_ = nullptr;
  void* catchAll_ = nullptr;
  void* cpuState_ = nullptr;
  std::vector<uc_hook> hooks_;
  std::vector<std::unique_ptr<MmioBinding>> mmio_;
  int state_ = STATE_RUNNING;
  uint64_t apicBase_ = 0;
  uint64_t cr8_ = 0;
  bool nmiPending_ = false;
  std::string lastError_;
  // Per run.
  bool hlt_ = false, ioStop_ = false, jsException_ = false, yield_ = false, shutdown_ = false, failed_ = false,
       event_ = false;
  uint32_t pauses_ = 0;
  int unmappedType_ = 0;
  uint64_t unmappedAddress_ = 0;
};

class Machine {
 public:
  struct Config {
    int cpus = 1;
    GuestRam ram;
    std::vector<MmioRange> mmio;
    uint8_t* exitBuffer = nullptr;  // EXIT_BUFFER_SIZE bytes
    IoSink* sink = nullptr;
  };
  static std::unique_ptr<Machine> create(Config config, std::string* why);
  ~Machine();

  int count() const { return static_cast<int>(vcpus_.size()); }
  Vcpu& vcpu(int i) { return *vcpus_[static_cast<size_t>(i)]; }
  const GuestRam& ram() const { return config_.ram; }
  const std::vector<MmioRange>& mmio() const { return config_.mmio; }
  uint8_t* exitBuffer() const { return config_.exitBuffer; }
  IoSink* sink() const { return config_.sink; }
  int token() const { return token_; }
  bool running() const { return inRun_; }

  // The machine clock (its owner is src/kernel/MachineClock.ts, which sets
  // it here on every change): guest nanoseconds, CLOCK_MONOTONIC less an
  // offset while the machine runs, standing still while it is paused.
  // Every vCPU's TSC is it plus the vCPU's tsc_offset.
  uint64_t clockNs() const {
    return clockRunning_ ? static_cast<uint64_t>(monotonicNs() - clockOffset_) : clockFrozenNs_;
  }
  // Running: `value` is the offset (CLOCK_MONOTONIC ns less guest ns); stopped: the guest ns it stands at.
  void setClock(bool running, int64_t value) {
    clockRunning_ = running;
    if (running) clockOffset_ = value;
    else clockFrozenNs_ = static_cast<uint64_t>(value);
  }

  // Runs vCPU i for at most budgetNs (RunCode).
  int run(int i, int64_t budgetNs);
  // Any thread: ends the current run or idle (RUN_KICKED), or the next one.
  void kick();
  // Waits for a kick at most timeoutNs; true when kicked.
  bool idle(int64_t timeoutNs);
  // The running run ends at most `ns` from now (an interrupt waits for IF).
  void shortenRun(int64_t ns);
  // Whether a vCPU other than `except` could run now (for the pause hint).
  bool otherRunnable(int except) const;

  // The event-loop watch (soft_loop_watch.cc): waits until run or idle is
  // entered again after `seen` entries (or `stop`, or timeout) -> entries now.
  uint64_t waitEntered(uint64_t seen, int timeoutMs, const bool* stop);
  uint64_t entries();
  void wakeWaiters();

  // Kicks the machine behind `token` from any thread: 0, or -ESRCH.
  static int kickToken(int token);

  // Which vCPUs' engines hold translated code per RAM page (bit i: vCPU
  // i), indexed by the engines' common RAM address >> 12.
  uint64_t* codeMaskOf(uint64_t ramAddr) {
    uint64_t page = ramAddr >> 12;
    return page < codeMask_.size() ? &codeMask_[page] : nullptr;
  }
  // Host code wrote guest RAM [gpa, gpa + len) (device DMA, a debugger):
  // every engine drops what it translated from it -> pages that had code.
  uint64_t invalidateCode(uint64_t gpa, uint64_t len);
  // The RAM address of guest-physical `gpa` in every engine, or UINT64_MAX when not RAM.
  uint64_t ramAddrOfGpa(uint64_t gpa) const;
  // Host memory at RAM address `ramAddr`, or nullptr.
  uint8_t* hostOfRamAddr(uint64_t ramAddr) const;

 private:
  explicit Machine(Config c) : config_(std::move(c)) {}
  friend struct Watchdog;
  Config config_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  int token_ = -1;
  bool inRun_ = false;
  // Starts at 0 when the machine is made, until its owner sets it.
  bool clockRunning_ = true;
  int64_t clockOffset_ = monotonicNs();
  uint64_t clockFrozenNs_ = 0;
  // Guarded by the watchdog's mutex (see soft_machine.cc).
  uc_engine* runningUc_ = nullptr;
  std::chrono::steady_clock::time_point deadline_{};
  std::chrono::steady_clock::time_point lastStop_{};
  bool deadlineHit_ = false, stopWanted_ = false, stopSent_ = false, kickPending_ = false, watcherWaiting_ = false;
  uint64_t entries_ = 0;
  std::condition_variable idleCv_, enteredCv_;
  std::vector<uint64_t> codeMask_;
  std::vector<uint64_t> ramAddr_;  // per RAM region: its RAM address in every engine
  bool layoutRamAddrs(std::string* why);
};

// Exhaustive self-test of what the addon relies on, run once: layout, the
// bound replacements, the paging fix. Returns a report line per item and
// sets `ok`.
std::string selfTest(bool* ok);

}  // namespace soft
