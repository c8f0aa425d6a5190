// Wakes a vCPU's thread when its event loop has work: a thread polls the
// libuv loop's backend (epoll) fd of the thread that runs the vCPU and, as
// soon as anything there is ready (a disk completion from the thread pool,
// a socket, a message from another thread), kicks the vCPU out of KVM_RUN
// so the loop takes a turn now rather than at the end of the time slice.
// After a kick it waits for the vCPU's next KVM_RUN before looking again,
// so a loop that is busy with JavaScript is not kicked over and over.
#include <napi.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <poll.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

#include "vcpu_kick.h"

namespace bhyve {
namespace {

struct Watch {
  std::thread thread;
  int stop_fd = -1;
  std::atomic<bool> stopping{false};
};

std::mutex& watches_mutex = *new std::mutex;
std::map<int, Watch*>& watches = *new std::map<int, Watch*>;
int next_watch = 1;

void WatchLoop(int loop_fd, int token, Watch* watch) {
  struct pollfd fds[2] = {{loop_fd, POLLIN, 0}, {watch->stop_fd, POLLIN, 0}};
  uint64_t runs = kick_run_count(token);
  while (!watch->stopping.load()) {
    // Until the vCPU is (again) inside KVM_RUN there is no one to wake.
    uint64_t now = kick_wait_run(token, runs, 1000, &watch->stopping);
    if (now == runs) continue;
    runs = now;
    for (;;) {
      if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      if (fds[0].revents != 0) break;
    }
    kick(token);
  }
}

}  // namespace

// loopWatchStart(kickToken) -> id or -errno: watches the calling thread's event loop.
Napi::Value LoopWatchStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env, -EINVAL);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return Napi::Number::New(env, -ENOTSUP);
  int loop_fd = uv_backend_fd(loop);
  if (loop_fd < 0) return Napi::Number::New(env, -ENOTSUP);
  int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) return Napi::Number::New(env, -errno);
  Watch* watch = new Watch;
  watch->stop_fd = stop_fd;
  watch->thread = std::thread(WatchLoop, loop_fd, info[0].As<Napi::Number>().Int32Value(), watch);
  std::lock_guard<std::mutex> lock(watches_mutex);
  int id = next_watch++;
  watches[id] = watch;
  return Napi::Number::New(env, id);
}

// loopWatchStop(id) -> 0 or -ESRCH; joins the thread.
Napi::Value LoopWatchStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Number::New(env, -EINVAL);
  Watch* watch = nullptr;
  {
    std::lock_guard<std::mutex> lock(watches_mutex);
    auto it = watches.find(info[0].As<Napi::Number>().Int32Value());
    if (it == watches.end()) return Napi::Number::New(env, -ESRCH);
    watch = it->second;
    watches.erase(it);
  }
  watch->stopping.store(true);
  kick_wake_waiters();
  uint64_t one = 1;
  if (write(watch->stop_fd, &one, sizeof one) < 0) { /* cannot fail below the counter's limit */ }
  watch->thread.join();
  close(watch->stop_fd);
  delete watch;
  return Napi::Number::New(env, 0);
}

}  // namespace bhyve
