import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CurrentVcpu } from "../servers/CurrentVcpu.js"
import { DeviceClock } from "../servers/DeviceClock.js"
import type { InterruptController } from "../servers/InterruptController.js"
import type { MsiSink } from "../servers/pci/MsiSink.js"
import { type CpuBackend, type CpuBackendName, type CpuError, CpuUnavailable } from "./Cpu.js"
import type { CpuInterrupts } from "./CpuInterrupts.js"
import * as CpuInterruptsLayer from "./CpuInterrupts.js"
import { makeEventLoopClock } from "./EventLoopClock.js"
import type { GuestMemory, RamBacking } from "./GuestMemory.js"
import type { KvmError, KvmUnavailable, NativeAddonMissing } from "./KvmError.js"
import { kvmUnusableReason } from "./KvmProbe.js"
import { MachineClock, type MachineClockService, makeMachineClock } from "./MachineClock.js"
import * as KvmBackend from "./kvm/KvmBackend.js"
import { DEFAULT_KVM_PATH } from "./kvm/KvmSystem.js"
import * as SoftBackend from "./soft/SoftBackend.js"
import type { WriteTracking } from "./WriteTracking.js"

/** `-o cpu.backend=`: auto picks KVM where /dev/kvm works, the software CPU everywhere else. */
export type CpuBackendChoice = CpuBackendName | "auto"
export const CPU_BACKEND_CHOICES: ReadonlyArray<CpuBackendChoice> = ["auto", "kvm", "soft"]

export interface KernelOptions {
  readonly cpus: number
  readonly memoryBytes: number
  readonly kvmPath?: string
  /** Guest RAM mapped from a snapshot's RAM file (lazy restore) instead of fresh memory. */
  readonly ramBacking?: RamBacking
}

/** What every backend provides to the machine above it. */
export type KernelServices = CpuBackend | GuestMemory | MachineClock | DeviceClock | CpuInterrupts | CurrentVcpu | WriteTracking

export type KernelError = KvmError | KvmUnavailable | NativeAddonMissing | CpuError | CpuUnavailable

/**
 * A backend chosen and ready to build. With an in-kernel irqchip the
 * kernel layer also provides the interrupt lines and MSI routes; with a
 * userspace one the machine adds the PIC/IOAPIC/LAPIC/PIT servers, which
 * provide them (QEMU's kernel-irqchip=on/off, the same split).
 */
export type SelectedKernel =
  | {
    readonly name: CpuBackendName
    readonly irqchip: "in-kernel"
    readonly layer: Layer.Layer<KernelServices | InterruptController | MsiSink, KernelError>
  }
  | { readonly name: CpuBackendName; readonly irqchip: "userspace"; readonly layer: Layer.Layer<KernelServices, KernelError> }

/** Resolves `auto`; says on `report` (one line) why KVM was passed over. */
export const resolveBackend = (
  choice: CpuBackendChoice,
  options: { readonly kvmPath?: string; readonly report?: (line: string) => void } = {}
): Effect.Effect<CpuBackendName, CpuUnavailable> =>
  Effect.gen(function*() {
    const path = options.kvmPath ?? DEFAULT_KVM_PATH
    if (choice === "soft") return "soft"
    const why = yield* kvmUnusableReason(path)
    if (why === undefined) return "kvm"
    if (choice === "kvm") return yield* new CpuUnavailable({ backend: "kvm", reason: `cpu.backend=kvm: ${why}` })
    options.report?.(`${why}: running on the software CPU`)
    return "soft"
  })

/**
 * On KVM the guest's TSC is the hardware's: KVM's offset keeps it running
 * while the vCPUs are out of KVM_RUN (QEMU leaves it so too), and a restore
 * sets it from the saved vCPU. The machine clock serves what userspace
 * keeps (the PM timer, any DeviceClock timer) and runs through a pause as
 * the TSC does, so the two never drift apart (a PM timer stopped beside a
 * running TSC would have Linux's watchdog call the TSC unstable after a
 * long pause). Stopping KVM's TSC too (KVM_VCPU_TSC_OFFSET) is left to do.
 */
const kvmClocks = Layer.effectContext(Effect.sync(() => {
  const clock = makeMachineClock()
  const runsThroughPauses: MachineClockService = { ...clock, stop: () => {}, start: () => {} }
  return Context.make(MachineClock, runsThroughPauses).pipe(Context.add(DeviceClock, makeEventLoopClock(clock)))
}))

/** On KVM the LAPICs are in the kernel: no device server asks which vCPU made an access. */
const kvmCurrentVcpu = (cpus: number) => Layer.succeed(CurrentVcpu, { current: () => 0, count: cpus })

export const select = (name: CpuBackendName, options: KernelOptions): SelectedKernel =>
  name === "kvm"
    ? {
      name,
      irqchip: "in-kernel",
      layer: Layer.mergeAll(
        KvmBackend.layer(options),
        kvmClocks,
        CpuInterruptsLayer.layer,
        kvmCurrentVcpu(options.cpus)
      )
    }
    : { name, irqchip: "userspace", layer: SoftBackend.layer(options) }

