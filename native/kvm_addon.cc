// The thin native layer: system calls that JavaScript cannot make itself
// (open/close of device files, ioctl with a struct pointer, mmap) and the
// vCPU run/kick pair. Every struct layout and every policy lives in
// TypeScript. Failures come back as negative errno values, never as throws.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ap_thread.h"
#include "vcpu_kick.h"

namespace bhyve {
// native/peer_cred.cc: peerCredentials(fd) -> { pid, uid, gid } or -errno
Napi::Value PeerCredentials(const Napi::CallbackInfo& info);
// native/host_fd.cc
Napi::Value EventFd(const Napi::CallbackInfo& info);
Napi::Value EventFdSignal(const Napi::CallbackInfo& info);
Napi::Value UnixDatagramSocket(const Napi::CallbackInfo& info);
Napi::Value UnixBind(const Napi::CallbackInfo& info);
Napi::Value UnixConnect(const Napi::CallbackInfo& info);
Napi::Value UnixSendTo(const Napi::CallbackInfo& info);
Napi::Value PacketWrite(const Napi::CallbackInfo& info);
Napi::Value SeekData(const Napi::CallbackInfo& info);
// native/loop_watch.cc
Napi::Value LoopWatchStart(const Napi::CallbackInfo& info);
Napi::Value LoopWatchStop(const Napi::CallbackInfo& info);
// native/packet_reader.cc
Napi::Value PacketReaderStart(const Napi::CallbackInfo& info);
Napi::Value PacketReaderStop(const Napi::CallbackInfo& info);
// native/uffd_lazy_restore.cc
Napi::Value LazyRestoreStart(const Napi::CallbackInfo& info);
Napi::Value LazyRestoreStats(const Napi::CallbackInfo& info);
Napi::Value LazyRestoreStop(const Napi::CallbackInfo& info);
// native/uffd_write_tracker.cc
void RegisterWriteTracker(Napi::Env env, Napi::Object exports);
}  // namespace bhyve

namespace {

Napi::Value Errno(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

// open(path, O_RDWR | O_CLOEXEC | extraFlags) -> fd or -errno
Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int extra = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | extra);
  return fd < 0 ? Errno(info.Env(), errno) : Napi::Number::New(info.Env(), fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), close(fd) < 0 ? -errno : 0);
}

// The generic ioctls are set-up and state calls (KVM_RUN has its own entry
// below, where EINTR means a kick): a signal landing meanwhile (a profiler's
// SIGPROF) must not fail them, e.g. KVM_CREATE_VM with EINTR.
template <typename Arg>
int IoctlRetryingEintr(int fd, unsigned long request, Arg arg) {
  int rc;
  do {
    rc = ioctl(fd, request, arg);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

// ioctl(fd, request, unsigned long arg) -> result or -errno
Napi::Value IoctlValue(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned long request = static_cast<unsigned long>(info[1].As<Napi::Number>().Int64Value());
  unsigned long arg = static_cast<unsigned long>(info[2].As<Napi::Number>().Int64Value());
  int rc = IoctlRetryingEintr(fd, request, arg);
  return rc < 0 ? Errno(info.Env(), errno) : Napi::Number::New(info.Env(), rc);
}

// ioctl(fd, request, pointer to the bytes of a Uint8Array) -> result or -errno
Napi::Value IoctlBuffer(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned long request = static_cast<unsigned long>(info[1].As<Napi::Number>().Int64Value());
  Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
  int rc = IoctlRetryingEintr(fd, request, bytes.Data());
  return rc < 0 ? Errno(info.Env(), errno) : Napi::Number::New(info.Env(), rc);
}

// The mapping outlives any GC decision: it is unmapped only by Unmap(), which
// first detaches the ArrayBuffer so that no JavaScript view can reach freed
// memory afterwards.
Napi::Value WrapMapping(Napi::Env env, void* addr, size_t size) {
  return Napi::ArrayBuffer::New(env, addr, size);
}

// Anonymous private memory (guest RAM) -> ArrayBuffer or -errno. Private, not
// shared: reading a page the guest never touched then maps the zero page
// instead of allocating one, so a save's zero-page scan costs no memory.
Napi::Value MapAnonymous(const Napi::CallbackInfo& info) {
  size_t size = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) return Errno(info.Env(), errno);
  madvise(addr, size, MADV_MERGEABLE);
  return WrapMapping(info.Env(), addr, size);
}

// mmap of a file descriptor (the vCPU's struct kvm_run) -> ArrayBuffer or -errno
Napi::Value MapFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  off_t offset = static_cast<off_t>(info[2].As<Napi::Number>().Int64Value());
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  if (addr == MAP_FAILED) return Errno(info.Env(), errno);
  return WrapMapping(info.Env(), addr, size);
}

// A private mapping of a file (a snapshot's RAM file) -> ArrayBuffer or -errno.
// Pages come from the file when first touched; writes stay in this process
// (copy on write), so the file is never changed. The restore is then lazy:
// nothing is read up front.
Napi::Value MapFilePrivate(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  off_t offset = static_cast<off_t>(info[2].As<Napi::Number>().Int64Value());
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, offset);
  if (addr == MAP_FAILED) return Errno(info.Env(), errno);
  return WrapMapping(info.Env(), addr, size);
}

Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  void* addr = buffer.Data();
  size_t size = buffer.ByteLength();
  if (addr == nullptr || size == 0) return Napi::Number::New(info.Env(), 0);  // already unmapped
  buffer.Detach();
  return Napi::Number::New(info.Env(), munmap(addr, size) < 0 ? -errno : 0);
}

// Host virtual address of an ArrayBuffer, for KVM_SET_USER_MEMORY_REGION.
Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(buffer.Data())));
}

Napi::Value KickRegister(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer run = info[0].As<Napi::ArrayBuffer>();
  return Napi::Number::New(info.Env(), bhyve::kick_register(static_cast<struct kvm_run*>(run.Data())));
}

Napi::Value KickUnregister(const Napi::CallbackInfo& info) {
  bhyve::kick_unregister(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// KVM_RUN on the calling thread -> 0 or -errno. Blocks while the guest runs,
// at most timeout_ms (third argument) when it is given.
Napi::Value Run(const Napi::CallbackInfo& info) {
  int token = info[0].As<Napi::Number>().Int32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  int timeout_ms = info.Length() > 2 ? info[2].As<Napi::Number>().Int32Value() : 0;
  return Napi::Number::New(info.Env(), bhyve::kick_run(token, fd, timeout_ms));
}

Napi::Value Kick(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bhyve::kick(info[0].As<Napi::Number>().Int32Value()));
}

// AP threads (native/ap_thread.h): apStart(kickToken, vcpuFd, notifyToken) -> id or -errno
Napi::Value ApStart(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bhyve::ap_start(info[0].As<Napi::Number>().Int32Value(),
                                                       info[1].As<Napi::Number>().Int32Value(),
                                                       info[2].As<Napi::Number>().Int32Value()));
}

// apPending(notifyToken, out: Int32Array) -> how many ids it wrote into out
Napi::Value ApPending(const Napi::CallbackInfo& info) {
  Napi::Int32Array out = info[1].As<Napi::Int32Array>();
  return Napi::Number::New(info.Env(), bhyve::ap_pending(info[0].As<Napi::Number>().Int32Value(), out.Data(),
                                                         static_cast<int>(out.ElementLength())));
}

Napi::Value ApResult(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bhyve::ap_result(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value ApResume(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bhyve::ap_resume(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value ApStop(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bhyve::ap_stop(info[0].As<Napi::Number>().Int32Value()));
}

// apWait(notifyToken, timeoutMs) -> how many APs have an unread exit
Napi::Value ApWait(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bhyve::ap_wait(info[0].As<Napi::Number>().Int32Value(),
                                                      info[1].As<Napi::Number>().Int32Value()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  bhyve::kick_install_signal();
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("ioctlValue", Napi::Function::New(env, IoctlValue));
  exports.Set("ioctlBuffer", Napi::Function::New(env, IoctlBuffer));
  exports.Set("mapAnonymous", Napi::Function::New(env, MapAnonymous));
  exports.Set("mapFd", Napi::Function::New(env, MapFd));
  exports.Set("mapFilePrivate", Napi::Function::New(env, MapFilePrivate));
  exports.Set("unmap", Napi::Function::New(env, Unmap));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf));
  exports.Set("kickRegister", Napi::Function::New(env, KickRegister));
  exports.Set("kickUnregister", Napi::Function::New(env, KickUnregister));
  exports.Set("run", Napi::Function::New(env, Run));
  exports.Set("kick", Napi::Function::New(env, Kick));
  exports.Set("apStart", Napi::Function::New(env, ApStart));
  exports.Set("apPending", Napi::Function::New(env, ApPending));
  exports.Set("apResult", Napi::Function::New(env, ApResult));
  exports.Set("apResume", Napi::Function::New(env, ApResume));
  exports.Set("apStop", Napi::Function::New(env, ApStop));
  exports.Set("apWait", Napi::Function::New(env, ApWait));
  exports.Set("peerCredentials", Napi::Function::New(env, bhyve::PeerCredentials));
  exports.Set("eventFd", Napi::Function::New(env, bhyve::EventFd));
  exports.Set("eventFdSignal", Napi::Function::New(env, bhyve::EventFdSignal));
  exports.Set("unixDatagramSocket", Napi::Function::New(env, bhyve::UnixDatagramSocket));
  exports.Set("unixBind", Napi::Function::New(env, bhyve::UnixBind));
  exports.Set("unixConnect", Napi::Function::New(env, bhyve::UnixConnect));
  exports.Set("unixSendTo", Napi::Function::New(env, bhyve::UnixSendTo));
  exports.Set("packetWrite", Napi::Function::New(env, bhyve::PacketWrite));
  exports.Set("seekData", Napi::Function::New(env, bhyve::SeekData));
  exports.Set("loopWatchStart", Napi::Function::New(env, bhyve::LoopWatchStart));
  exports.Set("loopWatchStop", Napi::Function::New(env, bhyve::LoopWatchStop));
  exports.Set("packetReaderStart", Napi::Function::New(env, bhyve::PacketReaderStart));
  exports.Set("packetReaderStop", Napi::Function::New(env, bhyve::PacketReaderStop));
  exports.Set("lazyRestoreStart", Napi::Function::New(env, bhyve::LazyRestoreStart));
  exports.Set("lazyRestoreStats", Napi::Function::New(env, bhyve::LazyRestoreStats));
  exports.Set("lazyRestoreStop", Napi::Function::New(env, bhyve::LazyRestoreStop));
  bhyve::RegisterWriteTracker(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(bhyve_kvm, Init)
