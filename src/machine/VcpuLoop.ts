import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { BusRouter } from "../bus/Bus.js"
import { dispatchMmio, dispatchPio } from "../bus/ExitDispatch.js"
import type { InlineIo, VirtualCpu } from "../kernel/Cpu.js"
import { errnoName } from "../kernel/KvmError.js"
import { internalErrorReason } from "../kernel/kvm/KvmInternalError.js"
import { type MmioExit, type PioExit, SYSTEM_EVENT, type VcpuExit } from "../kernel/VcpuExit.js"
import type { MachineEventSink, StopRequest } from "../servers/MachineEvents.js"
import type { ApRunner } from "./ApRunner.js"
import { type MachineExit, VcpuFailure } from "./MachineExit.js"
import type { RunControl } from "./RunControl.js"

/**
 * Longest time the vCPU's thread stays inside the guest without giving its
 * event loop a turn (timers, messages, interruption): a watchdog kicks
 * KVM_RUN after this long, and a burst of exits yields after it too.
 */
export const SLICE_MS = 20
/**
 * The slice while devices have host I/O in flight: its completions run on
 * this thread's event loop, so the guest would otherwise wait up to a whole
 * slice for each one.
 */
export const IO_SLICE_MS = 1

type SliceOutcome = MachineExit | VcpuFailure | "yield" | "kicked"

const hex = (n: number) => `0x${n.toString(16)}`

/** One exit dispatched to the bus: undefined, or why the device failed. */
const dispatch = (bus: BusRouter, exit: PioExit | MmioExit): string | undefined => {
  try {
    if (exit._tag === "PioExit") dispatchPio(bus, exit)
    else dispatchMmio(bus, exit)
    return undefined
  } catch (e) {
    return exit._tag === "PioExit"
      ? `device at port ${hex(exit.port)} failed: ${String(e)}`
      : `device at MMIO ${hex(exit.address)} failed: ${String(e)}`
  }
}

/**
 * Runs exits synchronously on this thread for at most one slice. Exits are
 * handled right here, on the vCPU's own thread: handing each one to another
 * thread would cost ~45 us on this class of machine (KVM-HOST-NOTES). A
 * backend that handles I/O inside its run (the software CPU) calls `io`
 * for each access; one that returns PIO/MMIO exits (KVM) gets them
 * dispatched here. Both end up in the same dispatch.
 */
const runSlice = (
  vcpu: VirtualCpu,
  bus: BusRouter,
  events: MachineEventSink,
  aps: ApRunner | undefined,
  pendingIo: () => number
): SliceOutcome => {
  const started = performance.now()
  let now = started
  // The slice ends at a fixed time, however the guest's exits fall: each
  // run gets only what is left of it (a guest exiting every few ms
  // must not stretch the slice by a watchdog restarted at every entry).
  let deadline = started + (pendingIo() > 0 ? IO_SLICE_MS : SLICE_MS)
  let failed: string | undefined
  const io: InlineIo = (exit) => {
    failed = dispatch(bus, exit)
    return failed === undefined && events.pending() === undefined && bus.fault === undefined
  }
  for (;;) {
    const exit = vcpu.run(Math.max(1, Math.ceil(deadline - now)), io)
    switch (exit._tag) {
      case "PioExit":
        failed = dispatch(bus, exit)
        break
      case "MmioExit":
        failed = dispatch(bus, exit)
        // A queue notification (an MMIO write) may just have started host I/O.
        if (pendingIo() > 0) deadline = Math.min(deadline, started + IO_SLICE_MS)
        break
      case "Interrupted": {
        // Inline I/O that asked to stop ends the run this way too: the checks below say why.
        if (failed !== undefined || events.pending() !== undefined || bus.fault !== undefined) break
        // AP threads kick this vCPU when they have an exit waiting: looked
        // for here only, never on the way of the BSP's own exits.
        const ap = aps === undefined ? undefined : aps.service()
        if (ap === undefined) return "kicked"
        if (ap !== "handled") return ap
        break
      }
      default:
        return stopOutcome(vcpu, exit)
    }
    if (failed !== undefined) return new VcpuFailure({ vcpu: vcpu.id, reason: failed })
    const request = events.pending()
    if (request !== undefined) return requestedStop(request)
    if (bus.fault !== undefined) return new VcpuFailure({ vcpu: vcpu.id, reason: bus.fault.message })
    now = performance.now()
    if (now > deadline) return "yield"
  }
}

type StopExit = Exclude<VcpuExit, { readonly _tag: "PioExit" | "MmioExit" | "Interrupted" }>

/** How an exit that ends the machine's run ends it; for the BSP here and the APs in ApRunner. */
export const stopOutcome = (vcpu: VirtualCpu, exit: StopExit): MachineExit | VcpuFailure => {
  switch (exit._tag) {
    case "Shutdown":
      return { _tag: "TripleFault" }
    case "Halted":
      return { _tag: "Halted" }
    case "EmulationFailed":
      return new VcpuFailure({ vcpu: vcpu.id, reason: exit.reason })
    case "SystemEvent":
      if (exit.type === SYSTEM_EVENT.RESET) return { _tag: "Reset", source: "KVM system event" }
      if (exit.type === SYSTEM_EVENT.SHUTDOWN) return { _tag: "PoweredOff", source: "KVM system event" }
      return new VcpuFailure({ vcpu: vcpu.id, reason: `KVM system event ${exit.type} (guest crash)` })
    case "InternalError": {
      // KVM still answers KVM_GET_REGS after an internal error: RIP says where the guest stopped.
      const regs = Effect.runSync(Effect.option(vcpu.getRegs()))
      return new VcpuFailure({ vcpu: vcpu.id, reason: internalErrorReason(exit.suberror, exit.data, Option.getOrUndefined(regs)?.rip) })
    }
    case "FailEntry":
      return new VcpuFailure({ vcpu: vcpu.id, reason: `KVM could not enter the guest, hardware reason ${hex(Number(exit.reason))}` })
    case "UnknownExit":
      return new VcpuFailure({ vcpu: vcpu.id, reason: `unhandled KVM exit reason ${exit.reason}` })
    case "RunFailed":
      return new VcpuFailure({ vcpu: vcpu.id, reason: `KVM_RUN failed: ${errnoName(exit.errno)}` })
  }
}

/** A device's request to stop the guest (MachineEvents) as the machine's exit. */
export const requestedStop = (request: { readonly reason: StopRequest; readonly source: string }): MachineExit =>
  request.reason === "reset"
    ? { _tag: "Reset", source: request.source }
    : request.reason === "poweroff" ? { _tag: "PoweredOff", source: request.source } : { _tag: "Halted" }

/** A real turn of the event loop (not just the microtask queue). */
const yieldToEventLoop = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * Runs one vCPU until the guest stops it, a failure, or interruption of
 * this fiber; parks between slices while `control` holds a pause.
 */
export const runVcpu = (
  vcpu: VirtualCpu,
  bus: BusRouter,
  events: MachineEventSink,
  control: RunControl,
  /** The other vCPUs, each on a thread of its own; their exits are handled here too. */
  aps?: ApRunner,
  /** Host I/O in flight across the devices (completions need event-loop turns). */
  pendingIo: () => number = () => 0
): Effect.Effect<MachineExit, VcpuFailure> => {
  const loop = Effect.gen(function*() {
    for (;;) {
      const outcome = runSlice(vcpu, bus, events, aps, pendingIo)
      if (outcome instanceof VcpuFailure) return yield* outcome
      // Only a uniprocessor guest can be "halted" for good by its one vCPU (bhyve(8) status 2);
      // an AP's state cannot even be read while its thread is inside KVM_RUN.
      if (outcome === "kicked" && !control.pauseRequested && aps === undefined) {
        const halted = yield* Effect.orElseSucceed(vcpu.haltedForGood(), () => false)
        if (halted) return { _tag: "Halted" } as const
      } else if (outcome !== "yield" && outcome !== "kicked") {
        return outcome
      }
      yield* yieldToEventLoop
      yield* control.boundary
      // An AP exit handled while parking the APs for a pause can stop the machine.
      const stopped = aps?.stopping
      if (stopped instanceof VcpuFailure) return yield* stopped
      if (stopped !== undefined) return stopped
    }
  })
  // The AP threads start once the loop does (after a pause taken before it), and are joined when it ends.
  return control.whileLooping(aps === undefined ? loop : aps.running(loop))
}
