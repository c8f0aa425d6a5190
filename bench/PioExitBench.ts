import * as Effect from "effect/Effect"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import { type Benchmark, notMeasured, present, type Row } from "./Benchmark.js"
import { runCBaseline } from "./CBaseline.js"
import { runInProcess } from "./GuestInProcess.js"
import { needsKvm, probeHostCpu } from "./HostCpu.js"
import { spanMs } from "./LineClock.js"
import { GUESTS } from "./Paths.js"

/**
 * Cost of one guest exit to a device on the bus and back, from CPL3:
 * piobench.elf times N `outb` to the UART scratch register and M MMIO
 * writes to unclaimed 0xD0000000, between marker lines stamped when their
 * "\n" arrives. bhyve-ts runs in this process; the C baseline (the least a
 * VMM can do per exit) runs the same guest and cmdline, alternating with it.
 * On KVM (cpu.backend=kvm, explicitly); without a usable /dev/kvm the
 * bhyve-ts side runs on the software CPU and the C baseline, a KVM VMM,
 * is reported as not measured (SoftCpuBench holds the software CPU to its
 * own targets).
 */
const PIO = 100_000
const MMIO = 20_000
const REPS = 5
/** The target the port is held to: bus dispatch within 1.5x a bare C exit loop. */
const TARGET_RATIO = 1.5
const CMDLINE = `pio=${PIO} mmio=${MMIO}`
/** Untimed first run, so the figures are steady-state code rather than V8 warming up. */
const WARMUP_CMDLINE = "pio=5000 mmio=1000"

const usPerExit = (ms: number | undefined, count: number) => (ms === undefined ? undefined : (ms * 1000) / count)

const tsOnce = (backend: CpuBackendName) => Effect.gen(function*() {
  const what = `bhyve-ts piobench (${backend})`
  const run = yield* runInProcess(GUESTS.piobench, CMDLINE, backend)
  const lines = run.output.lines()
  const pio = yield* present(usPerExit(spanMs(lines, "pio-start", "pio-end"), PIO), what, "no pio-start/pio-end lines")
  const mmio = yield* present(usPerExit(spanMs(lines, "mmio-start", "mmio-end"), MMIO), what, "no mmio-start/mmio-end lines")
  return { pio, mmio }
})

const cOnce = Effect.gen(function*() {
  const what = "pio-baseline piobench"
  const run = yield* runCBaseline(GUESTS.piobench, CMDLINE, false)
  const pio = yield* present(run.pioNsPerExit, what, "no pio_ns_per_exit on stderr")
  const mmio = yield* present(run.mmioNsPerExit, what, "no mmio_ns_per_exit on stderr")
  return { pio: pio / 1000, mmio: mmio / 1000 }
})

export const benchmark: Benchmark = {
  name: `PIO/MMIO exit round trip (${PIO} outb, ${MMIO} MMIO writes, ${REPS} alternating runs each)`,
  run: Effect.gen(function*() {
    const host = yield* probeHostCpu
    const kvm = host.backend === "kvm"
    yield* runInProcess(GUESTS.piobench, WARMUP_CMDLINE, host.backend)
    const ts: Array<{ pio: number; mmio: number }> = []
    const c: Array<{ pio: number; mmio: number }> = []
    for (let i = 0; i < REPS; i++) {
      ts.push(yield* tsOnce(host.backend))
      if (kvm) c.push(yield* cOnce)
    }
    const row = (kind: "pio" | "mmio", label: string): Row => ({
      id: `exit.${kind}`,
      label,
      unit: "us/exit",
      subject: { label: `in-process (${host.backend})`, values: ts.map((r) => r[kind]) },
      baseline: kvm ? { label: "C baseline", values: c.map((r) => r[kind]) } : notMeasured("C baseline", needsKvm(host)),
      targetRatio: TARGET_RATIO
    })
    return [
      row("pio", "PIO exit round trip (outb 0x3FF, CPL3)"),
      row("mmio", "MMIO exit round trip (write 0xD0000000, CPL3)")
    ]
  })
}
