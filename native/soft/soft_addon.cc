// bhyve_soft: the software CPU addon (Unicorn 2.0.x). Thin: it holds only
// the x86 mechanics that must run on the vCPU's thread (soft_*.cc); the
// scheduling of vCPUs, interrupt controllers and timers live in TypeScript
// (src/kernel/soft). Every argument is checked here; a bad one throws a
// TypeError/RangeError, never reaches the engine.
//
// Unicorn is GPL-2 (its QEMU part); this addon links the system's
// libunicorn dynamically and is only built where it is installed.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "soft_loop_watch.h"
#include "soft_machine.h"
#include "soft_state.h"

namespace {

using soft::Machine;

bool isIndex(const Napi::Value& v, int count, int* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d >= count) return false;
  *out = static_cast<int>(d);
  return true;
}

bool isUint(const Napi::Value& v, double max, double* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > max) return false;
  *out = d;
  return true;
}

Napi::Value typeError(Napi::Env env, const std::string& what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Calls the JavaScript exit handler synchronously, from inside a Unicorn
// hook, on the thread that called run() (this thread is inside the N-API
// call, so the env is usable). Raw napi calls and a handle scope per call:
// millions of exits must not grow the run() call's handle scope.
class JsSink final : public soft::IoSink {
 public:
  JsSink(napi_env env, napi_value fn) : env_(env) { napi_create_reference(env, fn, 1, &ref_); }
  ~JsSink() override {
    if (ref_ != nullptr) napi_delete_reference(env_, ref_);
  }
  int onExit() override {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env_, &scope) != napi_ok) return -1;
    napi_value fn, recv, result;
    int r = -1;
    if (napi_get_reference_value(env_, ref_, &fn) == napi_ok && napi_get_undefined(env_, &recv) == napi_ok &&
        napi_call_function(env_, recv, fn, 0, nullptr, &result) == napi_ok) {
      int32_t v = 0;
      if (napi_get_value_int32(env_, result, &v) != napi_ok) v = 1;  // not a number: stop rather than guess
      r = v == 0 ? 0 : (v == 2 || v == 3) ? v : 1;
    } else {
      bool pending = false;
      napi_is_exception_pending(env_, &pending);
      if (!pending) napi_throw_error(env_, nullptr, "the soft CPU's exit handler could not be called");
    }
    napi_close_handle_scope(env_, scope);
    return r;
  }

 private:
  napi_env env_;
  napi_ref ref_ = nullptr;
};

class SoftMachine : public Napi::ObjectWrap<SoftMachine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SoftMachine",
                       {InstanceMethod("run", &SoftMachine::Run),
                        InstanceMethod("idle", &SoftMachine::Idle),
                        InstanceMethod("kick", &SoftMachine::Kick),
                        InstanceMethod("flags", &SoftMachine::Flags),
                        InstanceMethod("state", &SoftMachine::State),
                        InstanceMethod("setState", &SoftMachine::SetState),
                        InstanceMethod("interrupt", &SoftMachine::Interrupt),
                        InstanceMethod("nmi", &SoftMachine::Nmi),
                        InstanceMethod("init", &SoftMachine::Init),
                        InstanceMethod("sipi", &SoftMachine::Sipi),
                        InstanceMethod("getRegs", &SoftMachine::GetRegs),
                        InstanceMethod("setRegs", &SoftMachine::SetRegs),
                        InstanceMethod("getSregs", &SoftMachine::GetSregs),
                        InstanceMethod("setSregs", &SoftMachine::SetSregs),
                        InstanceMethod("saveState", &SoftMachine::SaveState),
                        InstanceMethod("restoreState", &SoftMachine::RestoreState),
                        InstanceMethod("lastError", &SoftMachine::LastError),
                        InstanceMethod("invalidateCode", &SoftMachine::InvalidateCode),
                        InstanceMethod("loopWatchStart", &SoftMachine::LoopWatchStart),
                        InstanceMethod("loopWatchStop", &SoftMachine::LoopWatchStop),
                        InstanceMethod("setClock", &SoftMachine::SetClock),
                        InstanceMethod("destroy", &SoftMachine::Destroy),
                        InstanceAccessor("token", &SoftMachine::Token, nullptr),
                        InstanceAccessor("count", &SoftMachine::Count, nullptr)});
  }

  // new SoftMachine({ cpus, ram: [{ gpa, buffer }], mmio: [{ base, size }], exitBuffer, onExit })
  explicit SoftMachine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SoftMachine>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      typeError(env, "SoftMachine(options): options object required");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    double cpus = 0;
    if (!isUint(o.Get("cpus"), 64, &cpus) || cpus < 1) {
      typeError(env, "cpus: an integer 1..64");
      return;
    }
    Napi::Value ramV = o.Get("ram"), mmioV = o.Get("mmio"), exitV = o.Get("exitBuffer"), onExitV = o.Get("onExit");
    if (!ramV.IsArray() || !mmioV.IsArray() || !exitV.IsArrayBuffer() || !onExitV.IsFunction()) {
      typeError(env, "ram (array), mmio (array), exitBuffer (ArrayBuffer) and onExit (function) are required");
      return;
    }
    soft::Machine::Config c;
    c.cpus = static_cast<int>(cpus);
    // Regions must be page aligned, within the 40-bit physical space, and disjoint.
    struct Span {
      uint64_t base, size;
    };
    std::vector<Span> spans;
    constexpr double PHYS_MAX = static_cast<double>(1ull << soft::PHYS_BITS);
    auto aligned = [](double v) { return std::fmod(v, 4096.0) == 0; };
    Napi::Array ram = ramV.As<Napi::Array>();
    for (uint32_t i = 0; i < ram.Length(); i++) {
      Napi::Value e = ram.Get(i);
      if (!e.IsObject()) {
        typeError(env, "ram[" + std::to_string(i) + "]: { gpa, buffer }");
        return;
      }
      Napi::Object r = e.As<Napi::Object>();
      double gpa = 0;
      Napi::Value b = r.Get("buffer");
      if (!isUint(r.Get("gpa"), PHYS_MAX, &gpa) || !aligned(gpa) || !b.IsArrayBuffer()) {
        typeError(env, "ram[" + std::to_string(i) + "]: gpa (4 KiB aligned) and buffer (ArrayBuffer) required");
        return;
      }
      Napi::ArrayBuffer ab = b.As<Napi::ArrayBuffer>();
      size_t len = ab.ByteLength();
      if (len == 0 || len % 4096 != 0 || reinterpret_cast<uintptr_t>(ab.Data()) % 4096 != 0 || gpa + len > PHYS_MAX) {
        Napi::RangeError::New(env, "ram[" + std::to_string(i) + "]: buffer must be page aligned, a multiple of 4 KiB, below 1 TiB")
            .ThrowAsJavaScriptException();
        return;
      }
      c.ram.regions.push_back({static_cast<uint64_t>(gpa), len, static_cast<uint8_t*>(ab.Data())});
      spans.push_back({static_cast<uint64_t>(gpa), len});
      ramRefs_.push_back(Napi::Persistent(ab));
    }
    if (c.ram.regions.empty() || c.ram.regions[0].gpa != 0) {
      Napi::RangeError::New(env, "ram: the first region must start at guest-physical 0").ThrowAsJavaScriptException();
      return;
    }
    Napi::Array mmio = mmioV.As<Napi::Array>();
    for (uint32_t i = 0; i < mmio.Length(); i++) {
      Napi::Value e = mmio.Get(i);
      double base = 0, size = 0;
      if (!e.IsObject() || !isUint(e.As<Napi::Object>().Get("base"), PHYS_MAX, &base) ||
          !isUint(e.As<Napi::Object>().Get("size"), PHYS_MAX, &size) || size == 0 || !aligned(base) || !aligned(size) ||
          base + size > PHYS_MAX) {
        Napi::RangeError::New(env, "mmio[" + std::to_string(i) + "]: { base, size }, 4 KiB aligned, below 1 TiB")
            .ThrowAsJavaScriptException();
        return;
      }
      c.mmio.push_back({static_cast<uint64_t>(base), static_cast<uint64_t>(size)});
      spans.push_back({static_cast<uint64_t>(base), static_cast<uint64_t>(size)});
    }
    for (size_t a = 0; a < spans.size(); a++) {
      for (size_t b = a + 1; b < spans.size(); b++) {
        if (spans[a].base < spans[b].base + spans[b].size && spans[b].base < spans[a].base + spans[a].size) {
          Napi::RangeError::New(env, "ram and mmio ranges overlap").ThrowAsJavaScriptException();
          return;
        }
      }
    }
    Napi::ArrayBuffer exitBuf = exitV.As<Napi::ArrayBuffer>();
    if (exitBuf.ByteLength() < soft::EXIT_BUFFER_SIZE) {
      Napi::RangeError::New(env, "exitBuffer: at least " + std::to_string(soft::EXIT_BUFFER_SIZE) + " bytes")
          .ThrowAsJavaScriptException();
      return;
    }
    exitRef_ = Napi::Persistent(exitBuf);
    c.exitBuffer = static_cast<uint8_t*>(exitBuf.Data());
    sink_ = std::make_unique<JsSink>(env, onExitV);
    c.sink = sink_.get();
    bool ok = false;
    std::string report = soft::selfTest(&ok);
    if (!ok) {
      Napi::Error::New(env, "the soft CPU cannot run on this Unicorn: " + report).ThrowAsJavaScriptException();
      return;
    }
    std::string why;
    machine_ = Machine::create(std::move(c), &why);
    if (!machine_) {
      Napi::Error::New(env, "soft machine: " + why).ThrowAsJavaScriptException();
      return;
    }
  }

  ~SoftMachine() override { release(); }

 private:
  void release() {
    if (machine_) {
      soft::loopWatchStopAll(machine_.get());
      machine_.reset();
    }
  }

  // Common checks: machine alive, not inside its own run (a device handler
  // must not touch vCPU state mid-instruction), vCPU index valid.
  bool vcpuArg(const Napi::CallbackInfo& info, int* i, bool allowDuringRun = false) {
    Napi::Env env = info.Env();
    if (!machine_) {
      Napi::Error::New(env, "soft machine destroyed").ThrowAsJavaScriptException();
      return false;
    }
    if (!allowDuringRun && machine_->running()) {
      Napi::Error::New(env, "soft machine: vCPU state is not available while a vCPU runs (from an I/O handler)")
          .ThrowAsJavaScriptException();
      return false;
    }
    if (info.Length() < 1 || !isIndex(info[0], machine_->count(), i)) {
      Napi::RangeError::New(env, "vCPU index out of range").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  bool bytesArg(const Napi::CallbackInfo& info, size_t at, size_t size, uint8_t** out) {
    if (info.Length() <= at || !info[at].IsTypedArray() ||
        info[at].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        info[at].As<Napi::Uint8Array>().ByteLength() != size) {
      Napi::TypeError::New(info.Env(), "expected a Uint8Array of " + std::to_string(size) + " bytes").ThrowAsJavaScriptException();
      return false;
    }
    *out = info[at].As<Napi::Uint8Array>().Data();
    return true;
  }

  bool ramAlive(Napi::Env env) {
    for (auto& r : ramRefs_) {
      if (r.Value().IsDetached()) {
        Napi::Error::New(env, "soft machine: guest RAM was unmapped before the machine was destroyed").ThrowAsJavaScriptException();
        return false;
      }
    }
    return true;
  }

  // run(i, budgetNs) -> RunCode
  Napi::Value Run(const Napi::CallbackInfo& info) {
    int i = 0;
    double budget = 0;
    if (!vcpuArg(info, &i) || !ramAlive(info.Env())) return info.Env().Undefined();
    if (info.Length() < 2 || !isUint(info[1], 3.6e12, &budget)) return typeError(info.Env(), "run(i, budgetNs): budget 0..1 hour");
    int code = machine_->run(i, static_cast<int64_t>(budget));
    if (code == soft::RUN_JS_EXCEPTION) return info.Env().Undefined();  // the handler's exception propagates
    return Napi::Number::New(info.Env(), code);
  }

  // idle(timeoutNs) -> true when kicked
  Napi::Value Idle(const Napi::CallbackInfo& info) {
    double t = 0;
    if (!machine_) return typeError(info.Env(), "soft machine destroyed");
    if (info.Length() < 1 || !isUint(info[0], 3.6e12, &t)) return typeError(info.Env(), "idle(timeoutNs)");
    return Napi::Boolean::New(info.Env(), machine_->idle(static_cast<int64_t>(t)));
  }

  Napi::Value Kick(const Napi::CallbackInfo& info) {
    if (machine_) machine_->kick();
    return info.Env().Undefined();
  }

  Napi::Value Flags(const Napi::CallbackInfo& info) {
    int i = 0;
    if (!vcpuArg(info, &i)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), machine_->vcpu(i).flags());
  }

  Napi::Value State(const Napi::CallbackInfo& info) {
    int i = 0;
    if (!vcpuArg(info, &i, true)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), machine_->vcpu(i).state());
  }

  Napi::Value SetState(const Napi::CallbackInfo& info) {
    int i = 0, s = 0;
    if (!vcpuArg(info, &i)) return info.Env().Undefined();
    if (info.Length() < 2 || !isIndex(info[1], 3, &s)) return typeError(info.Env(), "setState(i, 0 | 1 | 2)");
    machine_->vcpu(i).setState(s);
    return info.Env().Undefined();
  }

  // interrupt(i, vector) -> 0 delivered, RUN_SHUTDOWN, RUN_ERROR
  Napi::Value Interrupt(const Napi::CallbackInfo& info) {
    int i = 0, vector = 0;
    if (!vcpuArg(info, &i)) return info.Env().Undefined();
    if (info.Length() < 2 || !isIndex(info[1], 256, &vector) || vector < 16)
      return typeError(info.Env(), "interrupt(i, vector): vector 16..255");
    soft::Event e;
    e.vector = vector;
    e.kind = soft::EventKind::External;
    return Napi::Number::New(info.Env(), machine_->vcpu(i).deliver(e));
  }

  // nmi(i): delivered now, or held while an NMI handler runs -> 0, RUN_SHUTDOWN, RUN_ERROR
  Napi::Value Nmi(const Napi::CallbackInfo& info) {
    int i = 0;
    if (!vcpuArg(info, &i)) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), machine_->vcpu(i).raiseNmi());
  }

  // init(i): INIT (the vCPU waits for a SIPI); sipi(i, vector): start in real mode at vector << 12.
  Napi::Value Init(const Napi::CallbackInfo& info) {
    int i = 0;
    if (!vcpuArg(info, &i)) return info.Env().Undefined();
    machine_->vcpu(i).resetState(true);
    return info.Env().Undefined();
  }

  Napi::Value Sipi(const Napi::CallbackInfo& info) {
    int i = 0, vector = 0;
    if (!vcpuArg(info, &i)) return info.Env().Undefined();
    if (info.Length() < 2 || !isIndex(info[1], 256, &vector)) return typeError(info.Env(), "sipi(i, vector): vector 0..255");
    machine_->vcpu(i).startAt(vector);
    return info.Env().Undefined();
  }

  Napi::Value GetRegs(const Napi::CallbackInfo& info) {
    int i = 0;
    uint8_t* out = nullptr;
    if (!vcpuArg(info, &i) || !bytesArg(info, 1, soft::KVM_REGS_SIZE, &out)) return info.Env().Undefined();
    soft::getRegs(machine_->vcpu(i), out);
    return info.Env().Undefined();
  }

  Napi::Value SetRegs(const Napi::CallbackInfo& info) {
    int i = 0;
    uint8_t* in = nullptr;
    if (!vcpuArg(info, &i) || !bytesArg(info, 1, soft::KVM_REGS_SIZE, &in)) return info.Env().Undefined();
    soft::setRegs(machine_->vcpu(i), in);
    return info.Env().Undefined();
  }

  Napi::Value GetSregs(const Napi::CallbackInfo& info) {
    int i = 0;
    uint8_t* out = nullptr;
    if (!vcpuArg(info, &i) || !bytesArg(info, 1, soft::KVM_SREGS_SIZE, &out)) return info.Env().Undefined();
    soft::getSregs(machine_->vcpu(i), out);
    return info.Env().Undefined();
  }

  // setSregs(i, bytes) -> undefined, or why the values are impossible
  Napi::Value SetSregs(const Napi::CallbackInfo& info) {
    int i = 0;
    uint8_t* in = nullptr;
    if (!vcpuArg(info, &i) || !bytesArg(info, 1, soft::KVM_SREGS_SIZE, &in)) return info.Env().Undefined();
    std::string why;
    if (!soft::setSregs(machine_->vcpu(i), in, &why)) return Napi::String::New(info.Env(), why);
    return info.Env().Undefined();
  }

  Napi::Value SaveState(const Napi::CallbackInfo& info) {
    int i = 0;
    uint8_t* out = nullptr;
    if (!vcpuArg(info, &i) || !bytesArg(info, 1, soft::rec::SIZE, &out)) return info.Env().Undefined();
    soft::saveState(machine_->vcpu(i), out);
    return info.Env().Undefined();
  }

  Napi::Value RestoreState(const Napi::CallbackInfo& info) {
    int i = 0;
    uint8_t* in = nullptr;
    if (!vcpuArg(info, &i) || !bytesArg(info, 1, soft::rec::SIZE, &in)) return info.Env().Undefined();
    std::string why;
    if (!soft::restoreState(machine_->vcpu(i), in, soft::rec::SIZE, &why)) return Napi::String::New(info.Env(), why);
    return info.Env().Undefined();
  }

  Napi::Value LastError(const Napi::CallbackInfo& info) {
    int i = 0;
    if (!vcpuArg(info, &i, true)) return info.Env().Undefined();
    return Napi::String::New(info.Env(), machine_->vcpu(i).lastError());
  }

  // invalidateCode(gpa, length) -> pages that held translated code
  Napi::Value InvalidateCode(const Napi::CallbackInfo& info) {
    double gpa = 0, len = 0;
    if (!machine_) return typeError(info.Env(), "soft machine destroyed");
    constexpr double PHYS_MAX = static_cast<double>(1ull << soft::PHYS_BITS);
    if (info.Length() < 2 || !isUint(info[0], PHYS_MAX, &gpa) || !isUint(info[1], PHYS_MAX, &len) || gpa + len > PHYS_MAX)
      return typeError(info.Env(), "invalidateCode(gpa, length) within the physical address space");
    return Napi::Number::New(info.Env(), static_cast<double>(machine_->invalidateCode(static_cast<uint64_t>(gpa), static_cast<uint64_t>(len))));
  }

  Napi::Value LoopWatchStart(const Napi::CallbackInfo& info) {
    if (!machine_) return typeError(info.Env(), "soft machine destroyed");
    return Napi::Number::New(info.Env(), soft::loopWatchStart(info.Env(), machine_.get()));
  }

  Napi::Value LoopWatchStop(const Napi::CallbackInfo& info) {
    double id = 0;
    if (!machine_) return Napi::Number::New(info.Env(), -ESRCH);
    if (info.Length() < 1 || !isUint(info[0], 2147483647.0, &id)) return typeError(info.Env(), "loopWatchStop(id)");
    return Napi::Number::New(info.Env(), soft::loopWatchStop(static_cast<int>(id), machine_.get()));
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    if (machine_ && machine_->running()) {
      Napi::Error::New(info.Env(), "soft machine: destroy() from inside its own run").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    release();
    sink_.reset();
    ramRefs_.clear();
    exitRef_.Reset();
    return info.Env().Undefined();
  }

  // setClock(running, value): the machine clock as src/kernel/MachineClock.ts
  // keeps it; running: value = CLOCK_MONOTONIC ns less guest ns, stopped:
  // value = the guest ns it stands at (a BigInt either way).
  Napi::Value SetClock(const Napi::CallbackInfo& info) {
    if (!machine_) return typeError(info.Env(), "soft machine destroyed");
    bool lossless = false;
    if (info.Length() < 2 || !info[0].IsBoolean() || !info[1].IsBigInt()) {
      return typeError(info.Env(), "setClock(running: boolean, value: bigint)");
    }
    int64_t value = info[1].As<Napi::BigInt>().Int64Value(&lossless);
    bool running = info[0].As<Napi::Boolean>().Value();
    if (!lossless || (!running && value < 0)) return typeError(info.Env(), "setClock: value out of range");
    machine_->setClock(running, value);
    return info.Env().Undefined();
  }

  Napi::Value Token(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), machine_ ? machine_->token() : -1);
  }

  Napi::Value Count(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), machine_ ? machine_->count() : 0);
  }

  std::unique_ptr<JsSink> sink_;
  std::unique_ptr<Machine> machine_;
  std::vector<Napi::Reference<Napi::ArrayBuffer>> ramRefs_;
  Napi::Reference<Napi::ArrayBuffer> exitRef_;
};

// kick(token) -> 0 or -ESRCH: any thread, any realm.
Napi::Value KickToken(const Napi::CallbackInfo& info) {
  double t = 0;
  if (info.Length() < 1 || !isUint(info[0], 2147483647.0, &t)) return typeError(info.Env(), "kick(token)");
  return Napi::Number::New(info.Env(), Machine::kickToken(static_cast<int>(t)));
}

// info() -> { unicorn, active, selfTest, ok, counts }
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  unsigned major = 0, minor = 0;
  unsigned combined = uc_version(&major, &minor);
  // uc_version returns major << 24 | minor << 16 | patch << 8 | extra.
  o.Set("unicorn", Napi::String::New(env, std::to_string(major) + "." + std::to_string(minor) + "." +
                                              std::to_string((combined >> 8) & 0xff)));
  bool ok = false;
  std::string report = soft::selfTest(&ok);
  o.Set("ok", Napi::Boolean::New(env, ok));
  o.Set("report", Napi::String::New(env, report));
  o.Set("pagingFix", Napi::Boolean::New(env, soft::pagingFixActive()));
  o.Set("fastStores", Napi::Boolean::New(env, soft::fastStoresActive()));
  Napi::Object c = Napi::Object::New(env);
  const soft::InterposeCounts& g = soft::g_counts;
  c.Set("pageCollectionLock", Napi::Number::New(env, static_cast<double>(g.pageCollectionLock.load())));
  c.Set("hlt", Napi::Number::New(env, static_cast<double>(g.hlt.load())));
  c.Set("pause", Napi::Number::New(env, static_cast<double>(g.pause.load())));
  c.Set("getTsc", Napi::Number::New(env, static_cast<double>(g.getTsc.load())));
  c.Set("rdmsr", Napi::Number::New(env, static_cast<double>(g.rdmsr.load())));
  c.Set("wrmsr", Napi::Number::New(env, static_cast<double>(g.wrmsr.load())));
  c.Set("memoryMapping", Napi::Number::New(env, static_cast<double>(g.memoryMapping.load())));
  c.Set("tlbSetPage", Napi::Number::New(env, static_cast<double>(g.tlbSetPage.load())));
  c.Set("syscall", Napi::Number::New(env, static_cast<double>(g.syscall.load())));
  c.Set("sysenter", Napi::Number::New(env, static_cast<double>(g.sysenter.load())));
  c.Set("mmioWide", Napi::Number::New(env, static_cast<double>(g.mmioWide.load())));
  c.Set("codePages", Napi::Number::New(env, static_cast<double>(g.codePages.load())));
  c.Set("crossInvalidations", Napi::Number::New(env, static_cast<double>(g.crossInvalidations.load())));
  c.Set("fastStorePages", Napi::Number::New(env, static_cast<double>(g.fastStorePages.load())));
  c.Set("exitChecksDropped", Napi::Number::New(env, static_cast<double>(g.exitChecksDropped.load())));
  o.Set("counts", c);
  return o;
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("SoftMachine", SoftMachine::Define(env));
  exports.Set("kick", Napi::Function::New(env, KickToken));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(bhyve_soft, InitModule)
