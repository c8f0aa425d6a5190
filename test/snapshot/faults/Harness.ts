import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { MachineConfig } from "../../../src/machine/MachineConfig.js"
import type { SnapshotFs } from "../../../src/snapshot/format/SnapshotFs.js"
import { readSnapshot } from "../../../src/snapshot/format/SnapshotReader.js"
import * as MachineSnapshots from "../../../src/snapshot/MachineSnapshots.js"
import { SaveFailed } from "../../../src/snapshot/SaveErrors.js"
import { computeConfig as sharedComputeConfig } from "../../support/ComputeConfig.js"
import { guestPath } from "../../support/GuestRun.js"

/** Shared by the in-process fault tests: guests, reference output, what lies in a snapshot directory. */

export const sleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

export const tempDir = (tag: string) => mkdtempSync(join(tmpdir(), `bhyve-faults-${tag}-`))

const referenceCache = new Map<string, string>()
/** What compute.elf prints for these arguments, from the host program. */
export const reference = (steps: number, every: number): string => {
  const key = `${steps}/${every}`
  const cached = referenceCache.get(key)
  if (cached !== undefined) return cached
  const text = execFileSync(guestPath("compute-reference"), [`steps=${steps}`, `every=${every}`], { encoding: "utf8" })
  referenceCache.set(key, text)
  return text
}

/** compute.elf with COM1 written to `outPath`. */
export const computeConfig = (name: string, steps: number, every: number, outPath: string, memoryBytes = 64 << 20): MachineConfig =>
  sharedComputeConfig(name, steps, every, { _tag: "file", path: outPath }, memoryBytes)

/** Everything in `dir`, sorted: a failed save must leave this exactly as it was. */
export const listing = (dir: string) => readdirSync(dir).sort()

/** Names in `dir` that a snapshot writer may have produced (state file, RAM file, temps). */
export const snapshotLike = (dir: string, base: string) => listing(dir).filter((n) => n === base || n.startsWith(`${base}.`) || n.startsWith(`.${base}.`))

/** The id of the snapshot that reads back at `path` (every checksum but RAM's), or the reason none does. */
export const snapshotIdAt = (path: string): Effect.Effect<string | { readonly error: string }, never, SnapshotFs> =>
  readSnapshot(path).pipe(
    Effect.map((s): string | { readonly error: string } => s.manifest.snapshotId),
    Effect.catchAll((e) => Effect.succeed({ error: e.message }))
  )

/** Expects a SaveFailed naming `step` (and `component`, when given). */
export const expectSaveFailed = <A>(
  result: { readonly _tag: "Left"; readonly left: unknown } | { readonly _tag: "Right"; readonly right: A },
  step: SaveFailed["step"],
  component?: string
): SaveFailed => {
  if (result._tag === "Right") throw new Error(`the save succeeded; expected a SaveFailed at ${step}`)
  const error = result.left
  expect(error).toBeInstanceOf(SaveFailed)
  const failed = error as SaveFailed
  expect(failed.step).toBe(step)
  if (component !== undefined) expect(failed.component).toBe(component)
  return failed
}

/**
 * Boots compute.elf from a plain (bhyve) configuration, lets it run a little,
 * checkpoints it to `path` and stops it: an "older snapshot" for a failing
 * save to leave alone. Returns the snapshot's id.
 */
export const makeOlderSnapshot = (dir: string, path: string, steps: number, every: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const machine = yield* MachineSnapshots.fromConfig(computeConfig("older", steps, every, join(dir, "older-run.txt")))
      const running = yield* Effect.fork(machine.run)
      yield* sleep(60)
      yield* machine.checkpoint(path)
      yield* Fiber.interrupt(running)
      const id = yield* snapshotIdAt(path)
      if (typeof id !== "string") return yield* Effect.die(new Error(`the older snapshot does not read: ${id.error}`))
      return id
    })
  )

/**
 * Restores the snapshot at `path` into a new machine and runs it to its end:
 * its output must be the tail of the reference, ending with the `done` line.
 */
export const restoreAndFinish = (path: string, outPath: string, steps: number, every: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const { machine, report } = yield* MachineSnapshots.restore({
        path,
        overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: outPath } }] }
      })
      const exit = yield* machine.run
      expect(exit._tag).toBe("PoweredOff")
      const tail = readFileSync(outPath, "utf8")
      const expected = reference(steps, every)
      expect(tail.length).toBeGreaterThan(0)
      expect(expected.endsWith(tail)).toBe(true)
      expect(tail).toMatch(/(^|\n)done [0-9a-f]{16}\n$/)
      return { snapshotId: report.snapshotId, tail }
    })
  )
