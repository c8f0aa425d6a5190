// Host file descriptors Node cannot make itself: eventfds (irqfd), AF_UNIX
// datagram sockets (virtio-net's unix backend), plain write(2) of one
// packet, and lseek(SEEK_DATA) to find a sparse file's holes. Thin wrappers: every policy (paths, stale sockets, drops) lives in
// TypeScript. Failures come back as -errno, never as throws.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace bhyve {
namespace {

Napi::Number Result(Napi::Env env, long rc) { return Napi::Number::New(env, rc < 0 ? -errno : rc); }

// sockaddr_un for a path, or false when it does not fit sun_path.
bool UnixAddress(const std::string& path, struct sockaddr_un* out) {
  std::memset(out, 0, sizeof *out);
  out->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof out->sun_path) return false;
  std::memcpy(out->sun_path, path.data(), path.size());
  return true;
}

bool ValidArgs(const Napi::CallbackInfo& info, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (info.Length() <= i || info[i].IsUndefined()) return false;
  return true;
}

}  // namespace

// eventFd() -> fd (EFD_CLOEXEC | EFD_NONBLOCK) or -errno
Napi::Value EventFd(const Napi::CallbackInfo& info) {
  return Result(info.Env(), eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

// eventFdSignal(fd) -> 0 or -errno: adds 1 to the counter (what an irqfd waits for).
Napi::Value EventFdSignal(const Napi::CallbackInfo& info) {
  if (!ValidArgs(info, 1)) return Napi::Number::New(info.Env(), -EINVAL);
  uint64_t one = 1;
  ssize_t n = write(info[0].As<Napi::Number>().Int32Value(), &one, sizeof one);
  return Napi::Number::New(info.Env(), n < 0 ? -errno : 0);
}

// unixDatagramSocket() -> fd (SOCK_CLOEXEC | SOCK_NONBLOCK) or -errno
Napi::Value UnixDatagramSocket(const Napi::CallbackInfo& info) {
  return Result(info.Env(), socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
}

// unixBind(fd, path) / unixConnect(fd, path) -> 0 or -errno (-ENAMETOOLONG past sun_path)
Napi::Value UnixBind(const Napi::CallbackInfo& info) {
  if (!ValidArgs(info, 2)) return Napi::Number::New(info.Env(), -EINVAL);
  struct sockaddr_un addr;
  if (!UnixAddress(info[1].As<Napi::String>().Utf8Value(), &addr)) return Napi::Number::New(info.Env(), -ENAMETOOLONG);
  return Result(info.Env(), bind(info[0].As<Napi::Number>().Int32Value(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr));
}

Napi::Value UnixConnect(const Napi::CallbackInfo& info) {
  if (!ValidArgs(info, 2)) return Napi::Number::New(info.Env(), -EINVAL);
  struct sockaddr_un addr;
  if (!UnixAddress(info[1].As<Napi::String>().Utf8Value(), &addr)) return Napi::Number::New(info.Env(), -ENAMETOOLONG);
  return Result(info.Env(), connect(info[0].As<Napi::Number>().Int32Value(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr));
}

// unixSendTo(fd, path, bytes) -> bytes sent or -errno (EAGAIN when the peer's queue is full)
Napi::Value UnixSendTo(const Napi::CallbackInfo& info) {
  if (!ValidArgs(info, 3)) return Napi::Number::New(info.Env(), -EINVAL);
  struct sockaddr_un addr;
  if (!UnixAddress(info[1].As<Napi::String>().Utf8Value(), &addr)) return Napi::Number::New(info.Env(), -ENAMETOOLONG);
  Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
  return Result(info.Env(), sendto(info[0].As<Napi::Number>().Int32Value(), bytes.Data(), bytes.ByteLength(), MSG_DONTWAIT,
                                   reinterpret_cast<struct sockaddr*>(&addr), sizeof addr));
}

// packetWrite(fd, bytes) -> bytes written or -errno: one frame to a tap fd.
Napi::Value PacketWrite(const Napi::CallbackInfo& info) {
  if (!ValidArgs(info, 2)) return Napi::Number::New(info.Env(), -EINVAL);
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  return Result(info.Env(), write(info[0].As<Napi::Number>().Int32Value(), bytes.Data(), bytes.ByteLength()));
}

// seekData(fd, offset) -> the first offset >= `offset` holding data, or -errno
// (-ENXIO: only a hole, or nothing, from there to the end of the file).
Napi::Value SeekData(const Napi::CallbackInfo& info) {
  if (!ValidArgs(info, 2)) return Napi::Number::New(info.Env(), -EINVAL);
  off_t at = lseek(info[0].As<Napi::Number>().Int32Value(), static_cast<off_t>(info[1].As<Napi::Number>().Int64Value()), SEEK_DATA);
  return Napi::Number::New(info.Env(), at < 0 ? -errno : static_cast<double>(at));
}

}  // namespace bhyve
