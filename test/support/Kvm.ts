import * as Effect from "effect/Effect"
import type { CpuBackendName } from "../../src/kernel/Cpu.js"
import { kvmUnusableReason } from "../../src/kernel/KvmProbe.js"

/**
 * Why KVM cannot run guests here, or undefined when it can: the same probe
 * `cpu.backend=auto` makes (/dev/kvm opens, answers the API version, makes a VM).
 */
export const kvmUnavailableReason = Effect.runSync(kvmUnusableReason("/dev/kvm"))

export const hasKvm = kvmUnavailableReason === undefined

/**
 * The CPUs the guest tests run on: the software CPU everywhere, and KVM too
 * where it works. A test of a guest runs once per entry.
 */
export const guestBackends: ReadonlyArray<CpuBackendName> = hasKvm ? ["soft", "kvm"] : ["soft"]
