#include "vcpu_kick.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <csignal>
#include <mutex>
#include <pthread.h>
#include <sys/ioctl.h>
#include <vector>

namespace bhyve {
namespace {

using Clock = std::chrono::steady_clock;

struct KickTarget {
  struct kvm_run* run = nullptr;
  pthread_t thread{};
  bool in_run = false;
  bool live = false;
  bool has_deadline = false;
  Clock::time_point deadline{};
  uint64_t runs = 0;
};

// Never destroyed: the watchdog thread waits on these until the process
// ends, and destroying a condition variable with a waiter blocks exit().
std::mutex& table_mutex = *new std::mutex;
std::vector<KickTarget>& table = *new std::vector<KickTarget>;  // index = token

// The watchdog kicks a vCPU whose KVM_RUN outlives its deadline, so the
// JavaScript thread that called run() regains control (timers, messages,
// interruption) even when the guest never exits.
std::condition_variable& watchdog_cv = *new std::condition_variable;
// Signalled on every KVM_RUN entry, for kick_wait_run.
std::condition_variable& run_cv = *new std::condition_variable;
bool watchdog_started = false;
bool watchdog_sleeping_forever = true;
Clock::time_point watchdog_wake{};

int kick_signal() { return SIGRTMIN + 3; }

void on_kick(int) {}

void signal_target(KickTarget& t) {
  __atomic_store_n(&t.run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (t.in_run) pthread_kill(t.thread, kick_signal());
}

void watchdog_loop() {
  std::unique_lock<std::mutex> lock(table_mutex);
  for (;;) {
    auto now = Clock::now();
    bool any = false;
    Clock::time_point next{};
    for (auto& t : table) {
      if (!t.live || !t.in_run || !t.has_deadline) continue;
      if (t.deadline <= now) {
        t.has_deadline = false;
        signal_target(t);
      } else if (!any || t.deadline < next) {
        any = true;
        next = t.deadline;
      }
    }
    watchdog_sleeping_forever = !any;
    watchdog_wake = next;
    if (any) watchdog_cv.wait_until(lock, next);
    else watchdog_cv.wait(lock);
  }
}  // only interrupts KVM_RUN; immediate_exit carries the meaning

thread_local bool signal_unblocked = false;

void unblock_kick_signal() {
  if (signal_unblocked) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kick_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  signal_unblocked = true;
}

}  // namespace

void kick_install_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(kick_signal(), &sa, nullptr);
  });
}

int kick_register(struct kvm_run* run) {
  std::lock_guard<std::mutex> lock(table_mutex);
  for (size_t i = 0; i < table.size(); i++) {
    if (!table[i].live) {
      table[i] = KickTarget{run, {}, false, true, false, {}, 0};
      return static_cast<int>(i);
    }
  }
  table.push_back(KickTarget{run, {}, false, true, false, {}, 0});
  return static_cast<int>(table.size() - 1);
}

void kick_unregister(int token) {
  std::lock_guard<std::mutex> lock(table_mutex);
  if (token >= 0 && static_cast<size_t>(token) < table.size()) table[token] = KickTarget{};
}

int kick_run(int token, int vcpu_fd, int timeout_ms) {
  unblock_kick_signal();
  {
    std::lock_guard<std::mutex> lock(table_mutex);
    if (token < 0 || static_cast<size_t>(token) >= table.size() || !table[token].live) return -ESRCH;
    KickTarget& t = table[token];
    t.thread = pthread_self();
    t.in_run = true;
    t.runs++;
    run_cv.notify_all();
    t.has_deadline = timeout_ms > 0;
    if (t.has_deadline) {
      t.deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
      if (!watchdog_started) {
        watchdog_started = true;
        std::thread(watchdog_loop).detach();
      }
      // Deadlines only move later while the watchdog sleeps toward an earlier
      // one, so it needs waking only when it sleeps with nothing to wait for.
      if (watchdog_sleeping_forever || t.deadline < watchdog_wake) {
        watchdog_sleeping_forever = false;
        watchdog_wake = t.deadline;
        watchdog_cv.notify_one();
      }
    }
  }
  int rc = ioctl(vcpu_fd, KVM_RUN, 0);
  int err = rc < 0 ? errno : 0;
  {
    std::lock_guard<std::mutex> lock(table_mutex);
    if (static_cast<size_t>(token) < table.size()) {
      table[token].in_run = false;
      table[token].has_deadline = false;
    }
  }
  return rc < 0 ? -err : rc;
}

uint64_t kick_run_count(int token) {
  std::lock_guard<std::mutex> lock(table_mutex);
  if (token < 0 || static_cast<size_t>(token) >= table.size() || !table[token].live) return 0;
  return table[token].runs;
}

uint64_t kick_wait_run(int token, uint64_t seen, int timeout_ms, const std::atomic<bool>* cancel) {
  std::unique_lock<std::mutex> lock(table_mutex);
  auto entered = [&] {
    return cancel->load() || token < 0 || static_cast<size_t>(token) >= table.size() || !table[token].live ||
           table[token].runs != seen;
  };
  run_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), entered);
  if (token < 0 || static_cast<size_t>(token) >= table.size() || !table[token].live) return seen;
  return table[token].runs;
}

void kick_wake_waiters() {
  std::lock_guard<std::mutex> lock(table_mutex);
  run_cv.notify_all();
}

int kick(int token) {
  std::lock_guard<std::mutex> lock(table_mutex);
  if (token < 0 || static_cast<size_t>(token) >= table.size() || !table[token].live) return -ESRCH;
  // immediate_exit is set before signalling: a signal that lands just before
  // KVM_RUN is entered would be lost, but then that KVM_RUN returns at once.
  signal_target(table[token]);
  return 0;
}

}  // namespace bhyve
