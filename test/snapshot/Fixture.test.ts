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
import { hasKvm } from "../support/Kvm.js"

/**
 * Snapshots written by released formats, committed with the output their
 * guest had printed before the save. Every build must keep restoring them.
 */
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/snapshots/${name}`, import.meta.url))

/** Restores a committed snapshot of compute.elf with COM1 into a file, runs it to the end, and checks the whole chain. */
const resumesItsChain = (dir: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const tmp = mkdtempSync(join(tmpdir(), "bhyve-fixture-"))
    const out = join(tmp, "com1.txt")
    const { machine } = yield* MachineSnapshots.restore({
      path: fixture(`${dir}/compute.snap`),
      overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: out } }] }
    })
    const exit = yield* machine.run
    expect(exit._tag).toBe("PoweredOff")
    const before = readFileSync(fixture(`${dir}/compute.before.txt`), "utf8")
    const expected = execFileSync(guestPath("compute-reference"), args, { encoding: "utf8" })
    expect(before + readFileSync(out, "utf8")).toBe(expected)
  }).pipe(Effect.provide(SnapshotFsLive.layer))

describe("committed snapshot fixtures", () => {
  it.scoped("format 1.0, software CPU: a hash-chain guest suspended mid-run resumes and finishes its chain", () =>
    resumesItsChain("v1-soft", ["steps=6000000", "every=1000000"]), 60_000)
})

// Its vCPU and VM chunks are KVM's own (a snapshot restores on the CPU that made it): it needs a working /dev/kvm.
describe.runIf(hasKvm)("committed snapshot fixtures taken on KVM", () => {
  it.scoped("format 1.0: a hash-chain guest suspended mid-run resumes and finishes its chain", () =>
    resumesItsChain("v1", ["steps=1500000", "every=100000"]), 60_000)
})
