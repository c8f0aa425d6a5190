import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { join } from "node:path"
import * as Machine from "../../../src/machine/Machine.js"
import { type ApParking, RunControl } from "../../../src/machine/RunControl.js"
import * as PmServer from "../../../src/servers/pm/PmServer.js"
import * as ResetServer from "../../../src/servers/reset/ResetServer.js"
import type { SerialBackendHandle } from "../../../src/servers/serial-backend/SerialBackend.js"
import * as UartServer from "../../../src/servers/uart/UartServer.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import type { SaveFailed } from "../../../src/snapshot/SaveErrors.js"
import { type SaveReport, saveSnapshot } from "../../../src/snapshot/SaveSnapshot.js"
import { computeConfig } from "../../support/ComputeConfig.js"
import { lineRecorder } from "../../support/GuestRun.js"
import { expectSaveFailed, listing, reference, sleep, snapshotIdAt, tempDir } from "./Harness.js"

const STEPS = 600_000
const EVERY = 10_000

const config = computeConfig("deadline", STEPS, EVERY, { _tag: "stdio" })

/**
 * COM1 output recorded, plus a hook run after the guest's next line. The
 * hook is queued as a microtask from inside the vCPU's slice, so it runs
 * right after that slice, before the vCPU loop's next boundary (its
 * setImmediate, on the next turn of the event loop).
 */
const hookedRecorder = () => {
  const recorder = lineRecorder()
  let hook: (() => void) | undefined
  const backend: SerialBackendHandle = {
    ...recorder.backend,
    write: (bytes) => {
      recorder.backend.write(bytes)
      if (hook !== undefined && bytes.includes(10)) {
        const run = hook
        hook = undefined
        queueMicrotask(run)
      }
    }
  }
  return { recorder, backend, afterNextLine: (f: () => void) => (hook = f) }
}

/** Keeps the thread busy, as a long GC pause or other work on the machine's event loop would. */
const busy = (ms: number) => {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // spin
  }
}

const computeMachine = (backend: SerialBackendHandle) =>
  Machine.build({
    cpus: 1,
    memoryBytes: 64 << 20,
    boot: config.boot,
    devices: [UartServer.layer({ id: "com1", backend }), PmServer.layer(), ResetServer.layer]
  })

describe("RunControl: a pause given up at its deadline", () => {
  it.live("while the APs are still being parked, the loop does not stay parked with no one to resume it", () =>
    Effect.gen(function*() {
      // APs that take 40 ms to park: the pause's 5 ms deadline passes after the loop took the request.
      let unparks = 0
      const aps: ApParking = { park: Effect.as(Effect.sleep("40 millis"), true), unpark: () => void unparks++ }
      const control = new RunControl([], aps)
      let slices = 0
      const loop = control.whileLooping(
        Effect.forever(Effect.sync(() => void slices++).pipe(Effect.zipRight(Effect.sleep("1 millis")), Effect.zipRight(control.boundary)))
      )
      const fiber = yield* Effect.fork(loop)
      yield* Effect.sleep("10 millis")
      const late = yield* Effect.either(Effect.timeoutFail(control.pause, { duration: "5 millis", onTimeout: () => "late" }))
      expect(Either.isLeft(late)).toBe(true)
      yield* Effect.sleep("80 millis")
      const before = slices
      yield* Effect.sleep("50 millis")
      expect(control.state).toBe("running")
      expect(slices).toBeGreaterThan(before)
      expect(unparks).toBeGreaterThan(0)

      // A pause with time enough is still granted, and resumed.
      yield* Effect.timeoutFail(control.pause, { duration: "1 second", onTimeout: () => "pause not granted" })
      expect(control.state).toBe("paused")
      const parkedAt = slices
      yield* Effect.sleep("30 millis")
      expect(slices).toBe(parkedAt)
      yield* control.resume
      yield* Effect.sleep("30 millis")
      expect(slices).toBeGreaterThan(parkedAt)
      yield* Fiber.interrupt(fiber)
    }))
})

describe("a pause that misses its deadline, on a live guest", () => {
  it.scopedLive("fails the save at pause, writes nothing, and the guest runs on to the reference output", () =>
    Effect.gen(function*() {
      const dir = tempDir("pause")
      const path = join(dir, "vm.snap")
      const { afterNextLine, backend, recorder } = hookedRecorder()
      const machine = yield* computeMachine(backend)
      const running = yield* Effect.fork(machine.run)
      // Past the first slice, which runs wherever the fork started rather than on the loop's own turn.
      yield* sleep(50)
      const outcomes: Array<Either.Either<SaveReport, SaveFailed>> = []
      for (let i = 0; i < 5; i++) {
        const before = listing(dir)
        const done = yield* Deferred.make<Either.Either<SaveReport, SaveFailed>>()
        afterNextLine(() => {
          const save = saveSnapshot(machine, { path, mode: "checkpoint", config, deadlines: { pauseMs: 0, quiesceMs: 1000 } })
          Effect.runFork(Effect.flatMap(Effect.either(Effect.provide(save, SnapshotFsLive.layer)), (r) => Deferred.succeed(done, r)))
          // Once the request is made (its fibers run in this microtask checkpoint), the thread is busy for 5 ms before the
          // vCPU loop can come round: the pause's timer is due first. Without this the loop parks within the same turn.
          process.nextTick(() => busy(5))
        })
        const outcome = yield* Deferred.await(done)
        outcomes.push(outcome)
        expect(machine.control.state).toBe("running")
        if (Either.isLeft(outcome)) {
          const failed = expectSaveFailed(outcome, "pause")
          expect(failed.reason).toBe("did not finish within 0 ms")
          expect(listing(dir)).toEqual(before)
        }
      }
      // Every attempt misses its deadline: the timer always comes before the loop's next turn on this path.
      expect(outcomes.filter(Either.isLeft).length).toBe(outcomes.length)
      const exit = yield* Fiber.join(running)
      expect(exit._tag).toBe("PoweredOff")
      expect(recorder.text()).toBe(reference(STEPS, EVERY))
    }), 60_000)

  it.scopedLive("a checkpoint of a guest paused by someone else leaves it paused", () =>
    Effect.gen(function*() {
      const dir = tempDir("paused")
      const path = join(dir, "vm.snap")
      const recorder = lineRecorder()
      const machine = yield* computeMachine(recorder.backend)
      const running = yield* Effect.fork(machine.run)
      yield* sleep(100)
      yield* machine.control.pause
      const report = yield* saveSnapshot(machine, { path, mode: "checkpoint", config })
      expect(report.path).toBe(path)
      expect(typeof (yield* snapshotIdAt(path))).toBe("string")
      expect(machine.control.state).toBe("paused")
      const printed = recorder.text()
      yield* sleep(150)
      expect(recorder.text()).toBe(printed)
      yield* machine.control.resume
      expect((yield* Fiber.join(running))._tag).toBe("PoweredOff")
      expect(recorder.text()).toBe(reference(STEPS, EVERY))
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)
})
