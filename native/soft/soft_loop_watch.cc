// Ends the soft machine's run (or idle wait) when the calling thread's event
// loop has work: native/loop_watch.cc's design for the soft CPU. A thread
// polls the libuv loop's backend (epoll) fd of the thread that runs the
// machine; as soon as anything there is ready (a disk completion from the
// thread pool, a socket, a message from another thread) it kicks the
// machine, so the loop takes a turn now rather than at the end of the time
// slice. After a kick it waits until the machine runs (or idles) again
// before looking, so a loop busy with JavaScript is not kicked over and over.
#include "soft_loop_watch.h"

#include <uv.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <poll.h>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

namespace soft {

namespace {

struct Watch {
  std::thread thread;
  int stopFd = -1;
  bool stopping = false;  // read with __atomic builtins (Machine::waitEntered takes a bool*)
  Machine* machine = nullptr;
};

std::mutex& watchesMutex = *new std::mutex;
std::map<int, Watch*>& watches = *new std::map<int, Watch*>;
int nextWatch = 1;

void watchLoop(int loopFd, Watch* w) {
  struct pollfd fds[2] = {{loopFd, POLLIN, 0}, {w->stopFd, POLLIN, 0}};
  uint64_t seen = w->machine->entries();
  while (!__atomic_load_n(&w->stopping, __ATOMIC_SEQ_CST)) {
    uint64_t now = w->machine->waitEntered(seen, 1000, &w->stopping);
    if (now == seen) continue;
    seen = now;
    for (;;) {
      if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      if (fds[0].revents != 0) break;
    }
    Machine::kickToken(w->machine->token());
  }
}

}  // namespace

int loopWatchStart(napi_env env, Machine* machine) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return -ENOTSUP;
  int loopFd = uv_backend_fd(loop);
  if (loopFd < 0) return -ENOTSUP;
  int stopFd = eventfd(0, EFD_CLOEXEC);
  if (stopFd < 0) return -errno;
  auto* w = new Watch;
  w->stopFd = stopFd;
  w->machine = machine;
  w->thread = std::thread(watchLoop, loopFd, w);
  std::lock_guard<std::mutex> lock(watchesMutex);
  int id = nextWatch++;
  watches[id] = w;
  return id;
}

int loopWatchStop(int id, Machine* machine) {
  Watch* w = nullptr;
  {
    std::lock_guard<std::mutex> lock(watchesMutex);
    auto it = watches.find(id);
    if (it == watches.end() || (machine != nullptr && it->second->machine != machine)) return -ESRCH;
    w = it->second;
    watches.erase(it);
  }
  __atomic_store_n(&w->stopping, true, __ATOMIC_SEQ_CST);
  w->machine->wakeWaiters();
  uint64_t one = 1;
  if (write(w->stopFd, &one, sizeof one) < 0) { /* cannot fail below the counter's limit */ }
  w->thread.join();
  close(w->stopFd);
  delete w;
  return 0;
}

void loopWatchStopAll(Machine* machine) {
  for (;;) {
    int id = -1;
    {
      std::lock_guard<std::mutex> lock(watchesMutex);
      for (auto& [k, w] : watches) {
        if (w->machine == machine) {
          id = k;
          break;
        }
      }
    }
    if (id < 0) return;
    loopWatchStop(id, machine);
  }
}

}  // namespace soft
