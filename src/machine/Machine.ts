import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { writeSync } from "node:fs"
import { readFile } from "node:fs/promises"
import * as Bus from "../bus/Bus.js"
import type { BadRange, BusConflict } from "../bus/BusErrors.js"
import { CpuBackend, type CpuBackendName, type VirtualCpu } from "../kernel/Cpu.js"
import type { CpuInterrupts } from "../kernel/CpuInterrupts.js"
import { GuestMemory, type RamBacking } from "../kernel/GuestMemory.js"
import * as Kernel from "../kernel/Kernel.js"
import { MachineClock } from "../kernel/MachineClock.js"
import type { CurrentVcpu } from "../servers/CurrentVcpu.js"
import type { DeviceClock } from "../servers/DeviceClock.js"
import * as UserspaceIrqchip from "../servers/UserspaceIrqchip.js"
import type { E820Entry } from "../loader/E820.js"
import type { PciPlatform } from "../loader/FirmwarePlatform.js"
import { loadKernel } from "../loader/KernelLoader.js"
import { InitrdNotFound, KernelNotFound, type LoaderError } from "../loader/LoaderError.js"
import { DeviceServers, layerDeviceServers } from "../servers/DeviceServer.js"
import { totalPendingIo } from "../servers/virtio/PendingIo.js"
import type { InterruptController } from "../servers/InterruptController.js"
import type { MsiSink } from "../servers/pci/MsiSink.js"
import { layerMachineEvents, MachineEvents } from "../servers/MachineEvents.js"
import { makeApRunner } from "./ApRunner.js"
import { MachineConfigError } from "./MachineConfigError.js"
import type { MachineExit, VcpuFailure } from "./MachineExit.js"
import { RunControl } from "./RunControl.js"
import { runVcpu } from "./VcpuLoop.js"

/** What a device server's layer may ask for while it is built. */
export type MachineServices =
  | Bus.Bus
  | DeviceServers
  | InterruptController
  | MsiSink
  | MachineEvents
  | GuestMemory
  | CpuBackend
  | MachineClock
  | DeviceClock
  | CpuInterrupts
  | CurrentVcpu

/** A device server: a layer that registers its ranges and announces itself. */
export type DeviceLayer<E = unknown> = Layer.Layer<never, E, MachineServices>

export interface MachineSpec<E = never> {
  readonly cpus?: number
  /** Bytes of guest RAM. */
  readonly memoryBytes: number
  readonly boot: { readonly kernel: string; readonly cmdline?: string; readonly initrd?: string }
  readonly devices: ReadonlyArray<DeviceLayer<E>>
  /** Unclaimed guest I/O stops the VM instead of reading all-ones. */
  readonly strictBus?: boolean
  readonly kvmPath?: string
  /** Which CPU runs the guest: KVM, the software CPU, or (the default) KVM where /dev/kvm works and the software CPU elsewhere. */
  readonly cpuBackend?: Kernel.CpuBackendChoice
  /** Where `auto` says, in one line, why it passed KVM over (stderr when not given). */
  readonly reportBackend?: (line: string) => void
  /** Address ranges the guest's memory map marks reserved (the PCI ECAM window); kernels may not load there. */
  readonly reservedMemory?: ReadonlyArray<E820Entry>
  /** PCI bus 0 as the MP and ACPI tables describe it (slots, ECAM, windows); absent when there is no PCI bus. */
  readonly pci?: PciPlatform
}

export type MachineError =
  | Kernel.KernelError
  | LoaderError
  | BusConflict
  | BadRange
  | VcpuFailure
  | MachineConfigError

const MIN_MEMORY = 2 << 20
/** bhyve's -c limit (VM_MAXCPU). */
const MAX_CPUS = 64

/**
 * The kernel, the bus and the machine-wide services every device server
 * may use. With a userspace irqchip (the software CPU) the PIC, IOAPIC,
 * LAPICs and PIT are device servers too, and provide the interrupt lines.
 */
const machineLayer = <E>(spec: MachineSpec<E>, selected: Kernel.SelectedKernel) => {
  const core = Layer.mergeAll(Bus.layer({ strict: spec.strictBus ?? false }), layerDeviceServers, layerMachineEvents)
  const platform = selected.irqchip === "in-kernel"
    ? Layer.merge(core, selected.layer)
    : UserspaceIrqchip.layer(spec.cpus ?? 1).pipe(Layer.provideMerge(Layer.merge(core, selected.layer)))
  const [first, ...rest] = spec.devices
  const devices = first === undefined ? Layer.empty : Layer.mergeAll(first, ...rest)
  return devices.pipe(Layer.provideMerge(platform))
}

const readKernel = (path: string) =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (e) => new KernelNotFound({ path, reason: (e as NodeJS.ErrnoException).code ?? String(e) })
  })

const readInitrd = (path: string) =>
  Effect.tryPromise({
    try: async () => ({ path, image: new Uint8Array(await readFile(path)) }),
    catch: (e) => new InitrdNotFound({ path, reason: (e as NodeJS.ErrnoException).code ?? String(e) })
  })

/** A machine built and loaded, not yet running. */
export interface BuiltMachine {
  /** Every service of the machine: kernel, bus, device servers. */
  readonly context: Context.Context<MachineServices>
  /** Which CPU runs it. */
  readonly backend: CpuBackendName
  readonly vcpus: ReadonlyArray<VirtualCpu>
  /** Pause/resume of the running guest (for snapshots and bhyvectl). */
  readonly control: RunControl
  /** Runs the guest until it stops. */
  readonly run: Effect.Effect<MachineExit, VcpuFailure>
}

export interface BuildOptions {
  /** False when RAM and vCPU state will come from a snapshot instead: the kernel file is not even read. */
  readonly loadKernel?: boolean
  /** Guest RAM mapped from a snapshot's RAM file (copy on write) rather than fresh memory: a lazy restore. */
  readonly ramBacking?: RamBacking
}

/**
 * Builds the machine in the current scope and loads its kernel. Separate
 * from running so that callers (the CLI, snapshot restore) can act in between.
 */
export const build = <E>(
  spec: MachineSpec<E>,
  options: BuildOptions = {}
): Effect.Effect<BuiltMachine, MachineError | E, Scope.Scope> =>
  Effect.gen(function*() {
    const cpus = spec.cpus ?? 1
    if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
      return yield* new MachineConfigError({ field: "cpus", reason: `${cpus} vCPUs requested; 1 to ${MAX_CPUS} are supported` })
    }
    if (!Number.isSafeInteger(spec.memoryBytes) || spec.memoryBytes < MIN_MEMORY || spec.memoryBytes % 4096 !== 0) {
      return yield* new MachineConfigError({ field: "memory", reason: `${spec.memoryBytes} bytes: need a multiple of 4 KiB, at least 2 MiB` })
    }
    const image = (options.loadKernel ?? true) ? yield* readKernel(spec.boot.kernel) : undefined
    const initrd = image !== undefined && spec.boot.initrd !== undefined ? yield* readInitrd(spec.boot.initrd) : undefined
    const backendName = yield* Kernel.resolveBackend(spec.cpuBackend ?? "auto", {
      kvmPath: spec.kvmPath,
      // Straight to fd 2: a worker's process.stderr reaches the terminal only after the guest's first output.
      report: spec.reportBackend ?? ((line) => writeSync(2, `bhyve: ${line}\n`))
    })
    const selected = Kernel.select(backendName, { cpus, memoryBytes: spec.memoryBytes, kvmPath: spec.kvmPath, ramBacking: options.ramBacking })
    const context = yield* Layer.build(machineLayer(spec, selected))
    const memory = Context.get(context, GuestMemory)
    const backend = Context.get(context, CpuBackend)
    const vcpus = backend.vcpus
    const bus = Context.get(context, Bus.Bus)
    const events = Context.get(context, MachineEvents)
    const bsp = vcpus[0]
    if (image !== undefined) {
      const plan = yield* loadKernel({
        path: spec.boot.kernel,
        image,
        ram: memory,
        cmdline: spec.boot.cmdline ?? "",
        initrd,
        extraReserved: spec.reservedMemory,
        // Tables go in only with the kernel: a restored machine's RAM already holds the ones it booted with.
        firmware: { cpus, pci: spec.pci }
      })
      yield* bsp.setSregs(plan.applySregs(yield* bsp.getSregs()))
      yield* bsp.setRegs(plan.regs)
    }
    // vCPUs 1..N-1 (waiting for SIPI until the guest starts them) get threads of their own while the loop runs, on a backend that has them.
    const aps = makeApRunner(backend.apThreads, vcpus, bus, events, () => control.state !== "running")
    // Also stopped here, before the vCPUs are released, should the scope close under a running loop.
    if (aps !== undefined) yield* Effect.addFinalizer(() => aps.stop)
    const control: RunControl = new RunControl(vcpus, aps, Context.get(context, MachineClock))
    const servers = Context.get(context, DeviceServers)
    // With the loop watched, a completion kicks the BSP itself; otherwise the slice shortens while I/O is in flight.
    const watched = yield* backend.watchEventLoop
    const pendingIo = watched ? () => 0 : () => totalPendingIo(servers)
    return { context, backend: backend.name, vcpus, control, run: runVcpu(bsp, bus, events, control, aps, pendingIo) }
  })

/** Builds the machine, runs the guest until it stops, then releases everything. */
export const run = <E>(spec: MachineSpec<E>): Effect.Effect<MachineExit, MachineError | E> =>
  Effect.scoped(Effect.flatMap(build(spec), (machine) => machine.run))
