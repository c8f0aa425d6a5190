import type { ApThreads, VirtualCpu } from "../Cpu.js"
import type { NativeKvm } from "../NativeKvm.js"
import type { VcpuExit } from "../VcpuExit.js"
import type { KvmVcpu } from "./KvmVcpu.js"

const EAGAIN = 11

/** A build of the addon from before AP threads lacks their calls. */
export const hasApThreads = (native: NativeKvm): boolean =>
  [native.apStart, native.apPending, native.apResult, native.apResume, native.apStop, native.apWait].every((f) => typeof f === "function")

/**
 * KVM's APs on native threads (native/ap_thread.cc): each loops on KVM_RUN
 * for its vCPU and kicks the BSP (`bsp`) out of KVM_RUN when it has an exit.
 */
export const make = (native: NativeKvm, bsp: KvmVcpu, vcpus: ReadonlyArray<KvmVcpu>): ApThreads => {
  const kvmVcpu = (vcpu: VirtualCpu): KvmVcpu => vcpus[vcpu.id]
  return {
    start: (vcpu) => {
      const v = kvmVcpu(vcpu)
      return native.apStart(v.kickToken, v.fd.fd, bsp.kickToken)
    },
    pending: (out) => native.apPending(bsp.kickToken, out),
    exitOf: (id, vcpu): VcpuExit | undefined => {
      const rc = native.apResult(id)
      // KVM_RUN woke from wait-for-SIPI without a signal (INIT/SIPI arrived, or a spurious wake-up): no exit.
      return rc === -EAGAIN ? undefined : kvmVcpu(vcpu).exitFrom(rc)
    },
    resume: (id) => native.apResume(id),
    stop: (id) => native.apStop(id),
    wait: (timeoutMs) => native.apWait(bsp.kickToken, timeoutMs)
  }
}
