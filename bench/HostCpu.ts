import * as Effect from "effect/Effect"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import { kvmUnusableReason } from "../src/kernel/KvmProbe.js"

/**
 * Which CPU backend the bench's bhyve-ts rows run on, decided once per
 * bench from the same probe `cpu.backend=auto` uses: KVM where /dev/kvm
 * runs guests, the software CPU elsewhere. The rows then pass that backend
 * explicitly (`-o cpu.backend=...`, MachineSpec.cpuBackend), so a host with
 * KVM keeps measuring KVM and nothing is left to `auto`'s choice at run
 * time. Rows that only make sense on KVM (the C baseline VMM) are reported
 * as not measured, with `kvmUnusable` as the reason, instead of failing.
 */
export interface HostCpu {
  readonly backend: CpuBackendName
  /** Why KVM cannot run guests here; undefined when it can. */
  readonly kvmUnusable: string | undefined
}

/** The device bhyve opens unless told otherwise. */
const KVM_DEVICE = "/dev/kvm"

export const probeHostCpu: Effect.Effect<HostCpu> = Effect.map(kvmUnusableReason(KVM_DEVICE), (why) => ({
  backend: why === undefined ? "kvm" : "soft",
  kvmUnusable: why
}))

/** `bhyve` arguments selecting `backend`. */
export const backendArgs = (backend: CpuBackendName): ReadonlyArray<string> => ["-o", `cpu.backend=${backend}`]

/** Why a KVM-only measurement is not taken on this host. */
export const needsKvm = (host: HostCpu): string => `needs KVM: ${host.kvmUnusable ?? "KVM is usable"}`
