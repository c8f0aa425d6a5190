// Kicking a vCPU thread out of KVM_RUN from any thread: immediate_exit plus
// a signal, as the KVM API documents. Threads are identified by a token so
// that a kick never targets a thread that has left KVM_RUN for good.
#pragma once
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
}  // namespace bhyve
