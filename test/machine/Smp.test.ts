import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { readdirSync, readFileSync } from "node:fs"
import * as Machine from "../../src/machine/Machine.js"
import * as PmServer from "../../src/servers/pm/PmServer.js"
import * as UartServer from "../../src/servers/uart/UartServer.js"
import { besidesBackendNote, runBhyve } from "../support/BhyveProcess.js"
import type { CpuBackendName } from "../../src/kernel/Cpu.js"
import type { KvmVcpu } from "../../src/kernel/kvm/KvmVcpu.js"
import { guestPath, lineRecorder, runGuest as runOn } from "../support/GuestRun.js"
import { guestBackends } from "../support/Kvm.js"
import { expectedOutput } from "../support/SmpReference.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

const waitForLine = (lines: ReadonlyArray<{ readonly text: string }>, text: string, timeoutMs = 20_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    while (!lines.some((l) => l.text === text)) {
      if (Date.now() > deadline) throw new Error(`no "${text}" line within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 5))
    }
  })

/** This process's threads running an AP (native/ap_thread.cc names them). */
const apThreadCount = () =>
  readdirSync("/proc/self/task").filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === "bhyve-ap"
    } catch {
      return false // the thread ended meanwhile
    }
  }).length

const smpMachine = (cpus: number, cmdline: string, cpuBackend: CpuBackendName) =>
  Effect.gen(function*() {
    const recorder = lineRecorder()
    const machine = yield* Machine.build({
      cpus,
      cpuBackend,
      memoryBytes: 64 << 20,
      boot: { kernel: guestPath("smp.elf"), cmdline },
      devices: [UartServer.layer({ id: "com1", backend: recorder.backend }), PmServer.layer()]
    })
    return { machine, recorder }
  })

describe.each(guestBackends)("guests with more than one vCPU on the %s CPU", (backend) => {
  const runGuest = (name: string, cmdline: string, memoryBytes = 64 << 20, cpus = 1) => runOn(name, cmdline, memoryBytes, cpus, backend)

  it.effect("a 2-vCPU guest starts its AP with INIT/SIPI, both compute, and it powers off", () =>
    Effect.gen(function*() {
      const { exit, output } = yield* runGuest("smp.elf", "cpus=2", 64 << 20, 2)
      expect(output).toBe(expectedOutput(2, 20000))
      expect(exit).toEqual({ _tag: "PoweredOff", source: "pm" })
      expect(apThreadCount()).toBe(0)
    }))

  it.effect("a 4-vCPU guest brings up three APs in order and gets the same result", () =>
    Effect.gen(function*() {
      const { exit, output } = yield* runGuest("smp.elf", "cpus=4", 64 << 20, 4)
      expect(output).toBe(expectedOutput(4, 20000))
      expect(exit).toEqual({ _tag: "PoweredOff", source: "pm" })
      expect(apThreadCount()).toBe(0)
    }))

  it.effect("an AP's port write powers the machine off (its exit is handled like the BSP's)", () =>
    Effect.gen(function*() {
      const { exit, output } = yield* runGuest("smp.elf", "cpus=4 off=3", 64 << 20, 4)
      expect(output).toBe(expectedOutput(4, 20000))
      expect(exit).toEqual({ _tag: "PoweredOff", source: "pm" })
      expect(apThreadCount()).toBe(0)
    }))

  it.effect("the same guest on one vCPU (no APs, no AP threads) agrees", () =>
    Effect.gen(function*() {
      const { output } = yield* runGuest("smp.elf", "cpus=1 steps=5000")
      expect(output).toBe(expectedOutput(1, 5000))
    }))

  it.scoped("pausing parks every vCPU mid-computation; resuming finishes with the right result", () =>
    Effect.gen(function*() {
      const steps = 400_000
      const { machine, recorder } = yield* smpMachine(2, `cpus=2 steps=${steps}`, backend)
      const running = yield* Effect.fork(machine.run)
      yield* waitForLine(recorder.lines, "cpu 1 up")
      yield* sleep(50)
      yield* machine.control.pause
      expect(machine.control.state).toBe("paused")
      const ap = machine.vcpus[1]
      const linesAtPause = recorder.lines.length
      // Both vCPUs' state can be read (an AP thread inside KVM_RUN would block these ioctls).
      const bspRegs = yield* machine.vcpus[0].getRegs()
      const apRegs = yield* ap.getRegs()
      const apSregs = yield* ap.getSregs()
      expect(apSregs.cs.selector & 3).toBe(3) // the AP was computing at CPL3,
      if (machine.backend === "kvm") expect(yield* (ap as KvmVcpu).getMpState()).toBe(0) // runnable, not halted: the sums were under way
      expect(recorder.text()).not.toContain("smp done")
      yield* sleep(300)
      expect(recorder.lines.length).toBe(linesAtPause)
      expect(yield* ap.getRegs()).toEqual(apRegs)
      expect(yield* machine.vcpus[0].getRegs()).toEqual(bspRegs)
      yield* machine.control.resume
      const exit = yield* Fiber.join(running)
      expect(exit._tag).toBe("PoweredOff")
      expect(recorder.text()).toBe(expectedOutput(2, steps))
    }), 120_000)

  it.scoped("interrupting a running 4-vCPU machine stops and joins its AP threads (KVM has one per AP; the software CPU runs them all on its own thread)", () =>
    Effect.gen(function*() {
      const { machine, recorder } = yield* smpMachine(4, "cpus=4 steps=100000000", backend)
      const running = yield* Effect.fork(machine.run)
      yield* waitForLine(recorder.lines, "cpu 3 up")
      expect(apThreadCount()).toBe(backend === "kvm" ? 3 : 0)
      yield* Fiber.interrupt(running)
      expect(apThreadCount()).toBe(0)
    }))

  it("bhyve -c 2 boots the smp guest and exits 1 when it powers off", () => {
    const r = runBhyve([
      "-c", "2", "-m", "64M", "-l", "com1,stdio",
      "-o", `boot.kernel=${guestPath("smp.elf")}`,
      "-o", "boot.cmdline=cpus=2",
      "-o", `cpu.backend=${backend}`,
      `smp-${process.pid}` // a name no other test's VM holds at the same time
    ])
    expect(r.stdout).toBe(expectedOutput(2, 20000))
    expect(besidesBackendNote(r.stderr)).toBe("")
    expect(r.status).toBe(1)
  })
})
