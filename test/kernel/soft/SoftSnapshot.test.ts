import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { execFileSync } from "node:child_process"
import type { CpuStatePart } from "../../../src/kernel/Cpu.js"
import { boot, buildKitGuest, buildSoft, Console, guestPath, runUntilStopped, softAvailable } from "./SoftHarness.js"

const MEMORY = 64 << 20
const ARGS = "steps=30000 every=1000"

/** What a snapshot file would hold: each state part through its Schema to JSON, and the RAM. */
interface Saved {
  readonly parts: ReadonlyArray<{ readonly id: string; readonly json: string }>
  readonly ram: ReadonlyArray<Uint8Array>
}

const encodePart = (part: CpuStatePart) =>
  Effect.flatMap(part.save(), (state) => Effect.map(Schema.encode(part.schema)(state), (encoded) => ({ id: part.id, json: JSON.stringify(encoded) })))

const decodePart = (part: CpuStatePart, json: string) =>
  Effect.flatMap(Schema.decodeUnknown(part.schema)(JSON.parse(json)), (state) => part.restore(state))

describe.skipIf(!softAvailable())("soft vCPU state saved and restored into a fresh machine", () => {
  it.effect("compute.elf stopped midway and finished in a new machine prints what an uninterrupted run prints", () =>
    Effect.gen(function*() {
      const expected = execFileSync(guestPath("compute-reference"), ARGS.split(" "), { encoding: "utf8" })
      const first = new Console()
      const saved: Saved = yield* Effect.scoped(Effect.gen(function*() {
        const soft = yield* buildSoft({ cpus: 1, memoryBytes: MEMORY })
        yield* boot(soft, guestPath("compute.elf"), ARGS)
        const bsp = soft.backend.vcpus[0]
        // Short runs until a third of the output is out: the guest is mid-computation.
        while (!first.output.includes("step 10000 ")) {
          const exit = bsp.run(2, first.io)
          expect(exit._tag).toBe("Interrupted")
        }
        const parts = yield* Effect.forEach(soft.backend.stateParts, encodePart)
        return { parts, ram: soft.ram.regions.map((r) => r.bytes.slice()) }
      }))
      expect(first.output.length).toBeLessThan(expected.length)

      const second = new Console()
      yield* Effect.scoped(Effect.gen(function*() {
        const soft = yield* buildSoft({ cpus: 1, memoryBytes: MEMORY })
        soft.ram.regions.forEach((r, i) => r.bytes.set(saved.ram[i]))
        for (const { id, json } of saved.parts) {
          const part = soft.backend.stateParts.find((p) => p.id === id)
          expect(part?.schemaId).toBe("x86-soft-vcpu")
          yield* decodePart(part!, json)
        }
        runUntilStopped(soft, second)
        expect(second.poweredOff).toBe(true)
      }))
      expect(first.output + second.output).toBe(expected)
    }))

  it.effect("the TSC runs at 1 GHz of host time, carries on from its saved value after a restore, and follows IA32_TSC writes", () =>
    Effect.gen(function*() {
      const elf = buildKitGuest("faults")
      const first = new Console()
      first.extraPio = (exit) => {
        if (exit.port !== 0xe3) return false
        first.stopNow = true
        return true
      }
      const saved: Saved = yield* Effect.scoped(Effect.gen(function*() {
        const soft = yield* buildSoft({ cpus: 1, memoryBytes: MEMORY })
        yield* boot(soft, elf, "case=tsc")
        while (!first.stopNow) soft.backend.vcpus[0].run(100, first.io)
        const parts = yield* Effect.forEach(soft.backend.stateParts, encodePart)
        return { parts, ram: soft.ram.regions.map((r) => r.bytes.slice()) }
      }))
      const pausedAt = performance.now()
      // Host time, not the test clock.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
      const second = new Console()
      let restoredAt = 0
      yield* Effect.scoped(Effect.gen(function*() {
        const soft = yield* buildSoft({ cpus: 1, memoryBytes: MEMORY })
        soft.ram.regions.forEach((r, i) => r.bytes.set(saved.ram[i]))
        for (const { id, json } of saved.parts) yield* decodePart(soft.backend.stateParts.find((p) => p.id === id)!, json)
        restoredAt = performance.now()
        runUntilStopped(soft, second)
      }))
      expect(restoredAt - pausedAt).toBeGreaterThan(290)
      const [t1, t2, t3, msr, t4] = second.output.trim().split(" ").slice(1).map((h) => BigInt(`0x${h}`))
      // t1 was read before the snapshot, t2 just after the restore: the 300 ms pause is not in the TSC.
      expect(t2 > t1).toBe(true)
      expect(t2 - t1).toBeLessThan(100_000_000n)
      // After wrmsr IA32_TSC = 2^40: rdtsc and rdmsr read on from there.
      expect(t3 >= 1n << 40n && t3 < (1n << 40n) + 100_000_000n).toBe(true)
      expect(msr >= t3 && t4 >= msr).toBe(true)
    }))

  it.scoped("a saved state decodes to named fields and survives a second round trip unchanged", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: MEMORY })
      yield* boot(soft, guestPath("hello.elf"), "x")
      const console = new Console()
      soft.backend.vcpus[0].run(1, console.io)
      const [part] = soft.backend.stateParts
      const { json } = yield* encodePart(part)
      const fields = JSON.parse(json)
      expect(Object.keys(fields)).toEqual(expect.arrayContaining(["regs", "cs", "gdt", "cr0", "efer", "fpu", "msrs", "runState", "nmiBlocked"]))
      yield* decodePart(part, json)
      const again = yield* encodePart(part)
      // The TSC moves on its own; everything else is as it was.
      const strip = (j: string) => ({ ...JSON.parse(j), msrs: { ...JSON.parse(j).msrs, tsc: "0" } })
      expect(strip(again.json)).toEqual(strip(json))
    }))

  it.scoped("impossible values are refused before anything reaches the engine", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: MEMORY })
      const [part] = soft.backend.stateParts
      const { json } = yield* encodePart(part)
      const bad = (patch: (s: Record<string, unknown>) => void) => {
        const s = JSON.parse(json)
        patch(s)
        return Effect.flip(decodePart(part, JSON.stringify(s)))
      }
      // LMA without paging, a reserved CR4 bit, a 5-bit segment type, a run state that does not exist, another vCPU's chunk.
      yield* bad((s) => void (s.efer = "1280"))
      yield* bad((s) => void (s.cr4 = String(1 << 22)))
      yield* bad((s) => void ((s.cs as Record<string, number>).type = 16))
      yield* bad((s) => void (s.runState = "sleeping"))
      const wrongId = yield* bad((s) => void (s.id = 3))
      expect(String(wrongId)).toContain("vCPU 3")
    }))
})
