import * as Effect from "effect/Effect"
import type { BusRouter } from "../bus/Bus.js"
import { dispatchMmio, dispatchPio } from "../bus/ExitDispatch.js"
import { type ApThreads, CpuError, type KernelError, type VirtualCpu } from "../kernel/Cpu.js"
import { errnoName } from "../kernel/KvmError.js"
import type { MachineEventSink } from "../servers/MachineEvents.js"
import { type MachineExit, VcpuFailure } from "./MachineExit.js"
import type { ApParking } from "./RunControl.js"
import { requestedStop, stopOutcome } from "./VcpuLoop.js"

/** How long a pause may wait for an AP to leave KVM_RUN after its kick (a kick takes well under 1 ms). */
const PARK_TIMEOUT_MS = 5000

/** What handling the APs' waiting exits came to, for the BSP's slice. */
export type ApService = "handled" | "kicked" | MachineExit | VcpuFailure

interface Ap {
  readonly vcpu: VirtualCpu
  /** Native thread id; -1 when no thread runs this vCPU. */
  thread: number
  /** Stopped at an EINTR exit and held there for a pause. */
  parked: boolean
}

const hex = (n: number) => `0x${n.toString(16)}`

/**
 * The application processors (vCPUs 1..N-1) of a backend that runs each
 * on a host thread of its own (kernel/Cpu.ts ApThreads; KVM) while the BSP
 * runs on the machine thread. An AP exit kicks the BSP out of its run; the
 * machine thread, on that Interrupted exit only, takes each waiting AP
 * exit, dispatches it to the bus exactly as the BSP's, and resumes the AP:
 * two thread hops per AP exit, nothing added to the BSP's.
 *
 * Parked (for a pause) means: the AP's thread waits after an EINTR exit
 * that JavaScript has read and not resumed. A pause kicks every AP, which
 * sets its immediate_exit, so whatever exit an AP reports meanwhile is
 * completed and resumed, and its next KVM_RUN applies that completion and
 * returns EINTR at once. Hence a parked AP has no PIO-in/MMIO-read
 * completion pending, and its state can be read and written as it is.
 */
export class ApRunner implements ApParking {
  /** Set when an AP exit stopped the machine; the loop returns it. */
  stopping: MachineExit | VcpuFailure | undefined = undefined
  private readonly aps: ReadonlyArray<Ap>
  private readonly byThread = new Map<number, Ap>()
  private readonly pendingIds: Int32Array

  constructor(
    private readonly threads: ApThreads,
    aps: ReadonlyArray<VirtualCpu>,
    private readonly bus: BusRouter,
    private readonly events: MachineEventSink,
    /** True while a pause is being taken or is in force: an AP stopping for a kick then stays parked. */
    private readonly holding: () => boolean
  ) {
    this.aps = aps.map((vcpu) => ({ vcpu, thread: -1, parked: false }))
    this.pendingIds = new Int32Array(Math.max(1, aps.length))
  }

  /** Starts every AP's thread (KVM keeps each in wait-for-SIPI until the guest starts it). */
  readonly start: Effect.Effect<void, VcpuFailure> = Effect.suspend(() => {
    this.stopping = undefined
    for (const ap of this.aps) {
      if (ap.thread >= 0) continue
      ap.parked = false
      const id = this.threads.start(ap.vcpu)
      if (id < 0) {
        this.stopAll()
        return Effect.fail(new VcpuFailure({ vcpu: ap.vcpu.id, reason: `could not start its thread: ${errnoName(-id)}` }))
      }
      ap.thread = id
      this.byThread.set(id, ap)
    }
    return Effect.void
  })

  /** Stops and joins every AP thread: none runs KVM_RUN afterwards. Idempotent. */
  readonly stop: Effect.Effect<void> = Effect.sync(() => this.stopAll())

  /** Runs `loop` with the AP threads started, and stops them however it ends. */
  readonly running = <A, E>(loop: Effect.Effect<A, E>): Effect.Effect<A, E | VcpuFailure> =>
    Effect.acquireUseRelease(this.start, () => loop, () => this.stop)

  /**
   * Handles every AP exit waiting: undefined when there was none. Called
   * by the BSP's slice on its Interrupted exits only.
   */
  service(): ApService | undefined {
    const n = this.threads.pending(this.pendingIds)
    return n === 0 ? undefined : this.handlePending(n, this.holding())
  }

  /** Waits until every AP is parked, handling their exits meanwhile; false when one of those stopped the machine. */
  readonly park: Effect.Effect<boolean, KernelError> = Effect.suspend(() => {
    const deadline = performance.now() + PARK_TIMEOUT_MS
    for (const ap of this.aps) if (ap.thread >= 0 && !ap.parked) ap.vcpu.kick()
    for (;;) {
      if (this.stopping !== undefined) return Effect.succeed(false)
      const unparked = this.aps.find((ap) => ap.thread >= 0 && !ap.parked)
      if (unparked === undefined) return Effect.succeed(true)
      if (performance.now() > deadline) {
        return Effect.fail(new CpuError({ operation: `parking vCPU ${unparked.vcpu.id} for a pause`, detail: `its thread did not leave its run within ${PARK_TIMEOUT_MS} ms` }))
      }
      const n = this.threads.pending(this.pendingIds)
      if (n > 0) this.handlePending(n, true)
      else this.threads.wait(10)
    }
  })

  /** Lets every parked AP run again. */
  readonly unpark = (): void => {
    for (const ap of this.aps) {
      if (!ap.parked) continue
      ap.parked = false
      if (ap.thread >= 0) this.threads.resume(ap.thread)
    }
  }

  private handlePending(n: number, holding: boolean): ApService {
    for (let i = 0; i < n; i++) {
      const ap = this.byThread.get(this.pendingIds[i])
      if (ap === undefined) continue
      const stop = this.handle(ap, holding)
      if (stop !== undefined) {
        this.stopping = stop
        return stop
      }
    }
    return holding ? "kicked" : "handled"
  }

  /** One AP exit, as the BSP's slice handles its own; resumes the AP unless it parks or the machine stops. */
  private handle(ap: Ap, holding: boolean): MachineExit | VcpuFailure | undefined {
    const { vcpu } = ap
    const exit = this.threads.exitOf(ap.thread, vcpu)
    if (exit === undefined) {
      // Woken without an exit (KVM: out of wait-for-SIPI by INIT/SIPI, or spuriously): just run again.
      // A kick since then makes the next run report Interrupted.
      this.threads.resume(ap.thread)
      return undefined
    }
    switch (exit._tag) {
      case "PioExit":
        try {
          dispatchPio(this.bus, exit)
        } catch (e) {
          return new VcpuFailure({ vcpu: vcpu.id, reason: `device at port ${hex(exit.port)} failed: ${String(e)}` })
        }
        break
      case "MmioExit":
        try {
          dispatchMmio(this.bus, exit)
        } catch (e) {
          return new VcpuFailure({ vcpu: vcpu.id, reason: `device at MMIO ${hex(exit.address)} failed: ${String(e)}` })
        }
        break
      case "Interrupted":
        if (holding) {
          ap.parked = true
          return undefined
        }
        break
      default:
        return stopOutcome(vcpu, exit)
    }
    const request = this.events.pending()
    if (request !== undefined) return requestedStop(request)
    if (this.bus.fault !== undefined) return new VcpuFailure({ vcpu: vcpu.id, reason: this.bus.fault.message })
    this.threads.resume(ap.thread)
    return undefined
  }

  private stopAll(): void {
    for (const ap of this.aps) {
      if (ap.thread < 0) continue
      this.threads.stop(ap.thread)
      ap.thread = -1
      ap.parked = false
    }
    this.byThread.clear()
  }
}

/**
 * The AP runner of a machine with more than one vCPU on a backend that
 * gives APs threads of their own (undefined otherwise: one vCPU, or a
 * backend that runs every vCPU inside the BSP's run). `holding` tells
 * whether a pause is being taken or in force.
 */
export const makeApRunner = (
  threads: ApThreads | "inline",
  vcpus: ReadonlyArray<VirtualCpu>,
  bus: BusRouter,
  events: MachineEventSink,
  holding: () => boolean
): ApRunner | undefined => {
  const [bsp, ...aps] = vcpus
  return bsp === undefined || aps.length === 0 || threads === "inline" ? undefined : new ApRunner(threads, aps, bus, events, holding)
}
