/**
 * Soft CPU numbers (not a timed test): `npx vite-node test/kernel/soft/soft-bench.ts`
 * after `make -C test/guests` and `npm install` (which builds bhyve_soft).
 * Prints machine creation, PIO/MMIO round trips into a TypeScript device
 * server through the bus, and compute.elf against the host reference and,
 * where qemu-system-x86_64 is installed, QEMU's TCG.
 */
import * as Effect from "effect/Effect"
import { execFileSync, spawnSync } from "node:child_process"
import { BusRouter } from "../../../src/bus/Bus.js"
import { dispatchMmio, dispatchPio } from "../../../src/bus/ExitDispatch.js"
import type { InlineIo } from "../../../src/kernel/Cpu.js"
import { boot, buildKitGuest, buildSoft, Console, guestPath, runUntilStopped } from "./SoftHarness.js"

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const MiB = 1 << 20

/**
 * A guest on the soft CPU whose I/O goes through the project's BusRouter
 * to small device servers: COM1 (lines timestamped), the UART scratch
 * register the PIO benchmark writes, an MMIO page, the power-off port.
 */
const runOnBus = (name: string, cmdline: string) =>
  Effect.scoped(Effect.gen(function*() {
    const t0 = performance.now()
    const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 * MiB })
    const built = performance.now() - t0
    yield* boot(soft, guestPath(name), cmdline)
    const bus = new BusRouter({ strict: false, report: () => {} })
    const lines: Array<{ text: string; at: number }> = []
    let line = ""
    let off = false
    let scratch = 0
    bus.pio.add({
      owner: "com1", base: 0x3f8, length: 8,
      handler: {
        read: (offset) => (offset === 5 ? 0x60 : 0),
        write: (offset, _size, value) => {
          if (offset === 7) scratch = value
          else if (offset === 0) {
            if (value === 10) {
              lines.push({ text: line, at: performance.now() })
              line = ""
            } else line += String.fromCharCode(value)
          }
        }
      }
    })
    bus.pio.add({ owner: "pm", base: 0x404, length: 2, handler: { read: () => 0, write: () => void (off = true) } })
    bus.mmio.add({ owner: "bench", base: 0xd000_0000, length: 0x1000, handler: { read: () => scratch, write: (_o, _s, v) => void (scratch = Number(v)) } })
    const io: InlineIo = (exit) => {
      if (exit._tag === "PioExit") dispatchPio(bus, exit)
      else dispatchMmio(bus, exit)
      return !off
    }
    const bsp = soft.backend.vcpus[0]
    const start = performance.now()
    for (;;) {
      const exit = bsp.run(100, io)
      if (exit._tag !== "Interrupted" || off) break
    }
    return { built, ranMs: performance.now() - start, lines }
  }))

const gap = (lines: ReadonlyArray<{ text: string; at: number }>, from: string, to: string) =>
  lines.find((l) => l.text === to)!.at - lines.find((l) => l.text === from)!.at

const main = Effect.gen(function*() {
  const builds: Array<number> = []
  const pio: Array<number> = [], mmio: Array<number> = []
  const N = 300_000, M = 100_000
  for (let i = 0; i < 3; i++) {
    const r = yield* runOnBus("piobench.elf", `pio=${N} mmio=${M}`)
    builds.push(r.built)
    pio.push((gap(r.lines, "pio-start", "pio-end") / N) * 1000)
    mmio.push((gap(r.lines, "mmio-start", "mmio-end") / M) * 1000)
  }
  console.log(`machine creation (64 MiB, 1 vCPU): ${builds.map((b) => b.toFixed(1)).join(", ")} ms (the first includes the addon's one-time self-test)`)
  console.log(`PIO out round trip through the bus to a TypeScript device server: median ${median(pio).toFixed(3)} us (${pio.map((x) => x.toFixed(3)).join(", ")})`)
  console.log(`MMIO write round trip through the bus: median ${median(mmio).toFixed(3)} us (${mmio.map((x) => x.toFixed(3)).join(", ")})`)

  {
    // 16 passes of 8-byte stores over 16 MiB (probe guest, case=stores).
    const elf = buildKitGuest("faults")
    const times: Array<number> = []
    for (let i = 0; i < 3; i++) {
      const r = yield* Effect.scoped(Effect.gen(function*() {
        const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 * MiB })
        yield* boot(soft, elf, "case=stores")
        const console = new Console()
        const t = performance.now()
        runUntilStopped(soft, console)
        return performance.now() - t
      }))
      times.push(r)
    }
    console.log(`32 M stores to RAM (16 passes over 16 MiB): ${times.map((x) => x.toFixed(0)).join(", ")} ms`)
  }

  for (const steps of [200_000, 1_000_000]) {
    const args = `steps=${steps} every=0`
    const soft: Array<number> = []
    for (let i = 0; i < 3; i++) soft.push((yield* runOnBus("compute.elf", args)).ranMs)
    const t = performance.now()
    execFileSync(guestPath("compute-reference"), args.split(" "))
    const native = performance.now() - t
    let qemu = "qemu-system-x86_64 not found"
    const q = (s: number) => {
      const t0 = performance.now()
      const r = spawnSync("qemu-system-x86_64", [
        "-accel", "tcg", "-machine", "pc", "-m", "64M", "-nographic", "-no-reboot", "-monitor", "none", "-serial", "null",
        "-kernel", guestPath("compute.elf"), "-append", `steps=${s} every=0`, "-device", "isa-debug-exit,iobase=0x404,iosize=2"
      ], { timeout: 120_000 })
      return r.error === undefined ? performance.now() - t0 : undefined
    }
    const base = q(0), full = q(steps)
    if (base !== undefined && full !== undefined) qemu = `${(full - base).toFixed(0)} ms (QEMU TCG, process time minus an empty run's ${base.toFixed(0)} ms)`
    console.log(`compute.elf ${args}: soft CPU ${soft.map((x) => x.toFixed(0)).join(", ")} ms; host ${native.toFixed(0)} ms; ${qemu}`)
  }
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
