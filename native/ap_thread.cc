#include "ap_thread.h"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <pthread.h>
#include <vector>

#include "vcpu_kick.h"

namespace bhyve {
namespace {

enum class State {
  Running,  // in KVM_RUN, or about to enter it
  Exited,   // stopped at an exit that JavaScript has not read yet
  Read,     // exit read; waits for ap_resume
};

struct ApThread {
  // Never destroyed (slots are reused): a thread may wait on it until joined.
  std::condition_variable& wake = *new std::condition_variable;
  pthread_t thread{};
  int kick_token = -1;
  int vcpu_fd = -1;
  int notify_token = -1;
  bool live = false;  // slot in use: started and not yet joined
  bool resume = false;
  bool stop = false;
  State state = State::Running;
  int rc = 0;
};

// Never destroyed: AP threads and ap_wait callers wait on these, and
// destroying a condition variable with a waiter blocks exit().
std::mutex& mutex = *new std::mutex;
std::condition_variable& exited = *new std::condition_variable;
std::vector<ApThread*>& threads = *new std::vector<ApThread*>;  // index = id

ApThread* find(int id) {
  if (id < 0 || static_cast<size_t>(id) >= threads.size() || !threads[id]->live) return nullptr;
  return threads[id];
}

// Asynchronous signals go to other threads; the kick signal is unblocked by
// kick_run. Synchronous ones (faults) cannot usefully be blocked.
void block_signals(sigset_t* old) {
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&set, s);
  pthread_sigmask(SIG_SETMASK, &set, old);
}

void* ap_main(void* arg) {
  ApThread* t = static_cast<ApThread*>(arg);
  pthread_setname_np(pthread_self(), "bhyve-ap");  // for top -H, and for tests counting these threads
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    t->wake.wait(lock, [t] { return t->resume || t->stop; });
    if (t->stop) break;
    t->resume = false;
    t->state = State::Running;
    int kick_token = t->kick_token, vcpu_fd = t->vcpu_fd, notify_token = t->notify_token;
    lock.unlock();
    // A kick (pause, stop) that lands before KVM_RUN is entered is not lost:
    // it set immediate_exit, so KVM_RUN returns -EINTR at once.
    int rc = kick_run(kick_token, vcpu_fd, 0);
    lock.lock();
    if (t->stop) break;
    t->rc = rc;
    t->state = State::Exited;
    exited.notify_all();
    lock.unlock();
    // The machine thread's KVM_RUN returns -EINTR (or its next one returns
    // at once), and it then asks ap_pending.
    kick(notify_token);
    lock.lock();
  }
  return nullptr;
}

int count_exited(int notify_token) {
  int n = 0;
  for (ApThread* t : threads)
    if (t->live && t->notify_token == notify_token && t->state == State::Exited) n++;
  return n;
}

}  // namespace

int ap_start(int kick_token, int vcpu_fd, int notify_token) {
  std::lock_guard<std::mutex> lock(mutex);
  size_t id = 0;
  while (id < threads.size() && threads[id]->live) id++;
  if (id == threads.size()) threads.push_back(new ApThread);
  ApThread* t = threads[id];
  t->kick_token = kick_token;
  t->vcpu_fd = vcpu_fd;
  t->notify_token = notify_token;
  t->resume = true;
  t->stop = false;
  t->state = State::Running;
  t->rc = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // The new thread starts with every asynchronous signal blocked.
  sigset_t old;
  block_signals(&old);
  int err = pthread_create(&t->thread, &attr, ap_main, t);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (err != 0) return -err;
  t->live = true;
  return static_cast<int>(id);
}

int ap_pending(int notify_token, int32_t* out, int capacity) {
  std::lock_guard<std::mutex> lock(mutex);
  int n = 0;
  for (size_t id = 0; id < threads.size() && n < capacity; id++) {
    ApThread* t = threads[id];
    if (t->live && t->notify_token == notify_token && t->state == State::Exited) out[n++] = static_cast<int32_t>(id);
  }
  return n;
}

int ap_result(int id) {
  std::lock_guard<std::mutex> lock(mutex);
  ApThread* t = find(id);
  if (t == nullptr) return -ESRCH;
  if (t->state == State::Running) return -EBUSY;
  t->state = State::Read;
  return t->rc;
}

int ap_resume(int id) {
  std::lock_guard<std::mutex> lock(mutex);
  ApThread* t = find(id);
  if (t == nullptr) return -ESRCH;
  if (t->state != State::Read || t->resume) return -EBUSY;
  t->resume = true;
  t->wake.notify_one();
  return 0;
}

int ap_stop(int id) {
  int kick_token;
  pthread_t thread;
  {
    std::lock_guard<std::mutex> lock(mutex);
    ApThread* t = find(id);
    if (t == nullptr) return -ESRCH;
    if (t->stop) return -ESRCH;  // another caller is stopping it
    t->stop = true;
    t->wake.notify_one();
    kick_token = t->kick_token;
    thread = t->thread;
  }
  kick(kick_token);
  pthread_join(thread, nullptr);
  std::lock_guard<std::mutex> lock(mutex);
  threads[id]->live = false;
  return 0;
}

int ap_wait(int notify_token, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex);
  exited.wait_for(lock, std::chrono::milliseconds(timeout_ms), [notify_token] { return count_exited(notify_token) > 0; });
  return count_exited(notify_token);
}

}  // namespace bhyve
