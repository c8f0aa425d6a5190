import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { MachineConfig } from "../../src/machine/MachineConfig.js"
import * as SnapshotFsLive from "../../src/snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../../src/snapshot/MachineSnapshots.js"
import { guestPath } from "../support/GuestRun.js"
import { expectedOutput } from "../support/SmpReference.js"

const STEPS = 1_000_000
const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

const smpConfig = (out: string): MachineConfig => ({
  name: "smp-snap",
  cpus: 2,
  memoryBytes: 64 << 20,
  boot: { kernel: guestPath("smp.elf"), cmdline: `cpus=2 steps=${STEPS}` },
  serial: [{ port: "com1", backend: { _tag: "file", path: out } }],
  slots: [],
  strictBus: false,
  options: {}
})

describe("a 2-vCPU guest saved and restored", () => {
  it.scoped("checkpointed while both vCPUs compute, the original and a restored copy reach the same result", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-smp-snap-"))
      const snapshot = join(dir, "smp.snap")
      const original = join(dir, "original.txt")
      yield* Effect.scoped(Effect.gen(function*() {
        const machine = yield* MachineSnapshots.fromConfig(smpConfig(original))
        const running = yield* Effect.fork(machine.run)
        // Both CPUs are up and computing once the AP has reported.
        for (let i = 0; i < 200 && !readFileSync(original, "utf8").includes("cpu 1 up"); i++) yield* sleep(20)
        yield* sleep(100)
        yield* machine.checkpoint(snapshot)
        expect(readFileSync(original, "utf8")).not.toContain("smp done")
        expect((yield* Fiber.join(running))._tag).toBe("PoweredOff")
      }))
      const expected = expectedOutput(2, STEPS)
      expect(readFileSync(original, "utf8")).toBe(expected)

      const copy = join(dir, "copy.txt")
      const { machine } = yield* MachineSnapshots.restore({
        path: snapshot,
        overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: copy } }] }
      })
      expect(machine.vcpus).toHaveLength(2)
      expect((yield* machine.run)._tag).toBe("PoweredOff")
      expect(readFileSync(copy, "utf8")).toBe(expected.slice(expected.indexOf("smp done")))
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 120_000)
})
