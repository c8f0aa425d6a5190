import * as Effect from "effect/Effect"
import { errnoName, KvmUnavailable } from "./KvmError.js"
import { KVM, KVM_API_VERSION } from "./kvm/KvmIoctls.js"
import { loadNativeKvm } from "./NativeKvm.js"

/**
 * Why KVM cannot run guests at `path`, or undefined when it can: the device
 * opens, answers KVM_GET_API_VERSION with the stable API, and makes a VM.
 * A /dev/kvm that opens but refuses a VM (a nested host that does not
 * nest) counts as unusable, as the selection under cpu.backend=auto needs.
 */
export const kvmUnusableReason = (path: string): Effect.Effect<string | undefined> =>
  Effect.sync(() => {
    const loaded = Effect.runSyncExit(loadNativeKvm)
    if (loaded._tag === "Failure") return "the native addon is not built (run npm install)"
    const native = loaded.value
    const fd = native.open(path)
    if (fd < 0) return new KvmUnavailable({ path, errno: -fd }).message
    try {
      const version = native.ioctlValue(fd, KVM.GET_API_VERSION, 0)
      if (version !== KVM_API_VERSION) return `${path} answers KVM_GET_API_VERSION with ${version < 0 ? errnoName(-version) : version}`
      const vm = native.ioctlValue(fd, KVM.CREATE_VM, 0)
      if (vm < 0) return `${path} refuses KVM_CREATE_VM: ${errnoName(-vm)}`
      native.close(vm)
      return undefined
    } finally {
      native.close(fd)
    }
  })
