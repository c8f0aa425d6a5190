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
 *
 * Start-up targets (issue 13): spawn to first byte at most 2x Node's own
 * start-up (`node -e 0`, spawn to exit) plus the C VMM's spawn to first
 * byte, on each CPU (the software CPU's row too where KVM works); `bhyve
 * --help` at most 1.5x `node -e 0`. Each run of those alternates with the
 * others, so load on the host moves both sides.
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

/** Node's own start-up: spawn to exit of `node -e 0`. */
const nodeOnce = Effect.gen(function*() {
  const run = yield* Effect.flatMap(runProcess(process.execPath, ["-e", "0"]), (r) => expectStatus(r, 0, "node -e 0"))
  return run.exitedAt - run.spawnedAt
})

/** `bhyve --help`, spawn to exit. */
const helpOnce = Effect.gen(function*() {
  const run = yield* Effect.flatMap(runProcess(process.execPath, [BHYVE_CLI, "--help"]), (r) => expectStatus(r, 0, "bhyve --help"))
  return run.exitedAt - run.spawnedAt
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
    const node: Array<number> = []
    const help: Array<number> = []
    // The software CPU's CLI too where KVM works (without KVM, cli already is it).
    const softCli: Array<Effect.Effect.Success<ReturnType<typeof cliOnce>>> = []
    for (let i = 0; i < REPS; i++) {
      ts.push(yield* inProcessOnce(host.backend))
      cli.push(yield* cliOnce(host.backend))
      if (kvm) softCli.push(yield* cliOnce("soft"))
      if (kvm) c.push(yield* cOnce)
      node.push(yield* nodeOnce)
      help.push(yield* helpOnce)
    }
    const inProcess = `in-process (${host.backend})`
    const cliLabel = `bhyve CLI (${host.backend})`
    const cBaseline = (pick: (r: Effect.Effect.Success<typeof cOnce>) => number): Samples =>
      kvm ? { label: "C baseline", values: c.map(pick) } : notMeasured("C baseline", needsKvm(host))
    // Run by run: node's start-up plus the C VMM's spawn to first byte.
    const startBaseline: Samples = kvm
      ? { label: "node -e 0 + C", values: c.map((r, i) => r.spawnToFirstByteMs + node[i]) }
      : notMeasured("node -e 0 + C", needsKvm(host))
    const START_NOTE = "node -e 0 + C: Node's start-up (spawn to exit of node -e 0) plus the C VMM's spawn to first byte, run by run"
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
        id: `boot.spawn.first-byte.vs-start.${host.backend}`,
        label: "process spawn -> first stdout byte, against Node + a C VMM",
        unit: "ms",
        subject: { label: cliLabel, values: cli.map((r) => r.spawnToFirstByteMs) },
        baseline: startBaseline,
        targetRatio: 2,
        note: START_NOTE
      },
      ...(kvm
        ? [{
          id: "boot.spawn.first-byte.vs-start.soft",
          label: "process spawn -> first stdout byte, against Node + a C VMM",
          unit: "ms",
          subject: { label: "bhyve CLI (soft)", values: softCli.map((r) => r.spawnToFirstByteMs) },
          baseline: startBaseline,
          targetRatio: 2,
          note: START_NOTE
        }]
        : []),
      {
        id: "boot.help",
        label: "bhyve --help, spawn -> exit",
        unit: "ms",
        subject: { label: "bhyve --help", values: help },
        baseline: { label: "node -e 0", values: node },
        targetRatio: 1.5
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
