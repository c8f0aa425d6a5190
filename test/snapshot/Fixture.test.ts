import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as SnapshotFsLive from "../../src/snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../../src/snapshot/MachineSnapshots.js"
import { guestPath } from "../support/GuestRun.js"

/**
 * Snapshots written by released formats, committed with the output their
 * guest had printed before the save. Every build must keep restoring them.
 */
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/snapshots/${name}`, import.meta.url))

describe("committed snapshot fixtures", () => {
  it.scoped("format 1.0: a hash-chain guest suspended mid-run resumes and finishes its chain", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-fixture-"))
      const out = join(dir, "com1.txt")
      const { machine } = yield* MachineSnapshots.restore({
        path: fixture("v1/compute.snap"),
        overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: out } }] }
      })
      const exit = yield* machine.run
      expect(exit._tag).toBe("PoweredOff")
      const before = readFileSync(fixture("v1/compute.before.txt"), "utf8")
      const expected = execFileSync(guestPath("compute-reference"), ["steps=1500000", "every=100000"], { encoding: "utf8" })
      expect(before + readFileSync(out, "utf8")).toBe(expected)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)
})
