import * as Effect from "effect/Effect"
import type { BusRouter } from "../bus/Bus.js"
import { dispatchMmio, dispatchPio } from "../bus/ExitDispatch.js"
import { errnoName } from "../kernel/KvmError.js"
import type { Vcpu } from "../kernel/Vcpu.js"
import { SYSTEM_EVENT } from "../kernel/VcpuExit.js"
import type { MachineEventSink } from "../servers/MachineEvents.js"
import { type MachineExit, VcpuFailure } from "./MachineExit.js"
import type { RunControl } from "./RunControl.js"

/**
 * Longest time the vCPU's thread stays inside the guest without giving its
 * event loop a turn (timers, messages, interruption): a watchdog kicks
 * KVM_RUN after this long, and a burst of exits yields after it too.
 */
export const SLICE_MS = 20
const KVM_MP_STATE_HALTED = 3
const RFLAGS_IF = 0x200n

type SliceOutcome = MachineExit | VcpuFailure | "yield" | "kicked"

const hex = (n: number) => `0x${n.toString(16)}`

/**
 * Runs exits synchronously on this thread for at most one slice. Exits are
 * handled right here, on the vCPU's own thread: handing each one to another
 * thread would cost ~45 us on this class of machine (KVM-HOST-NOTES).
 */
const runSlice = (vcpu: Vcpu, bus: BusRouter, events: MachineEventSink): SliceOutcome => {
  const started = performance.now()
  for (let n = 1; ; n++) {
    const exit = vcpu.run(SLICE_MS)
    switch (exit._tag) {
      case "PioExit":
        try {
          dispatchPio(bus, exit)
        } catch (e) {
          return new VcpuFailure({ vcpu: vcpu.id, reason: `device at port ${hex(exit.port)} failed: ${String(e)}` })
        }
        break
      case "MmioExit":
        try {
          dispatchMmio(bus, exit)
        } catch (e) {
          return new VcpuFailure({ vcpu: vcpu.id, reason: `device at MMIO ${hex(exit.address)} failed: ${String(e)}` })
        }
        break
      case "Interrupted":
        return "kicked"
      case "Shutdown":
        return { _tag: "TripleFault" }
      case "SystemEvent":
        if (exit.type === SYSTEM_EVENT.RESET) return { _tag: "Reset", source: "KVM system event" }
        if (exit.type === SYSTEM_EVENT.SHUTDOWN) return { _tag: "PoweredOff", source: "KVM system event" }
        return new VcpuFailure({ vcpu: vcpu.id, reason: `KVM system event ${exit.type} (guest crash)` })
      case "InternalError":
        return new VcpuFailure({
          vcpu: vcpu.id,
          reason: `KVM internal error, suberror ${exit.suberror} (1 = instruction emulation failed), data [${exit.data.map((d) => hex(Number(d))).join(", ")}]`
        })
      case "FailEntry":
        return new VcpuFailure({ vcpu: vcpu.id, reason: `KVM could not enter the guest, hardware reason ${hex(Number(exit.reason))}` })
      case "UnknownExit":
        return new VcpuFailure({ vcpu: vcpu.id, reason: `unhandled KVM exit reason ${exit.reason}` })
      case "RunFailed":
        return new VcpuFailure({ vcpu: vcpu.id, reason: `KVM_RUN failed: ${errnoName(exit.errno)}` })
    }
    const request = events.pending()
    if (request !== undefined) {
      return request.reason === "reset"
        ? { _tag: "Reset", source: request.source }
        : request.reason === "poweroff" ? { _tag: "PoweredOff", source: request.source } : { _tag: "Halted" }
    }
    if (bus.fault !== undefined) return new VcpuFailure({ vcpu: vcpu.id, reason: bus.fault.message })
    if ((n & 255) === 0 && performance.now() - started > SLICE_MS) return "yield"
  }
}

/** A real turn of the event loop (not just the microtask queue). */
const yieldToEventLoop = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * `hlt` with interrupts disabled parks the vCPU inside KVM for good (the
 * in-kernel LAPIC never exits for it); bhyve reports that as "halted".
 */
const haltedForGood = (vcpu: Vcpu) =>
  Effect.gen(function*() {
    if ((yield* vcpu.getMpState()) !== KVM_MP_STATE_HALTED) return false
    return ((yield* vcpu.getRegs()).rflags & RFLAGS_IF) === 0n
  })

/**
 * Runs one vCPU until the guest stops it, a failure, or interruption of
 * this fiber; parks between slices while `control` holds a pause.
 */
export const runVcpu = (
  vcpu: Vcpu,
  bus: BusRouter,
  events: MachineEventSink,
  control: RunControl
): Effect.Effect<MachineExit, VcpuFailure> =>
  control.whileLooping(Effect.gen(function*() {
    for (;;) {
      const outcome = runSlice(vcpu, bus, events)
      if (outcome instanceof VcpuFailure) return yield* outcome
      if (outcome === "kicked" && !control.pauseRequested) {
        const halted = yield* Effect.orElseSucceed(haltedForGood(vcpu), () => false)
        if (halted) return { _tag: "Halted" } as const
      } else if (outcome !== "yield" && outcome !== "kicked") {
        return outcome
      }
      yield* yieldToEventLoop
      yield* control.boundary
    }
  }))
