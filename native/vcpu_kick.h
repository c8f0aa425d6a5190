// Kicking a vCPU thread out of KVM_RUN from any thread: immediate_exit plus
// a signal, as the KVM API documents. Threads are identified by a token so
// that a kick never targets a thread that has left KVM_RUN for good.
#pragma once
#include <atomic>
#include <cstdint>
#include <linux/kvm.h>

namespace bhyve {
int kick_register(struct kvm_run* run);
void kick_unregister(int token);
// Runs KVM_RUN on the calling thread; returns 0 or -errno (-EINTR when kicked).
// With timeout_ms > 0 a watchdog kicks the vCPU once that much time has passed.
int kick_run(int token, int vcpu_fd, int timeout_ms);
// Returns 0, or -ESRCH for an unknown token.
int kick(int token);
void kick_install_signal();
// How many times the token's vCPU has entered KVM_RUN (0 for an unknown token).
uint64_t kick_run_count(int token);
// Waits until the token's vCPU enters KVM_RUN after `seen` entries, at most
// timeout_ms, or until *cancel is set and kick_wake_waiters() called; returns
// the count then (== seen on timeout, cancel or an unknown token).
uint64_t kick_wait_run(int token, uint64_t seen, int timeout_ms, const std::atomic<bool>* cancel);
void kick_wake_waiters();
}  // namespace bhyve
