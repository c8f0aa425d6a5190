import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import type { FsOp } from "../../../src/snapshot/format/SnapshotFs.js"
import * as SnapshotFsFaulty from "../../../src/snapshot/format/SnapshotFsFaulty.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../../../src/snapshot/MachineSnapshots.js"
import { computeConfig, expectSaveFailed, listing, reference, restoreAndFinish, sleep, snapshotIdAt, snapshotLike, tempDir } from "./Harness.js"

const STEPS = 4_000_000
const EVERY = 200_000
const OPS: ReadonlyArray<FsOp> = ["write", "fsync", "rename"]
const CODES = ["ENOSPC", "EIO"] as const

/**
 * One live guest, checkpointed over and over, each time through a file
 * system that fails one call: the 1st, 2nd, ... write, fsync and rename of
 * the save in turn, with ENOSPC and with EIO. First with nothing at the
 * target path, then with an older snapshot there. Every such save fails at
 * "write" and the guest runs on. A failure before the commit rename leaves
 * the directory exactly as it was; the one call after it (the directory
 * fsync that makes the rename durable) fails the save too, but the error
 * says the new snapshot is in place, and it is, whole (docs/snapshot-format.md).
 */
describe("the file system failing each write, fsync and rename of a checkpoint in turn", () => {
  it.scopedLive("every such save fails at write, leaves the path as it was (or, past the commit, says the new snapshot is in place), and the guest finishes as the reference", () =>
    Effect.gen(function*() {
      const dir = tempDir("fs")
      const firstPath = join(dir, "first.snap")
      const olderPath = join(dir, "older.snap")
      const machine = yield* MachineSnapshots.fromConfig(computeConfig("fs-faults", STEPS, EVERY, join(dir, "guest.txt"), 32 << 20))
      const running = yield* Effect.fork(machine.run)
      yield* sleep(100)

      // How many calls of each kind one save makes: the sweep covers every one.
      const probe = SnapshotFsFaulty.make(SnapshotFsFaulty.noFaults)
      yield* Effect.provide(machine.checkpoint(olderPath), probe.layer)
      const counts = new Map(OPS.map((op) => [op, probe.calls.filter((c) => c.op === op).length]))
      const probed = yield* snapshotIdAt(olderPath)
      if (typeof probed !== "string") throw new Error(`the first snapshot does not read: ${probed.error}`)
      let olderId = probed

      const sweepStarted = performance.now()
      let attempts = 0
      let committedAfterFailure = 0
      for (const target of [firstPath, olderPath]) {
        for (const op of OPS) {
          const count = counts.get(op) ?? 0
          expect(count).toBeGreaterThan(0)
          for (let n = 0; n < count; n++) {
            for (const code of CODES) {
              const fs = SnapshotFsFaulty.make(SnapshotFsFaulty.failNth(n, code, op))
              const before = listing(dir)
              const result = yield* Effect.either(Effect.provide(machine.checkpoint(target), fs.layer))
              attempts++
              const what = `${op} #${n} failing with ${code}, saving to ${target === firstPath ? "an empty path" : "an older snapshot"}`
              if (result._tag === "Right") {
                // Only possible if this save made fewer calls of `op` than the probe did.
                expect(fs.calls.filter((c) => c.op === op).length, what).toBeLessThanOrEqual(n)
                continue
              }
              const failed = expectSaveFailed(result, "write")
              expect(failed.reason, what).toContain(code)
              expect(machine.control.state, what).toBe("running")
              if (failed.reason.includes("in place")) {
                // Only the last directory fsync, after the commit rename: the new snapshot is there, and the error says so.
                committedAfterFailure++
                expect(op, what).toBe("fsync")
                expect(n, what).toBe(count - 1)
                const id = yield* snapshotIdAt(target)
                if (typeof id !== "string") throw new Error(`${what}: the committed snapshot does not read: ${id.error}`)
                if (target === olderPath) {
                  expect(id, what).not.toBe(olderId)
                  olderId = id
                } else {
                  // Back to an empty path for the faults still to come.
                  for (const name of snapshotLike(dir, "first.snap")) rmSync(join(dir, name))
                }
                continue
              }
              expect(listing(dir), what).toEqual(before)
              if (target === olderPath) expect(yield* snapshotIdAt(olderPath), what).toBe(olderId)
              else expect(yield* snapshotIdAt(firstPath), what).toMatchObject({ error: expect.stringContaining("ENOENT") })
            }
          }
        }
      }
      // The guest was running throughout: every save above was of a live guest.
      expect(Option.isNone(yield* Fiber.poll(running))).toBe(true)
      expect(attempts).toBe(2 * CODES.length * OPS.reduce((sum, op) => sum + (counts.get(op) ?? 0), 0))
      yield* Effect.logInfo(`fs faults: ${attempts} failing saves in ${Math.round(performance.now() - sweepStarted)} ms, calls per save ${JSON.stringify(Object.fromEntries(counts))}, ${committedAfterFailure} failed after the commit`)

      const joinStarted = performance.now()
      const exit = yield* Fiber.join(running)
      yield* Effect.logInfo(`guest ran on for ${Math.round(performance.now() - joinStarted)} ms`)
      expect(exit._tag).toBe("PoweredOff")
      expect(readFileSync(join(dir, "guest.txt"), "utf8")).toBe(reference(STEPS, EVERY))
      const restored = yield* restoreAndFinish(olderPath, join(dir, "restored.txt"), STEPS, EVERY)
      expect(restored.snapshotId).toBe(olderId)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 120_000)
})
