import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { createHash } from "node:crypto"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseRestoreOptions } from "../../src/cli/RestoreOptions.js"
import * as SnapshotFsLive from "../../src/snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../../src/snapshot/MachineSnapshots.js"
import type { RamRestoreMode } from "../../src/snapshot/RestoreSnapshot.js"
import type { Verify } from "../../src/snapshot/format/RamReader.js"
import { readManifest } from "../../src/snapshot/format/SnapshotReader.js"
import { computeConfig } from "../support/ComputeConfig.js"
import { guestPath } from "../support/GuestRun.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))
const STEPS = 2_000_000
const EVERY = 50_000
const expected = () => execFileSync(guestPath("compute-reference"), [`steps=${STEPS}`, `every=${EVERY}`], { encoding: "utf8" })
const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex")
const ramFileOf = (dir: string) => join(dir, readdirSync(dir).find((f) => f.endsWith(".ram")) ?? "missing.ram")

/** A compute guest checkpointed halfway; the snapshot's path. */
const checkpointed = (dir: string) =>
  Effect.scoped(Effect.gen(function*() {
    const machine = yield* MachineSnapshots.fromConfig(computeConfig("lazy", STEPS, EVERY, { _tag: "file", path: join(dir, "original.txt") }))
    const running = yield* Effect.fork(machine.run)
    yield* sleep(400)
    yield* machine.checkpoint(join(dir, "vm.snap"))
    yield* Fiber.join(running)
    return join(dir, "vm.snap")
  }))

const restoreAndRun = (path: string, out: string, ram: RamRestoreMode, verify: Verify) =>
  Effect.scoped(Effect.gen(function*() {
    const { machine, report } = yield* MachineSnapshots.restore({
      path,
      ram,
      verify,
      overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: out } }] }
    })
    const exit = yield* machine.run
    return { exit, report }
  }))

describe("lazy restore: guest RAM mapped from the snapshot's RAM file, copy on write", () => {
  it.scoped("the guest resumes from a mapped RAM file and finishes its hash chain, reading nothing up front, and the file is left as it was", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-lazy-"))
      const path = yield* checkpointed(dir)
      const before = sha(ramFileOf(dir))
      for (const verify of ["state", "all"] as const) {
        const out = join(dir, `restored-${verify}.txt`)
        const { exit, report } = yield* restoreAndRun(path, out, "map", verify)
        expect(exit._tag).toBe("PoweredOff")
        expect(report.ramBytesRead).toBe(0)
        const tail = readFileSync(out, "utf8")
        expect(tail.length).toBeGreaterThan(0)
        expect(expected().endsWith(tail)).toBe(true)
      }
      // The guest wrote to its RAM all along: those writes were private copies, never the file's.
      expect(sha(ramFileOf(dir))).toBe(before)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 120_000)

  it.scoped("with verify=all a mapped RAM file whose block was changed is refused before the guest runs", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-lazy-bad-"))
      const path = yield* checkpointed(dir)
      const { manifest } = yield* readManifest(path)
      const region = manifest.ram.regions[0]
      const block = region.blocks.findIndex((b) => b !== "zero")
      const ram = ramFileOf(dir)
      const bytes = readFileSync(ram)
      bytes[region.fileOffset + block * manifest.ram.blockSize + 100] ^= 0xff
      writeFileSync(ram, bytes)
      const failure = yield* Effect.flip(restoreAndRun(path, join(dir, "never.txt"), "map", "all"))
      expect(String((failure as Error).message)).toContain(`ram block ${block}`)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 120_000)
})

describe("restore options", () => {
  it("snapshot.verify and snapshot.ram take their listed values only, lazy RAM by default", () => {
    expect(parseRestoreOptions({})).toMatchObject({ right: { verify: "all", ram: "lazy" } })
    expect(parseRestoreOptions({ "snapshot.ram": "map", "snapshot.verify": "state" })).toMatchObject({ right: { verify: "state", ram: "map" } })
    expect(parseRestoreOptions({ "snapshot.ram": "copy" })).toMatchObject({ right: { ram: "copy" } })
    expect(parseRestoreOptions({ "snapshot.ram": "lazier" })).toMatchObject({ left: "-o snapshot.ram=lazier: expected lazy, copy or map" })
    expect(parseRestoreOptions({ "snapshot.verify": "none" })).toMatchObject({ left: "-o snapshot.verify=none: expected all or state" })
  })
})
