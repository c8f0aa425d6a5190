// A thread per packet fd (a tap device, a unix datagram socket) that reads
// whole frames and hands each to a JavaScript callback on the thread that
// started it. (If that thread is inside KVM_RUN, native/loop_watch.cc sees
// the queued call on its event loop and kicks the vCPU.) Frames the
// JavaScript side has not taken yet are bounded: beyond the queue they are
// dropped, as a NIC drops what it has no room for.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <mutex>
#include <poll.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace bhyve {
namespace {

constexpr size_t kQueueLimit = 512;
constexpr size_t kMaxFrame = 65536;

struct Packet {
  std::vector<uint8_t> bytes;
  int error = 0;  // errno that ended the reader, 0 for a frame
};

void DeliverPacket(Napi::Env env, Napi::Function callback, std::nullptr_t*, Packet* packet) {
  if (env != nullptr && !callback.IsEmpty()) {
    if (packet->error != 0) {
      callback.Call({env.Undefined(), Napi::Number::New(env, -packet->error)});
    } else {
      Napi::Uint8Array frame = Napi::Uint8Array::New(env, packet->bytes.size());
      std::copy(packet->bytes.begin(), packet->bytes.end(), frame.Data());
      callback.Call({frame});
    }
  }
  delete packet;
}

using PacketCallback = Napi::TypedThreadSafeFunction<std::nullptr_t, Packet, DeliverPacket>;

struct Reader {
  std::thread thread;
  int stop_fd = -1;
  PacketCallback callback;
};

std::mutex& readers_mutex = *new std::mutex;
std::map<int, Reader*>& readers = *new std::map<int, Reader*>;
int next_id = 1;

// Tells JavaScript that reading stopped (dropped, like a frame, if its queue is full).
void ReportError(PacketCallback& callback, int error) {
  Packet* packet = new Packet{{}, error};
  if (callback.NonBlockingCall(packet) != napi_ok) delete packet;
}

void ReadLoop(int fd, int stop_fd, PacketCallback callback) {
  std::vector<uint8_t> buffer(kMaxFrame);
  struct pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      ReportError(callback, errno);
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      ReportError(callback, errno);
      return;
    }
    if (n == 0) continue;
    Packet* packet = new Packet{std::vector<uint8_t>(buffer.begin(), buffer.begin() + n), 0};
    if (callback.NonBlockingCall(packet) != napi_ok) delete packet;  // queue full (or closing): the frame is dropped
  }
}

}  // namespace

// packetReaderStart(fd, callback) -> reader id or -errno.
// callback(frame: Uint8Array) per frame; callback(undefined, -errno) once if reading fails.
Napi::Value PacketReaderStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) return Napi::Number::New(env, -EINVAL);
  int fd = info[0].As<Napi::Number>().Int32Value();
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) return Napi::Number::New(env, -errno);
  Reader* reader = new Reader;
  reader->stop_fd = stop_fd;
  reader->callback = PacketCallback::New(env, info[1].As<Napi::Function>(), "bhyve-packet-reader", kQueueLimit, 1);
  reader->thread = std::thread(ReadLoop, fd, stop_fd, reader->callback);
  std::lock_guard<std::mutex> lock(readers_mutex);
  int id = next_id++;
  readers[id] = reader;
  return Napi::Number::New(env, id);
}

// packetReaderStop(id) -> 0 or -ESRCH. Joins the thread; frames it queued before may still be delivered.
Napi::Value PacketReaderStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env, -EINVAL);
  Reader* reader = nullptr;
  {
    std::lock_guard<std::mutex> lock(readers_mutex);
    auto it = readers.find(info[0].As<Napi::Number>().Int32Value());
    if (it == readers.end()) return Napi::Number::New(env, -ESRCH);
    reader = it->second;
    readers.erase(it);
  }
  uint64_t one = 1;
  if (write(reader->stop_fd, &one, sizeof one) < 0) { /* an eventfd write cannot fail below its limit */ }
  reader->thread.join();
  close(reader->stop_fd);
  reader->callback.Release();
  delete reader;
  return Napi::Number::New(env, 0);
}

}  // namespace bhyve
