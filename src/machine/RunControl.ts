import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type { KernelError } from "../kernel/Cpu.js"
import type { VirtualCpu } from "../kernel/Cpu.js"

export type RunState = "running" | "pausing" | "paused"

/** The machine clock as pausing sees it: it stands still while the machine is paused (where the backend's TSC can too: not on KVM). */
export interface PausableClock {
  readonly stop: () => void
  readonly start: () => void
}

/** The vCPUs that run on threads of their own (machine/ApRunner.ts): a pause parks them too. */
export interface ApParking {
  /** Waits until every AP is parked (no completion pending); false when an AP exit stopped the machine meanwhile. */
  readonly park: Effect.Effect<boolean, KernelError>
  /** Lets every parked AP run again. */
  readonly unpark: () => void
}

/**
 * Pausing and resuming a running machine from its own thread. A pause takes
 * effect at the vCPU loop's next slice boundary: every vCPU is out of
 * KVM_RUN, and any PIO-in/MMIO-read completion still pending in struct
 * kvm_run is applied (KVM_RUN with immediate_exit) before anyone reads or
 * writes vCPU state. The machine clock stops when the pause takes effect and
 * runs on from the same value on resume (QEMU's vm_clock): a paused guest,
 * or one saved slowly, sees no time pass.
 */
export class RunControl {
  private waiters: Array<Deferred.Deferred<void, KernelError>> = []
  private gate: Deferred.Deferred<void> | undefined
  private current: RunState = "running"
  /** Whether a vCPU loop is running to honour pauses; before it starts (or after it ends) a pause is immediate. */
  private looping = false

  constructor(
    private readonly vcpus: ReadonlyArray<VirtualCpu>,
    private readonly aps?: ApParking,
    private readonly clock?: PausableClock
  ) {}

  get state(): RunState {
    return this.current
  }

  /** True when the loop must stop at its next boundary; a plain read, cheap on the hot path. */
  get pauseRequested(): boolean {
    return this.waiters.length > 0
  }

  /** Resolves once every vCPU is parked with its pending I/O applied. */
  readonly pause: Effect.Effect<void, KernelError> = Effect.suspend(() => {
    if (this.current === "paused") return Effect.void
    if (!this.looping) {
      return Effect.gen(this, function*() {
        yield* Effect.forEach(this.vcpus, (v) => v.flushPendingIo(), { discard: true })
        this.gate = yield* Deferred.make<void>()
        this.current = "paused"
        this.clock?.stop()
      })
    }
    return Effect.flatMap(Deferred.make<void, KernelError>(), (waiter) => {
      this.waiters.push(waiter)
      this.current = "pausing"
      for (const v of this.vcpus) v.kick()
      // A pause given up (deadline, interruption) must not leave the loop parking later with no one to resume it.
      return Deferred.await(waiter).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            this.waiters = this.waiters.filter((w) => w !== waiter)
            if (this.waiters.length === 0 && this.current === "pausing") {
              this.current = "running"
              this.aps?.unpark()
            }
          }).pipe(
            // A boundary may already have taken this request and still be parking: done, it tells that boundary no one waits.
            Effect.zipRight(Deferred.interrupt(waiter))
          )
        )
      )
    })
  })

  readonly resume: Effect.Effect<void> = Effect.suspend(() => {
    const gate = this.gate
    if (gate === undefined) return Effect.void
    this.gate = undefined
    this.current = "running"
    this.clock?.start()
    return Deferred.succeed(gate, undefined)
  })

  /** Wraps the vCPU loop: a machine paused before it started stays paused until resumed. */
  readonly whileLooping = <A, E>(loop: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      this.looping = true
      const gate = this.gate
      // A restored machine's clock stands at the saved value until its guest runs.
      if (gate === undefined) this.clock?.start()
      return (gate === undefined ? loop : Effect.zipRight(Deferred.await(gate), loop)).pipe(
        Effect.ensuring(Effect.sync(() => {
          this.looping = false
        }))
      )
    })

  /** Called by the vCPU loop between slices: parks here while a pause is in force. */
  readonly boundary: Effect.Effect<void> = Effect.suspend(() => {
    if (this.waiters.length === 0) return Effect.void
    const waiters = this.waiters
    this.waiters = []
    return Effect.gen(this, function*() {
      // APs first: once parked (after an EINTR exit) they have no completion pending either.
      const parked = yield* Effect.either(this.aps?.park ?? Effect.succeed(true))
      if (parked._tag === "Right" && !parked.right) {
        // An AP's exit stopped the machine meanwhile: the loop returns that, as if it came before this boundary.
        this.waiters = waiters.concat(this.waiters)
        return
      }
      const flushed = parked._tag === "Left"
        ? parked
        : yield* Effect.either(Effect.forEach(this.vcpus, (v) => v.flushPendingIo(), { discard: true }))
      if (flushed._tag === "Left") {
        this.current = "running"
        this.aps?.unpark()
        for (const w of waiters) yield* Deferred.fail(w, flushed.left)
        return
      }
      const gate = yield* Deferred.make<void>()
      this.gate = gate
      this.current = "paused"
      this.clock?.stop()
      let granted = false
      for (const w of waiters) if (yield* Deferred.succeed(w, undefined)) granted = true
      if (!granted) {
        // Every request was given up (its deadline passed) while the vCPUs were being parked: parking now, no one would resume.
        this.gate = undefined
        this.current = this.waiters.length > 0 ? "pausing" : "running"
        this.clock?.start()
        this.aps?.unpark()
        return
      }
      yield* Deferred.await(gate)
      this.aps?.unpark()
    })
  })
}
