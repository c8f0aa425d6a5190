import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Bus from "../../src/bus/Bus.js"
import { CpuBackend } from "../../src/kernel/Cpu.js"
import type { BuiltMachine } from "../../src/machine/Machine.js"
import { PM_TMR_BASE } from "../../src/servers/pm/PmServer.js"
import { TIMER_MODULUS, TIMER_TICKS_PER_MS } from "../../src/servers/pm/PmRegisters.js"
import * as SnapshotFsLive from "../../src/snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../../src/snapshot/MachineSnapshots.js"
import { computeConfig } from "../support/ComputeConfig.js"
import { hasKvm } from "../support/Kvm.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

/** vCPU 0's TSC (the software CPU counts it at 1 GHz) and the ACPI PM timer, read back to back. */
const readClocks = (machine: BuiltMachine) =>
  Effect.gen(function*() {
    const part = Context.get(machine.context, CpuBackend).stateParts.find((p) => p.id === "vcpu/0")!
    const state = (yield* part.save()) as { readonly msrs: { readonly tsc: bigint } }
    const pm = Context.get(machine.context, Bus.Bus).pioRead(PM_TMR_BASE, 4)
    return { tsc: state.msrs.tsc, pm }
  })

/** PM timer ticks between two counts (24 bits, wrapping). */
const pmTicks = (from: number, to: number) => (to - from + TIMER_MODULUS) % TIMER_MODULUS
/** TSC nanoseconds as PM timer ticks. */
const asPmTicks = (ns: bigint) => (Number(ns) / 1e6) * TIMER_TICKS_PER_MS

const config = (dir: string, backend: "soft" | "kvm" = "soft") => {
  const base = computeConfig("clock", 400_000_000, 1_000_000, { _tag: "file", path: join(dir, "com1.txt") })
  return { ...base, options: { "cpu.backend": backend } }
}

describe("the machine clock under the software CPU's TSC and the ACPI PM timer", () => {
  it.scoped("neither moves while the machine is paused, and both run on in step after a resume", () =>
    Effect.gen(function*() {
      const machine = yield* MachineSnapshots.fromConfig(config(mkdtempSync(join(tmpdir(), "bhyve-clock-"))))
      const running = yield* Effect.fork(machine.run)
      yield* sleep(200)
      yield* machine.control.pause
      const paused = yield* readClocks(machine)
      yield* sleep(300)
      expect(yield* readClocks(machine)).toEqual(paused)
      yield* machine.control.resume
      yield* sleep(200)
      yield* machine.control.pause
      const later = yield* readClocks(machine)
      // One source: the PM timer's ticks are the TSC's nanoseconds at 3.579545 MHz, to the tick.
      expect(Math.abs(pmTicks(paused.pm, later.pm) - asPmTicks(later.tsc - paused.tsc))).toBeLessThanOrEqual(1)
      // The 300 ms paused are not in it (200 ms ran, give or take a loaded host's scheduling).
      expect(Number(later.tsc - paused.tsc)).toBeLessThan(300e6)
      yield* Fiber.interrupt(running)
    }), 60_000)

  it.scoped("a restored machine's TSC and PM timer continue from the values they had at the save, in step", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "bhyve-clock-"))
      const path = join(dir, "vm.snap")
      const atSave = yield* Effect.scoped(Effect.gen(function*() {
        const machine = yield* MachineSnapshots.fromConfig(config(dir))
        const running = yield* Effect.fork(machine.run)
        yield* sleep(200)
        yield* machine.control.pause
        const clocks = yield* readClocks(machine)
        yield* machine.suspend(path)
        yield* Fiber.interrupt(running)
        return clocks
      }))
      yield* sleep(100)
      const { machine } = yield* MachineSnapshots.restore({ path, overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: join(dir, "restored.txt") } }] } })
      // Until the guest runs, the clock stands where the save left it.
      expect(yield* readClocks(machine)).toEqual(atSave)
      const running = yield* Effect.fork(machine.run)
      yield* sleep(200)
      yield* machine.control.pause
      const after = yield* readClocks(machine)
      expect(after.tsc).toBeGreaterThan(atSave.tsc)
      expect(Math.abs(pmTicks(atSave.pm, after.pm) - asPmTicks(after.tsc - atSave.tsc))).toBeLessThanOrEqual(1)
      yield* Fiber.interrupt(running)
    }).pipe(Effect.provide(SnapshotFsLive.layer)), 60_000)
})

// KVM's TSC is the hardware's and runs on while the vCPUs are out of KVM_RUN: the PM timer must not stop beside it.
describe.runIf(hasKvm)("the machine clock on KVM", () => {
  it.scoped("runs through a pause, as KVM's own TSC does: the PM timer keeps counting host time", () =>
    Effect.gen(function*() {
      const machine = yield* MachineSnapshots.fromConfig(config(mkdtempSync(join(tmpdir(), "bhyve-clock-")), "kvm"))
      const bus = Context.get(machine.context, Bus.Bus)
      const running = yield* Effect.fork(machine.run)
      yield* sleep(100)
      yield* machine.control.pause
      const before = bus.pioRead(PM_TMR_BASE, 4)
      yield* sleep(200)
      expect(pmTicks(before, bus.pioRead(PM_TMR_BASE, 4))).toBeGreaterThanOrEqual(Math.floor(199 * TIMER_TICKS_PER_MS))
      yield* machine.control.resume
      yield* Fiber.interrupt(running)
    }), 60_000)
})
