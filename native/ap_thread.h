// Application processors (vCPUs 1..N-1) on threads of their own. Each AP
// thread loops: KVM_RUN, record the return code, kick the machine thread's
// vCPU (the "notify" kick token) so that its KVM_RUN returns EINTR, then
// wait until JavaScript resumes or stops it. No policy here: JavaScript
// decodes the exit from the AP's struct kvm_run, handles it, and resumes.
#pragma once
#include <cstdint>

namespace bhyve {
// Starts the thread, which enters KVM_RUN at once. Returns an id >= 0 or -errno.
int ap_start(int kick_token, int vcpu_fd, int notify_token);
// Writes the ids (of APs notifying `notify_token`) whose exit has not been
// read yet into out[0..capacity); returns how many it wrote.
int ap_pending(int notify_token, int32_t* out, int capacity);
// The KVM_RUN return code (0 or -errno) of the AP's last exit; marks it
// read. -ESRCH for an unknown id, -EBUSY when the AP is not stopped at an exit.
// (-EAGAIN is KVM's: the vCPU left wait-for-SIPI, run it again.)
int ap_result(int id);
// Lets an AP whose exit has been read enter KVM_RUN again. 0, -ESRCH, or
// -EBUSY when it is running or its exit has not been read.
int ap_resume(int id);
// Tells the thread to stop, kicks it out of KVM_RUN, and joins it. 0 or -ESRCH.
int ap_stop(int id);
// Blocks the caller until an AP notifying `notify_token` has an unread exit,
// at most timeout_ms; returns how many have one.
int ap_wait(int notify_token, int timeout_ms);
}  // namespace bhyve
