import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { CurrentVcpu } from "../../servers/CurrentVcpu.js"
import { DeviceClock, makeTimerQueue } from "../../servers/DeviceClock.js"
import { pciWindows } from "../../servers/pci/PciWindows.js"
import { CpuBackend, type CpuBackendService, CpuError, type CpuStatePart, type CpuUnavailable } from "../Cpu.js"
import { CpuInterrupts, makeSlot } from "../CpuInterrupts.js"
import { GuestMemory, mapRamRegion, type RamBacking } from "../GuestMemory.js"
import type { KvmError, NativeAddonMissing } from "../KvmError.js"
import { MachineClock, makeMachineClock } from "../MachineClock.js"
import { type GuestRam, HIGHMEM_BASE, LOWMEM_LIMIT, ramRegions } from "../MemoryLayout.js"
import { WriteTracking } from "../WriteTracking.js"
import * as WriteTrackingUffd from "../WriteTrackingUffd.js"
import { EXIT_BUFFER_SIZE, loadCheckedSoft } from "./NativeSoft.js"
import { DEFAULT_SCHEDULER, type SchedulerOptions, SoftScheduler } from "./SoftScheduler.js"
import { makeSoftVcpu, softVcpuStatePart } from "./SoftVcpu.js"

export interface SoftBackendOptions {
  readonly cpus: number
  readonly memoryBytes: number
  /** Guest RAM mapped from a snapshot's RAM file (lazy restore) instead of fresh memory. */
  readonly ramBacking?: RamBacking
  /** Interleaving of vCPUs (tests and benchmarks). */
  readonly scheduler?: Partial<SchedulerOptions>
}

export type SoftBackendError = CpuError | CpuUnavailable | KvmError | NativeAddonMissing

/**
 * Each vCPU's engine keeps the code it translated from guest RAM and sees
 * the guest's own stores (any vCPU's), but not the host's: whatever writes
 * guest RAM from outside (a device's DMA, a debugger) must tell it, or a
 * vCPU may go on running the old bytes. Cheap when the range held no code.
 */
export interface SoftCodeCacheService {
  /** -> how many pages held translated code. */
  readonly invalidate: (gpa: number, length: number) => number
}

export class SoftCodeCache extends Context.Tag("bhyve-ts/SoftCodeCache")<SoftCodeCache, SoftCodeCacheService>() {}

/** Every guest-physical address below 4 GiB that is not RAM, and from the end of high RAM to the end of the 64-bit PCI window: MMIO. */
export const mmioRanges = (memoryBytes: number): ReadonlyArray<{ readonly base: number; readonly size: number }> => {
  const low = Math.min(memoryBytes, LOWMEM_LIMIT)
  const highEnd = HIGHMEM_BASE + (memoryBytes - low)
  const limit = pciWindows(memoryBytes).mem64.limit
  return [{ base: low, size: HIGHMEM_BASE - low }, { base: highEnd, size: limit - highEnd }]
}

/** One bit per vCPU in the addon's map of translated code (and the machine's own limit). */
const MAX_CPUS = 64

export type SoftServices = CpuBackend | GuestMemory | MachineClock | DeviceClock | CpuInterrupts | CurrentVcpu | SoftCodeCache | WriteTracking

const build = (options: SoftBackendOptions): Effect.Effect<Context.Context<SoftServices>, SoftBackendError, Scope.Scope> =>
  Effect.gen(function*() {
    const { cpus, memoryBytes } = options
    if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
      return yield* new CpuError({ operation: "creating the soft machine", detail: `${cpus} vCPUs: 1 to ${MAX_CPUS} are supported` })
    }
    if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 1 << 21 || memoryBytes % 4096 !== 0) {
      return yield* new CpuError({ operation: "creating the soft machine", detail: `${memoryBytes} bytes of RAM: need a multiple of 4 KiB, at least 2 MiB` })
    }
    const { native, info } = yield* loadCheckedSoft
    const regions = yield* Effect.forEach(ramRegions(memoryBytes), (region) =>
      Effect.map(mapRamRegion(region, options.ramBacking), (buffer) => ({ region, buffer })))
    const exitBuffer = new ArrayBuffer(EXIT_BUFFER_SIZE)
    const interrupts = makeSlot()
    const machineClock = makeMachineClock()
    // Device timers on the machine clock, which the TSC also reads (in the addon, through follow below).
    const clock = makeTimerQueue(machineClock.nowNs)
    const scheduler = new SoftScheduler(exitBuffer, interrupts, clock, { ...DEFAULT_SCHEDULER, ...options.scheduler })
    // Destroyed before the RAM it maps is unmapped (finalizers run in reverse).
    const machine = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          new native.SoftMachine({
            cpus,
            ram: regions.map(({ region, buffer }) => ({ gpa: region.gpa, buffer })),
            mmio: mmioRanges(memoryBytes),
            exitBuffer,
            onExit: scheduler.onExit
          }),
        catch: (e) => new CpuError({ operation: "creating the soft machine", detail: e instanceof Error ? e.message : String(e) })
      }),
      (m) => Effect.sync(() => m.destroy())
    )
    scheduler.bind(machine)
    machineClock.follow((running, value) => machine.setClock(running, value))
    const views = regions.map(({ region, buffer }) => ({ ...region, bytes: new Uint8Array(buffer) }))
    const ram: GuestRam = {
      size: memoryBytes,
      regions: views,
      hostWrote: (bytes) => {
        const region = views.find((r) => r.bytes.buffer === bytes.buffer)
        if (region !== undefined) machine.invalidateCode(region.gpa + bytes.byteOffset - region.bytes.byteOffset, bytes.length)
      }
    }
    const vcpus = Array.from({ length: cpus }, (_, i) => makeSoftVcpu(machine, scheduler, i))
    const backend: CpuBackendService = {
      name: "soft",
      description: `software CPU (Unicorn ${info.unicorn})`,
      vcpus,
      irqchip: "userspace",
      apThreads: "inline",
      watchEventLoop: Effect.map(
        Effect.acquireRelease(Effect.sync(() => machine.loopWatchStart()), (id) =>
          Effect.sync(() => void (id >= 0 && machine.loopWatchStop(id)))),
        (id) => id >= 0
      ),
      stateParts: vcpus.map((v) => softVcpuStatePart(machine, v.id) as CpuStatePart)
    }
    return Context.make(CpuBackend, backend).pipe(
      Context.add(GuestMemory, ram),
      Context.add(MachineClock, machineClock),
      Context.add(DeviceClock, clock),
      Context.add(CpuInterrupts, interrupts),
      Context.add(CurrentVcpu, { current: () => scheduler.current, count: cpus }),
      Context.add(SoftCodeCache, { invalidate: (gpa, length) => machine.invalidateCode(gpa, length) }),
      // userfaultfd sees the engines' stores like any other writer's: the same tracking as on KVM.
      Context.add(WriteTracking, WriteTrackingUffd.make(ram, { privateFileRam: options.ramBacking !== undefined }))
    )
  })

/**
 * The software CPU: Unicorn engines for `cpus` vCPUs over guest RAM, every
 * resource scoped to the layer. Provides the CPU backend (irqchip in
 * userspace: the machine adds the PIC/IOAPIC/LAPIC/PIT servers, which
 * attach to CpuInterrupts), guest memory, the machine clock (which the
 * vCPUs' TSCs count), the DeviceClock on it that those servers' timers run
 * on (driven by the scheduler between runs of guest code),
 * CurrentVcpu (whose access is being handled) and SoftCodeCache (for host
 * writes into guest RAM).
 */
export const layer = (options: SoftBackendOptions): Layer.Layer<SoftServices, SoftBackendError> =>
  Layer.scopedContext(build(options))
