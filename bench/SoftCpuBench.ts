import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { BenchFailure, type Benchmark, notMeasured, present, type Row, type Samples } from "./Benchmark.js"
import { runInProcess } from "./GuestInProcess.js"
import { spanMs, type StampedLine } from "./LineClock.js"
import { BHYVE_CLI, COMPUTE_REFERENCE, GUESTS } from "./Paths.js"
import { expectStatus, type ProcessRun, runProcess } from "./ProcessClock.js"
import { probeQemu, QEMU, QEMU_POWERED_OFF, qemuArgs, qemuCommand, type QemuGuest, serconOff } from "./QemuTcg.js"

/**
 * The software CPU (cpu.backend=soft, Unicorn) against QEMU's software CPU
 * (TCG, see QemuTcg.ts) on the same guest ELFs and cmdlines, alternating
 * runs, both as whole processes timed from their spawn by this one (stdout
 * piped, each line stamped as it arrives: ProcessClock.ts):
 * - hello.elf: spawn -> first COM1 byte, and -> exit;
 * - compute.elf: spawn -> its `done` line (CPL3 integer work, ~2 s in TCG);
 * - memtouch.elf: spawn -> `touched N` (N MiB of 8-byte stores, a new page
 *   every 512 of them), then killed (it never powers off by itself);
 * and the PIO/MMIO round trip of piobench.elf, in this process as
 * PioExitBench measures it, against the same guest under QEMU TCG.
 * Every run's COM1 lines are checked against the same expected text (for
 * compute.elf, the host reference's `done` line): a QEMU run that differs
 * fails the bench; a bhyve run that differs keeps its times and is counted
 * in the row soft.com1.wrong, whose target is zero.
 */
const BOOT_REPS = 5
const WORK_REPS = 3
const PIO_REPS = 5
/** Spawn-to-line figures held to at most QEMU TCG's own. */
const TARGET_RATIO = 1.0
/** The PIO round trip into a TypeScript device server, held to an absolute bound (us). */
const PIO_TARGET_US = 3
const BHYVE_POWERED_OFF = 1
/** Per run; a run that takes this long has hung. */
const SOFT_TIMEOUT_MS = 600_000
const QEMU_TIMEOUT_MS = 120_000

/** A guest run by both VMMs: where timing ends and what COM1 must have said by then. */
interface Workload extends QemuGuest {
  readonly what: string
  /** COM1's lines, exactly, up to the one that ends the measurement (the last). */
  readonly expected: ReadonlyArray<string>
  /** False: the guest runs for ever, and the process is killed once the last expected line is in. */
  readonly powersOff: boolean
}

const HELLO_CMDLINE = "hello from the soft cpu bench"
const hello: Workload = {
  what: "hello.elf",
  kernel: GUESTS.hello,
  cmdline: HELLO_CMDLINE,
  memoryMib: 64,
  expected: [`hello: ${HELLO_CMDLINE}`, "bye"],
  powersOff: true
}

/** ~1 us of native work a step; ~2 s under QEMU 7.2 TCG on a 2020s x86 host. */
const COMPUTE_STEPS = 2_000_000
const COMPUTE_CMDLINE = `steps=${COMPUTE_STEPS} every=0`

const compute = (doneLine: string): Workload => ({
  what: "compute.elf",
  kernel: GUESTS.compute,
  cmdline: COMPUTE_CMDLINE,
  memoryMib: 64,
  expected: [doneLine],
  powersOff: true
})

/**
 * MiB written from 16 MiB up: 128 Mi 8-byte stores over 256 Ki pages the
 * guest never touched, so each VMM's RAM is faulted in on the way (~0.5-1 s
 * under TCG here, much of it the host's page faults; a smaller size is
 * mostly QEMU's start-up).
 */
const TOUCH_MIB = 1024
const memtouch: Workload = {
  what: "memtouch.elf",
  kernel: GUESTS.memtouch,
  cmdline: `touch=${TOUCH_MIB}`,
  memoryMib: 16 + TOUCH_MIB + 64,
  expected: [`touched ${TOUCH_MIB}`],
  powersOff: false
}

const PIO = 200_000
const MMIO = 20_000
const PIO_CMDLINE = `pio=${PIO} mmio=${MMIO}`
const PIO_WARMUP_CMDLINE = "pio=5000 mmio=1000"
/**
 * QEMU does each access in ~0.05 us, so at the counts above its marker
 * lines come ~1-10 ms apart, often in one pipe read: it runs 10-100x more,
 * ~0.1 s a span (the figure is per access either way).
 */
const QEMU_PIO = 2_000_000
const QEMU_MMIO = 2_000_000
const QEMU_PIO_CMDLINE = `pio=${QEMU_PIO} mmio=${QEMU_MMIO}`
const piobench: QemuGuest = { kernel: GUESTS.piobench, cmdline: QEMU_PIO_CMDLINE, memoryMib: 64 }

const bhyveArgs = (w: QemuGuest): ReadonlyArray<string> => [
  BHYVE_CLI,
  "-o", "cpu.backend=soft",
  "-c", "1",
  "-m", `${w.memoryMib}M`,
  "-l", "com1,stdio",
  "-o", `boot.kernel=${w.kernel}`,
  "-o", `boot.cmdline=${w.cmdline}`,
  "softbench"
]

const bhyveCommand = (w: QemuGuest) =>
  ["node", ...bhyveArgs(w)].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" ")

/** What `compute-reference` prints as its last line for COMPUTE_CMDLINE: the `done` line the guests must print. */
const referenceDoneLine = Effect.suspend(() => {
  const r = spawnSync(COMPUTE_REFERENCE, COMPUTE_CMDLINE.split(" "), { stdio: ["ignore", "pipe", "pipe"] })
  const last = r.status === 0 ? r.stdout.toString().trim().split("\n").pop() : undefined
  return present(last?.startsWith("done ") === true ? last : undefined, "compute-reference", `no done line (status ${r.status ?? r.signal})`)
})

/** Times of one process run of a workload, ms from its spawn. */
interface Timed {
  readonly firstByteMs: number
  readonly lastLineMs: number
  readonly exitMs: number
  /** Set when COM1's text was not the expected one (see `check`). */
  readonly mismatch?: string
}

/**
 * The run's first lines must be exactly `expected`, and it must have ended
 * the right way (power-off status, or stopped by us). A run whose text
 * differs still yields its times when `tolerateText` (the software CPU: its
 * wrong text is counted in a row of its own, held to zero, so the bench
 * reports it without losing every other figure); QEMU's must be right.
 */
const check = (w: Workload, who: string, powerOffStatus: number, tolerateText: boolean) => (run: ProcessRun): Effect.Effect<Timed, BenchFailure> =>
  Effect.gen(function*() {
    const what = `${who} ${w.what} ${w.cmdline}`
    const got: ReadonlyArray<StampedLine> = run.stdoutLines.slice(0, w.expected.length)
    const same = got.length === w.expected.length && got.every((l, i) => l.text === w.expected[i])
    const said = `COM1 said ${JSON.stringify(run.stdoutLines.slice(0, w.expected.length + 2).map((l) => l.text))}, expected ${JSON.stringify(w.expected)}`
    if (!same && (!tolerateText || got.length < w.expected.length)) {
      return yield* new BenchFailure({ what, reason: `${said}; status ${run.status}; stderr: ${run.stderr.trim()}` })
    }
    if (w.powersOff) yield* expectStatus(run, powerOffStatus, what)
    else if (!run.stopped) return yield* new BenchFailure({ what, reason: `ended (status ${run.status}) before it was stopped; stderr: ${run.stderr.trim()}` })
    const firstByte = yield* present(run.firstByteAt, what, "no output")
    if (!same) process.stderr.write(`bench:   WRONG OUTPUT: ${what}: ${said}\n`)
    return {
      firstByteMs: firstByte - run.spawnedAt,
      lastLineMs: got[got.length - 1].at - run.spawnedAt,
      exitMs: run.exitedAt - run.spawnedAt,
      ...(same ? {} : { mismatch: `${w.what}: ${said}` })
    }
  })

/** For a guest that never powers off: kill it at its last expected line, counted rather than matched (its text is checked after). */
const stopAt = (w: Workload) => {
  if (w.powersOff) return undefined
  let lines = 0
  return () => ++lines === w.expected.length
}

const bhyveOnce = (w: Workload) =>
  Effect.flatMap(
    Effect.suspend(() => runProcess(process.execPath, bhyveArgs(w), { stopAt: stopAt(w), timeoutMs: SOFT_TIMEOUT_MS })),
    check(w, "bhyve (soft)", BHYVE_POWERED_OFF, true)
  )

const qemuOnce = (sercon: string, w: Workload) =>
  Effect.flatMap(
    Effect.suspend(() => runProcess(QEMU, qemuArgs(sercon, w), { stopAt: stopAt(w), timeoutMs: QEMU_TIMEOUT_MS })),
    check(w, "QEMU TCG", QEMU_POWERED_OFF, false)
  )

/** `reps` alternating runs of a workload under both (QEMU skipped when `sercon` is undefined: there is no QEMU). */
const alternate = (w: Workload, reps: number, sercon: string | undefined) =>
  Effect.gen(function*() {
    const soft: Array<Timed> = []
    const qemu: Array<Timed> = []
    for (let i = 0; i < reps; i++) {
      soft.push(yield* bhyveOnce(w))
      if (sercon !== undefined) qemu.push(yield* qemuOnce(sercon, w))
    }
    return { soft, qemu }
  })

const usPer = (ms: number | undefined, count: number) => (ms === undefined ? undefined : (ms * 1000) / count)

/** piobench.elf in this process on the software CPU, its lines stamped on the vCPU's thread as PioExitBench does. */
const softPioOnce = Effect.gen(function*() {
  const what = "in-process (soft) piobench"
  const run = yield* runInProcess(GUESTS.piobench, PIO_CMDLINE, "soft")
  const lines = run.output.lines()
  const pio = yield* present(usPer(spanMs(lines, "pio-start", "pio-end"), PIO), what, "no pio-start/pio-end lines")
  const mmio = yield* present(usPer(spanMs(lines, "mmio-start", "mmio-end"), MMIO), what, "no mmio-start/mmio-end lines")
  return { pio, mmio }
})

const qemuPioOnce = (sercon: string) =>
  Effect.gen(function*() {
    const what = `QEMU TCG piobench ${QEMU_PIO_CMDLINE}`
    const run = yield* Effect.flatMap(runProcess(QEMU, qemuArgs(sercon, piobench), { timeoutMs: QEMU_TIMEOUT_MS }), (r) =>
      expectStatus(r, QEMU_POWERED_OFF, what))
    const pio = yield* present(usPer(spanMs(run.stdoutLines, "pio-start", "pio-end"), QEMU_PIO), what, "no pio-start/pio-end lines")
    const mmio = yield* present(usPer(spanMs(run.stdoutLines, "mmio-start", "mmio-end"), QEMU_MMIO), what, "no mmio-start/mmio-end lines")
    return { pio, mmio }
  })

export const benchmark: Benchmark = {
  name: `software CPU vs QEMU TCG (hello, compute, memtouch x${BOOT_REPS}/${WORK_REPS}/${WORK_REPS}; piobench x${PIO_REPS}; alternating)`,
  run: Effect.scoped(Effect.gen(function*() {
    const qemu = yield* probeQemu
    const sercon = "version" in qemu ? yield* serconOff : undefined
    const doneLine = yield* referenceDoneLine
    const log = (line: string) => process.stderr.write(`bench:   ${line}\n`)
    log("version" in qemu ? `baseline: ${qemu.version}` : `baseline: ${qemu.missing}`)
    for (const w of [hello, compute(doneLine), memtouch]) {
      log(`${w.what}: ${bhyveCommand(w)}`)
      if (sercon !== undefined) log(`${w.what}: ${qemuCommand(w)}`)
    }

    // Untimed: the page cache holds node, the CLI's modules, the addon and QEMU's firmware before anything is timed.
    const warm = yield* alternate(hello, 1, sercon)
    const boot = yield* alternate(hello, BOOT_REPS, sercon)
    const work = yield* alternate(compute(doneLine), WORK_REPS, sercon)
    const touch = yield* alternate(memtouch, WORK_REPS, sercon)

    // In this process: the soft CPU's own boot, without Node's and the CLI's start-up (the first run, untimed, loads the addon).
    const inProcessFirstByte: Array<number> = []
    const inProcessWrong: Array<string> = []
    for (let i = 0; i <= BOOT_REPS; i++) {
      const run = yield* runInProcess(GUESTS.hello, HELLO_CMDLINE, "soft")
      const said = run.output.lines().map((l) => l.text)
      if (said.join("\n") !== hello.expected.join("\n")) {
        inProcessWrong.push(`in-process hello.elf: COM1 said ${JSON.stringify(said)}`)
        process.stderr.write(`bench:   WRONG OUTPUT: in-process (soft) hello.elf: COM1 said ${JSON.stringify(said)}\n`)
      }
      const first = yield* present(run.output.firstByteAt(), "in-process (soft) hello", "no output")
      if (i > 0) inProcessFirstByte.push(first - run.buildStartedAt)
    }

    yield* runInProcess(GUESTS.piobench, PIO_WARMUP_CMDLINE, "soft")
    const softPio: Array<{ pio: number; mmio: number }> = []
    const qemuPio: Array<{ pio: number; mmio: number }> = []
    for (let i = 0; i < PIO_REPS; i++) {
      softPio.push(yield* softPioOnce)
      if (sercon !== undefined) qemuPio.push(yield* qemuPioOnce(sercon))
    }

    const qemuLabel = "QEMU TCG"
    const qemuSide = (values: ReadonlyArray<number>): Samples =>
      "version" in qemu ? { label: qemuLabel, values } : notMeasured(qemuLabel, qemu.missing)
    const cli = "bhyve CLI (soft)"
    const spawnRow = (id: string, label: string, values: { soft: ReadonlyArray<number>; qemu: ReadonlyArray<number> }, note: string, targeted = true): Row => ({
      id,
      label,
      unit: "ms",
      subject: { label: cli, values: values.soft },
      baseline: qemuSide(values.qemu),
      targetRatio: targeted ? TARGET_RATIO : undefined,
      note
    })
    const firmware = "QEMU's figure includes SeaBIOS and its PVH option ROM, bhyve's Node's start-up"
    const pick = (runs: { soft: ReadonlyArray<Timed>; qemu: ReadonlyArray<Timed> }, f: (t: Timed) => number) => ({
      soft: runs.soft.map(f),
      qemu: runs.qemu.map(f)
    })
    const softRuns = [warm, boot, work, touch].flatMap((r) => r.soft)
    const wrong = [...softRuns.flatMap((t) => (t.mismatch === undefined ? [] : [t.mismatch])), ...inProcessWrong]
    const runCount = softRuns.length + BOOT_REPS + 1
    const rows: ReadonlyArray<Row> = [
      spawnRow("soft.spawn.first-byte", "soft CPU: spawn -> first COM1 byte (hello)", pick(boot, (t) => t.firstByteMs),
        `hello.elf, 64 MiB; ${firmware}`),
      {
        id: "soft.inproc.first-byte",
        label: "soft CPU: Machine.build -> first COM1 byte (hello)",
        unit: "ms",
        subject: { label: "in-process (soft)", values: inProcessFirstByte },
        baseline: qemuSide(boot.qemu.map((t) => t.firstByteMs)),
        note: "context, no target: bhyve-ts in a warm process (no Node or CLI start-up, which the row above includes) against QEMU's whole process"
      },
      spawnRow("soft.spawn.exit", "soft CPU: spawn -> exit (hello powered off)", pick(boot, (t) => t.exitMs),
        "hello.elf; QEMU leaves through isa-debug-exit at the guest's power-off write", false),
      spawnRow("soft.compute", `soft CPU: spawn -> done (compute ${COMPUTE_STEPS / 1e6}M steps)`, pick(work, (t) => t.lastLineMs),
        `compute.elf ${COMPUTE_CMDLINE}: CPL3 integer work; both print "${doneLine}", as compute-reference does`),
      spawnRow("soft.memtouch", `soft CPU: spawn -> touched (memtouch ${TOUCH_MIB} MiB)`, pick(touch, (t) => t.lastLineMs),
        `memtouch.elf touch=${TOUCH_MIB}, ${memtouch.memoryMib} MiB: ${TOUCH_MIB} MiB of 8-byte stores into untouched pages, killed at "touched ${TOUCH_MIB}"`),
      {
        id: "soft.exit.pio",
        label: "soft CPU: PIO round trip to a TS device (outb 0x3FF)",
        unit: "us/exit",
        subject: { label: "in-process (soft)", values: softPio.map((r) => r.pio) },
        baseline: qemuSide(qemuPio.map((r) => r.pio)),
        targetMax: PIO_TARGET_US,
        note: `piobench.elf, CPL3, outb to the UART scratch register: bhyve-ts's UartServer (TypeScript, ${PIO} of them) against QEMU's ` +
          `16550 model (C, called inside TCG without leaving the vCPU thread; ${QEMU_PIO} of them), same guest; the target is absolute ` +
          `(<=${PIO_TARGET_US} us), the ratio only context. bhyve-ts's lines are stamped on the vCPU thread, QEMU's as they reach this process`
      },
      {
        id: "soft.exit.mmio",
        label: "soft CPU: MMIO write to unclaimed 0xD0000000",
        unit: "us/exit",
        subject: { label: "in-process (soft)", values: softPio.map((r) => r.mmio) },
        baseline: qemuSide(qemuPio.map((r) => r.mmio)),
        note: `piobench.elf, ${MMIO} (QEMU: ${QEMU_MMIO}) 32-bit writes nothing claims (bhyve-ts's bus drops them, QEMU's unassigned region); no target`
      },
      {
        id: "soft.com1.wrong",
        label: "soft CPU: runs whose COM1 text was wrong",
        unit: "runs",
        subject: { label: cli, values: [wrong.length] },
        targetMax: 0,
        note: wrong.length === 0
          ? `all ${runCount} bhyve runs above printed exactly the expected text`
          : `${wrong.length} of ${runCount} bhyve runs printed other text than expected (their times are in the rows above): ${wrong.slice(0, 3).join("; ")}`
      }
    ]
    return rows
  }))
}
