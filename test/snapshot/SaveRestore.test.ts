import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SnapshotFsLive from "../../src/snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../../src/snapshot/MachineSnapshots.js"
import { computeConfig } from "../support/ComputeConfig.js"
import { guestPath } from "../support/GuestRun.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))


const reference = (steps: number, every: number) =>
  execFileSync(guestPath("compute-reference"), [`steps=${steps}`, `every=${every}`], { encoding: "utf8" })

describe("checkpoint and restore through the Machine API", () => {
  it.scoped("a checkpointed guest runs on to the same end, and its restored copy finishes the same hash chain", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-snap-"))
      const [steps, every] = [2_000_000, 50_000]
      const expected = reference(steps, every)
      const snapshotPath = join(dir, "vm.snap")
      const report = yield* Effect.scoped(Effect.gen(function*() {
        const machine = yield* MachineSnapshots.fromConfig(computeConfig("snap", steps, every, { _tag: "file", path: join(dir, "original.txt") }))
        const running = yield* Effect.fork(machine.run)
        yield* sleep(500)
        const report = yield* machine.checkpoint(snapshotPath)
        const exit = yield* Fiber.join(running)
        expect(exit._tag).toBe("PoweredOff")
        return report
      }))
      expect(readFileSync(join(dir, "original.txt"), "utf8")).toBe(expected)
      expect(statSync(snapshotPath).mode & 0o777).toBe(0o600)
      expect(report.pauseMs).toBeLessThan(1000)

      const restored = yield* Effect.scoped(Effect.gen(function*() {
        const { machine } = yield* MachineSnapshots.restore({
          path: snapshotPath,
          overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: join(dir, "restored.txt") } }] }
        })
        return yield* machine.run
      }))
      expect(restored._tag).toBe("PoweredOff")
      const tail = readFileSync(join(dir, "restored.txt"), "utf8")
      expect(tail.length).toBeGreaterThan(0)
      expect(tail.length).toBeLessThan(expected.length)
      expect(expected.endsWith(tail)).toBe(true)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 120_000)
})
