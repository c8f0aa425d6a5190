import * as Effect from "effect/Effect"
import type { BusRouter } from "../bus/Bus.js"
import { dispatchMmio, dispatchPio } from "../bus/ExitDispatch.js"
import { errnoName, KvmError } from "../kernel/KvmError.js"
import type { NativeKvm } from "../kernel/NativeKvm.js"
import type { Vcpu } from "../kernel/Vcpu.js"
import type { MachineEventSink } from "../servers/MachineEvents.js"
import { MachineConfigError } from "./MachineConfigError.js"
import { type MachineExit, VcpuFailure } from "./MachineExit.js"
import type { ApParking } from "./RunControl.js"
import { requestedStop, stopOutcome } from "./VcpuLoop.js"

/** A build of the addon from before AP threads lacks their calls: say so instead of failing on the first one. */
const hasApThreads = (native: NativeKvm): boolean =>
  [native.apStart, native.apPending, native.apResult, native.apResume, native.apStop, native.apWait].every((f) => typeof f === "function")

/** How long a pause may wait for an AP to leave KVM_RUN after its kick (a kick takes well under 1 ms). */
const PARK_TIMEOUT_MS = 5000
const ETIMEDOUT = 110
const EAGAIN = 11

/** What handling the APs' waiting exits came to, for the BSP's slice. */
export type ApService = "handled" | "kicked" | MachineExit | VcpuFailure

interface Ap {
  readonly vcpu: Vcpu
  /** Native thread id; -1 when no thread runs this vCPU. */
  thread: number
  /** Stopped at an EINTR exit and held there for a pause. */
  parked: boolean
}

const hex = (n: number) => `0x${n.toString(16)}`

/**
 * The application processors (vCPUs 1..N-1), each looping on KVM_RUN in a
 * native thread of its own while the BSP runs on the machine thread. An AP
 * exit kicks the BSP out of KVM_RUN; the machine thread, on that
 * Interrupted exit only, decodes each waiting AP exit from the AP's own
 * struct kvm_run, dispatches it to the bus exactly as the BSP's, and
 * resumes the AP: two thread hops per AP exit, nothing added to the BSP's.
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
    private readonly native: NativeKvm,
    private readonly bsp: Vcpu,
    aps: ReadonlyArray<Vcpu>,
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
      const id = this.native.apStart(ap.vcpu.kickToken, ap.vcpu.fd.fd, this.bsp.kickToken)
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
    const n = this.native.apPending(this.bsp.kickToken, this.pendingIds)
    return n === 0 ? undefined : this.handlePending(n, this.holding())
  }

  /** Waits until every AP is parked, handling their exits meanwhile; false when one of those stopped the machine. */
  readonly park: Effect.Effect<boolean, KvmError> = Effect.suspend(() => {
    const deadline = performance.now() + PARK_TIMEOUT_MS
    for (const ap of this.aps) if (ap.thread >= 0 && !ap.parked) ap.vcpu.kick()
    for (;;) {
      if (this.stopping !== undefined) return Effect.succeed(false)
      const unparked = this.aps.find((ap) => ap.thread >= 0 && !ap.parked)
      if (unparked === undefined) return Effect.succeed(true)
      if (performance.now() > deadline) {
        return Effect.fail(new KvmError({ operation: `parking vCPU ${unparked.vcpu.id} for a pause`, errno: ETIMEDOUT, detail: "its thread did not leave KVM_RUN" }))
      }
      const n = this.native.apPending(this.bsp.kickToken, this.pendingIds)
      if (n > 0) this.handlePending(n, true)
      else this.native.apWait(this.bsp.kickToken, 10)
    }
  })

  /** Lets every parked AP run again. */
  readonly unpark = (): void => {
    for (const ap of this.aps) {
      if (!ap.parked) continue
      ap.parked = false
      if (ap.thread >= 0) this.native.apResume(ap.thread)
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
    const rc = this.native.apResult(ap.thread)
    if (rc === -EAGAIN) {
      // KVM_RUN woke from wait-for-SIPI without a signal (INIT/SIPI arrived, or a spurious wake-up):
      // no exit, just run again. A kick since then set immediate_exit, which makes the next KVM_RUN say EINTR.
      this.native.apResume(ap.thread)
      return undefined
    }
    const exit = vcpu.exitFrom(rc)
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
    this.native.apResume(ap.thread)
    return undefined
  }

  private stopAll(): void {
    for (const ap of this.aps) {
      if (ap.thread < 0) continue
      this.native.apStop(ap.thread)
      ap.thread = -1
      ap.parked = false
    }
    this.byThread.clear()
  }
}

/**
 * The AP runner of a machine with more than one vCPU (undefined for one).
 * `holding` tells whether a pause is being taken or in force.
 */
export const makeApRunner = (
  native: NativeKvm,
  vcpus: ReadonlyArray<Vcpu>,
  bus: BusRouter,
  events: MachineEventSink,
  holding: () => boolean
): Effect.Effect<ApRunner | undefined, MachineConfigError> =>
  Effect.suspend(() => {
    const [bsp, ...aps] = vcpus
    if (bsp === undefined || aps.length === 0) return Effect.succeed(undefined)
    return hasApThreads(native)
      ? Effect.succeed(new ApRunner(native, bsp, aps, bus, events, holding))
      : Effect.fail(new MachineConfigError({ field: "cpus", reason: "the native addon has no AP threads; rebuild it (npx node-gyp rebuild)" }))
  })
