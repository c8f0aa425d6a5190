import * as Effect from "effect/Effect"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import { BenchFailure, type Benchmark, notMeasured, present, type Samples } from "./Benchmark.js"
import { runCBaseline } from "./CBaseline.js"
import { GUEST_MEMORY_BYTES, runInProcess } from "./GuestInProcess.js"
import { backendArgs, needsKvm, probeHostCpu } from "./HostCpu.js"
import { BHYVE_CLI, GUESTS } from "./Paths.js"
import { expectStatus, runProcess } from "./ProcessClock.js"

/**
 * How long until hello.elf says something: in-process from the start of
 * Machine.build, and as a whole `bhyve` process from its spawn, against the
 * C baseline (whose -t stamps lines from its first KVM_RUN, and which is
 * timed from its own spawn the same way as the CLI). On KVM, explicitly
 * (cpu.backend=kvm); without a usable /dev/kvm, bhyve-ts runs on the
 * software CPU and the C baseline (a KVM VMM) is reported as not measured.
 */
const REPS = 5
const CMDLINE = "hello from the bench"
const FIRST_LINE = `hello: ${CMDLINE}`
/** bhyve(8)'s exit status for a guest power-off. */
const BHYVE_POWERED_OFF = 1

const cliArgs = (backend: CpuBackendName) => [
  BHYVE_CLI,
  ...backendArgs(backend),
  "-m", `${GUEST_MEMORY_BYTES >> 20}M`,
  "-l", "com1,stdio",
  "-o", `boot.kernel=${GUESTS.hello}`,
  "-o", `boot.cmdline=${CMDLINE}`,
  "bench"
]

const firstLineAt = (lines: ReadonlyArray<{ readonly text: string; readonly at: number }>, what: string) =>
  present(lines.find((l) => l.text === FIRST_LINE)?.at, what, `no "${FIRST_LINE}" line in its output: ${JSON.stringify(lines.slice(0, 3).map((l) => l.text))}`)

const inProcessOnce = (backend: CpuBackendName) => Effect.gen(function*() {
  const what = `bhyve-ts in-process hello (${backend})`
  const run = yield* runInProcess(GUESTS.hello, CMDLINE, backend)
  const firstByte = yield* present(run.output.firstByteAt(), what, "no output")
  const firstLine = yield* firstLineAt(run.output.lines(), what)
  return {
    buildMs: run.runStartedAt - run.buildStartedAt,
    buildToFirstByteMs: firstByte - run.buildStartedAt,
    runToFirstLineMs: firstLine - run.runStartedAt
  }
})

const cliOnce = (backend: CpuBackendName) => Effect.gen(function*() {
  const what = `bhyve CLI hello (${backend})`
  const run = yield* Effect.flatMap(runProcess(process.execPath, cliArgs(backend)), (r) => expectStatus(r, BHYVE_POWERED_OFF, what))
  const firstByte = yield* present(run.firstByteAt, what, "no output")
  yield* firstLineAt(run.stdoutLines, what)
  return { spawnToFirstByteMs: firstByte - run.spawnedAt, spawnToExitMs: run.exitedAt - run.spawnedAt }
})

const cOnce = Effect.gen(function*() {
  const what = "pio-baseline hello"
  const run = yield* runCBaseline(GUESTS.hello, CMDLINE, true)
  const stamped = run.stampedLines.find((l) => l.text === FIRST_LINE)
  if (stamped === undefined) return yield* new BenchFailure({ what, reason: `no -t stamp for "${FIRST_LINE}"` })
  // The baseline writes whole lines, so its first byte is its first line.
  const firstByte = yield* present(run.process.firstByteAt, what, "no output")
  return {
    runToFirstLineMs: stamped.ms,
    spawnToFirstByteMs: firstByte - run.process.spawnedAt,
    spawnToExitMs: run.process.exitedAt - run.process.spawnedAt
  }
})

export const benchmark: Benchmark = {
  name: `guest boot to first output (hello.elf, ${REPS} alternating runs each)`,
  run: Effect.gen(function*() {
    const host = yield* probeHostCpu
    const kvm = host.backend === "kvm"
    yield* inProcessOnce(host.backend) // untimed: loads the addon and warms V8, as a long-lived host would be
    const ts: Array<Effect.Effect.Success<ReturnType<typeof inProcessOnce>>> = []
    const cli: Array<Effect.Effect.Success<ReturnType<typeof cliOnce>>> = []
    const c: Array<Effect.Effect.Success<typeof cOnce>> = []
    for (let i = 0; i < REPS; i++) {
      ts.push(yield* inProcessOnce(host.backend))
      cli.push(yield* cliOnce(host.backend))
      if (kvm) c.push(yield* cOnce)
    }
    const inProcess = `in-process (${host.backend})`
    const cliLabel = `bhyve CLI (${host.backend})`
    const cBaseline = (pick: (r: Effect.Effect.Success<typeof cOnce>) => number): Samples =>
      kvm ? { label: "C baseline", values: c.map(pick) } : notMeasured("C baseline", needsKvm(host))
    return [
      {
        id: "boot.inproc.build",
        label: "Machine.build (VM, devices, kernel load)",
        unit: "ms",
        subject: { label: inProcess, values: ts.map((r) => r.buildMs) }
      },
      {
        id: "boot.inproc.first-byte",
        label: "Machine.build start -> first byte",
        unit: "ms",
        subject: { label: inProcess, values: ts.map((r) => r.buildToFirstByteMs) }
      },
      {
        id: "boot.run.first-line",
        label: kvm ? "first KVM_RUN -> first line" : "first vCPU run -> first line",
        unit: "ms",
        subject: { label: inProcess, values: ts.map((r) => r.runToFirstLineMs) },
        baseline: cBaseline((r) => r.runToFirstLineMs)
      },
      {
        id: "boot.spawn.first-byte",
        label: "process spawn -> first stdout byte",
        unit: "ms",
        subject: { label: cliLabel, values: cli.map((r) => r.spawnToFirstByteMs) },
        baseline: cBaseline((r) => r.spawnToFirstByteMs)
      },
      {
        id: "boot.spawn.exit",
        label: "process spawn -> exit (guest powered off)",
        unit: "ms",
        subject: { label: cliLabel, values: cli.map((r) => r.spawnToExitMs) },
        baseline: cBaseline((r) => r.spawnToExitMs)
      }
    ]
  })
}
