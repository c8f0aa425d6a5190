import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { join } from "node:path"
import * as Machine from "../../../src/machine/Machine.js"
import { handleRequest } from "../../../src/machine/MachineCommands.js"
import * as PmServer from "../../../src/servers/pm/PmServer.js"
import * as ResetServer from "../../../src/servers/reset/ResetServer.js"
import * as UartServer from "../../../src/servers/uart/UartServer.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import type { DescribedMachine } from "../../../src/snapshot/MachineSnapshots.js"
import { saveSnapshot } from "../../../src/snapshot/SaveSnapshot.js"
import { computeConfig } from "../../support/ComputeConfig.js"
import * as FaultyDevice from "../../support/FaultyDevice.js"
import { guestPath, lineRecorder } from "../../support/GuestRun.js"
import {
  expectSaveFailed,
  listing,
  makeOlderSnapshot,
  reference,
  restoreAndFinish,
  sleep,
  snapshotIdAt,
  tempDir
} from "./Harness.js"

const STEPS = 400_000
const EVERY = 20_000
const DEADLINES = { pauseMs: 2_000, quiesceMs: 200 }

/** compute.elf with COM1, PM, reset and one FaultyDevice, built with Machine.build. */
const faultyMachine = (device: FaultyDevice.FaultyDevice) =>
  Effect.gen(function*() {
    const recorder = lineRecorder()
    const machine = yield* Machine.build({
      cpus: 1,
      memoryBytes: 64 << 20,
      boot: { kernel: guestPath("compute.elf"), cmdline: `steps=${STEPS} every=${EVERY}` },
      devices: [UartServer.layer({ id: "com1", backend: recorder.backend }), PmServer.layer(), ResetServer.layer, device.layer]
    })
    // What the manifest would record; the save fails before it is written.
    const config = computeConfig("faulty", STEPS, EVERY, { _tag: "stdio" })
    return { machine, recorder, config }
  })

/** The step and reason a failing save must report for each fault. */
const expectations: ReadonlyArray<{ fault: Exclude<FaultyDevice.DeviceFault, "none" | "resume-dies">; step: "check" | "quiesce" | "collect"; reason: RegExp }> = [
  { fault: "unsupported", step: "check", reason: /device faulty \(faulty-test-device\) cannot be saved/ },
  { fault: "quiesce-fails", step: "quiesce", reason: /quiesce failed on purpose/ },
  { fault: "quiesce-dies", step: "quiesce", reason: /quiesce died on purpose/ },
  { fault: "quiesce-hangs", step: "quiesce", reason: /did not finish within 200 ms/ },
  { fault: "save-throws", step: "collect", reason: /save\(\) threw on purpose/ }
]

describe("a device that fails the save: the save fails by name, nothing is written, the guest runs on", () => {
  for (const { fault, step, reason } of expectations) {
    it.scopedLive(`${fault}: SaveFailed at ${step} naming the device; the older snapshot stays and restores; the guest ends as the reference`, () =>
      Effect.gen(function*() {
        const dir = tempDir(fault)
        const path = join(dir, "vm.snap")
        const olderId = yield* makeOlderSnapshot(dir, path, STEPS, EVERY)
        const before = listing(dir)

        const device = FaultyDevice.make("faulty")
        const { machine, recorder, config } = yield* faultyMachine(device)
        const running = yield* Effect.fork(machine.run)
        yield* sleep(80)
        device.fault = fault
        // Twice: a device that failed once must not have left the machine in a state that breaks the next save.
        for (let attempt = 0; attempt < 2; attempt++) {
          const result = yield* Effect.either(saveSnapshot(machine, { path, mode: "checkpoint", config, deadlines: DEADLINES }))
          const failed = expectSaveFailed(result, step, "faulty")
          expect(failed.reason).toMatch(reason)
          expect(machine.control.state).toBe("running")
          expect(listing(dir)).toEqual(before)
          expect(yield* snapshotIdAt(path)).toBe(olderId)
        }
        if (step === "check") {
          // Refused before the guest was even paused.
          expect(device.calls.quiesce).toBe(0)
        } else {
          // The device was told to take up its work again after each failed save.
          expect(device.calls.resumeWork).toBe(2)
        }
        expect(Option.isNone(yield* Fiber.poll(running))).toBe(true)
        device.fault = "none"

        const exit = yield* Fiber.join(running)
        expect(exit._tag).toBe("PoweredOff")
        expect(recorder.text()).toBe(reference(STEPS, EVERY))
        const restored = yield* restoreAndFinish(path, join(dir, "restored.txt"), STEPS, EVERY)
        expect(restored.snapshotId).toBe(olderId)
      }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)
  }

  it.scopedLive("with no older snapshot, a failed save leaves nothing at the path", () =>
    Effect.gen(function*() {
      const dir = tempDir("first")
      const path = join(dir, "vm.snap")
      const device = FaultyDevice.make("faulty")
      const { machine, recorder, config } = yield* faultyMachine(device)
      const running = yield* Effect.fork(machine.run)
      yield* sleep(50)
      for (const { fault, step } of expectations) {
        device.fault = fault
        expectSaveFailed(yield* Effect.either(saveSnapshot(machine, { path, mode: "checkpoint", config, deadlines: DEADLINES })), step, "faulty")
        expect(listing(dir)).toEqual([])
        expect(machine.control.state).toBe("running")
      }
      // And a suspend that fails does not leave the guest paused for a caller who no longer expects it to be.
      device.fault = "quiesce-fails"
      expectSaveFailed(yield* Effect.either(saveSnapshot(machine, { path, mode: "suspend", config, deadlines: DEADLINES })), "quiesce", "faulty")
      expect(machine.control.state).toBe("running")
      device.fault = "none"
      expect((yield* Fiber.join(running))._tag).toBe("PoweredOff")
      expect(recorder.text()).toBe(reference(STEPS, EVERY))
      expect(listing(dir)).toEqual([])
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)

  it.scopedLive("resumeWork dying after a good save: the snapshot is reported and restores, and the guest still runs on", () =>
    Effect.gen(function*() {
      const dir = tempDir("resume-dies")
      const path = join(dir, "vm.snap")
      const device = FaultyDevice.make("faulty")
      const { machine, recorder, config } = yield* faultyMachine(device)
      const running = yield* Effect.fork(machine.run)
      yield* sleep(80)
      device.fault = "resume-dies"
      const result = yield* Effect.either(saveSnapshot(machine, { path, mode: "checkpoint", config, deadlines: DEADLINES }))
      expect(result._tag).toBe("Right")
      expect(device.calls.resumeWork).toBe(1)
      expect(machine.control.state).toBe("running")
      const id = yield* snapshotIdAt(path)
      expect(typeof id).toBe("string")
      device.fault = "none"
      expect((yield* Fiber.join(running))._tag).toBe("PoweredOff")
      expect(recorder.text()).toBe(reference(STEPS, EVERY))
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)
  it.scopedLive("on the machine thread: a failing device, or a request handler that dies, is a failed reply, and the machine serves on", () =>
    Effect.gen(function*() {
      const dir = tempDir("commands")
      const device = FaultyDevice.make("faulty")
      const { machine, config } = yield* faultyMachine(device)
      const described: DescribedMachine = {
        ...machine,
        config,
        checkpoint: (path, deadlines) => saveSnapshot(machine, { path, mode: "checkpoint", config, deadlines }),
        suspend: (path, deadlines) => saveSnapshot(machine, { path, mode: "suspend", config, deadlines })
      }
      device.fault = "quiesce-dies"
      const crashed = yield* handleRequest(described, { _tag: "Checkpoint", path: join(dir, "vm.snap") })
      expect(crashed).toEqual({
        outcome: { ok: false, step: "quiesce", reason: "faulty: crashed: faulty: quiesce died on purpose" },
        after: "continue"
      })
      // A defect from anywhere in a handler (here the whole checkpoint) would otherwise end the machine thread's serve loop.
      const broken: DescribedMachine = { ...described, checkpoint: () => Effect.die(new Error("checkpoint blew up")) }
      const died = yield* handleRequest(broken, { _tag: "Checkpoint", path: join(dir, "vm.snap") })
      expect(died).toEqual({ outcome: { ok: false, reason: "internal error: checkpoint blew up" }, after: "continue" })
      device.fault = "none"
      const fine = yield* handleRequest(described, { _tag: "Checkpoint", path: join(dir, "vm.snap") })
      expect(fine.outcome.ok).toBe(true)
      expect(listing(dir).filter((n) => !n.startsWith("."))).toHaveLength(2)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)
})
