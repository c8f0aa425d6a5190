import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { CpuInterruptsService, StartupSignal } from "../../../src/kernel/CpuInterrupts.js"
import type { MmioExit } from "../../../src/kernel/VcpuExit.js"
import { smpReference } from "../../support/SmpReference.js"
import { boot, buildSoft, Console, guestPath, runUntilStopped, softAvailable, type SoftServices } from "./SoftHarness.js"

/**
 * Just enough of a local APIC per vCPU for smp.elf (ID, SVR, ICR with
 * INIT/SIPI/fixed IPIs and the all-but-self shorthand), behind a
 * CpuInterrupts of its own: the soft CPU's side of INIT/SIPI and IPIs is
 * tested without the APIC server.
 */
class FakeApics implements CpuInterruptsService {
  readonly pending: Array<Array<number>>
  readonly startup: Array<Array<StartupSignal>>
  readonly icrHigh: Array<number>
  readonly log: Array<string> = []

  constructor(readonly count: number, private readonly current: () => number) {
    this.pending = Array.from({ length: count }, () => [])
    this.startup = Array.from({ length: count }, () => [])
    this.icrHigh = Array.from({ length: count }, () => 0)
  }

  hasInterrupt = (id: number) => this.pending[id].length > 0
  acknowledge = (id: number) => this.pending[id].shift() ?? -1
  takeNmi = () => false
  takeStartup = (id: number) => this.startup[id].shift()

  mmio = (exit: MmioExit): boolean => {
    if (exit.address < 0xfee0_0000 || exit.address >= 0xfee0_1000) return false
    const me = this.current()
    const offset = exit.address - 0xfee0_0000
    if (!exit.isWrite) {
      exit.reply(offset === 0x20 ? me << 24 : 0)
      return true
    }
    const v = Number(exit.value())
    if (offset === 0x310) this.icrHigh[me] = v >>> 24
    if (offset !== 0x300) return true
    const mode = (v >> 8) & 7, shorthand = (v >> 18) & 3, vector = v & 0xff
    const all = Array.from({ length: this.count }, (_, i) => i)
    const targets = shorthand === 3 ? all.filter((i) => i !== me) : shorthand === 2 ? all : shorthand === 1 ? [me] : [this.icrHigh[me]]
    for (const t of targets.filter((t) => t < this.count)) {
      if (mode === 5) this.startup[t].push({ kind: "init" })
      else if (mode === 6) this.startup[t].push({ kind: "sipi", vector })
      else if (mode === 0) this.pending[t].push(vector)
      this.log.push(`${me}->${t} ${["fixed", "", "", "", "", "init", "sipi"][mode] ?? mode}`)
    }
    return true
  }
}

const withApics = (soft: SoftServices, cpus: number) =>
  Effect.gen(function*() {
    const apics = new FakeApics(cpus, soft.current.current)
    yield* soft.interrupts.attach(apics)
    const console = new Console()
    console.extraMmio = apics.mmio
    return { apics, console }
  })

describe.skipIf(!softAvailable())("the soft CPU with more than one vCPU", () => {
  it.scoped("smp.elf cpus=2: the AP starts by INIT/SIPI in real mode at 0x10000, goes to long mode, and both share the work", () =>
    Effect.gen(function*() {
      const steps = 20000
      const soft = yield* buildSoft({ cpus: 2, memoryBytes: 64 << 20 })
      yield* boot(soft, guestPath("smp.elf"), `cpus=2 steps=${steps}`)
      const { apics, console } = yield* withApics(soft, 2)
      const exit = runUntilStopped(soft, console)
      expect(console.output).toBe(`smp cpus=2\ncpu 1 up\nsmp done ${smpReference(steps)}\n`)
      expect(console.poweredOff).toBe(true)
      expect(exit._tag).toBe("Interrupted")
      expect(apics.log.slice(0, 3)).toEqual(["0->1 init", "0->1 sipi", "0->1 sipi"])
      // The AP ran its 16 -> 32 -> 64-bit trampoline in the same kind of engine and sits in hlt at CPL0.
      const ap = yield* soft.backend.vcpus[1].getSregs()
      expect(ap.efer & 0x500n).toBe(0x500n)
      expect(ap.cs.l).toBe(1)
    }))

  it.scoped("smp.elf cpus=3 with the result printed by an AP's power-off", () =>
    Effect.gen(function*() {
      const steps = 6000
      const soft = yield* buildSoft({ cpus: 3, memoryBytes: 64 << 20 })
      yield* boot(soft, guestPath("smp.elf"), `cpus=3 steps=${steps} off=2`)
      const { console } = yield* withApics(soft, 3)
      runUntilStopped(soft, console)
      expect(console.output).toBe(`smp cpus=3\ncpu 1 up\ncpu 2 up\nsmp done ${smpReference(steps)}\n`)
      expect(console.poweredOff).toBe(true)
    }))

  it.scoped("CurrentVcpu says whose access is being handled", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 2, memoryBytes: 64 << 20 })
      yield* boot(soft, guestPath("smp.elf"), "cpus=2 steps=2000")
      const { console } = yield* withApics(soft, 2)
      const byCpu = new Map<number, Set<number>>()
      const mmio = console.extraMmio!
      console.extraMmio = (exit) => {
        if (exit.address === 0xfee0_0020 && !exit.isWrite) {
          const me = soft.current.current()
          byCpu.set(me, (byCpu.get(me) ?? new Set()).add(me))
        }
        return mmio(exit)
      }
      runUntilStopped(soft, console)
      expect([...byCpu.keys()].sort()).toEqual([1]) // only the AP reads its ID (the BSP never does)
      expect(soft.current.count).toBe(2)
    }))
})
