import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import type { MachineConfig } from "../src/machine/MachineConfig.js"
import type { Verify } from "../src/snapshot/format/RamReader.js"
import * as SnapshotFsLive from "../src/snapshot/format/SnapshotFsLive.js"
import type { RamRestoreMode } from "../src/snapshot/RestoreSnapshot.js"
import * as MachineSnapshots from "../src/snapshot/MachineSnapshots.js"
import { BenchFailure, type Benchmark, describe, present } from "./Benchmark.js"
import { cpDense, cpSparse, cpSparseSync, writeDenseFile } from "./CopyBaseline.js"
import { waitForLine } from "./GuestOutputFile.js"
import { probeHostCpu } from "./HostCpu.js"
import { monotonicMs } from "./MonotonicClock.js"
import { watchOutput } from "./OutputWatch.js"
import { ROOT } from "./Paths.js"
import { type RestoreSample, type SaveSample, snapshotNote, type SnapshotMeasurements, snapshotRows } from "./SnapshotRows.js"

/**
 * Save and restore of a 1 GiB guest with 256 MiB of it written
 * (memtouch.elf), in this process through MachineSnapshots, against `cp`
 * of the same bytes in the same run. COM1 goes to a file that a watcher
 * thread stamps (the guest runs on this thread, so this thread cannot);
 * the restored guest must print "verified" (its own check of every touched
 * word) before it is ended. The snapshot's data is in the page cache
 * throughout: dropping it needs root. On KVM (cpu.backend=kvm, explicitly)
 * where /dev/kvm works, else on the software CPU, whose guest is slower to
 * reach each line (hence the longer wait there).
 */
const MEMTOUCH = join(ROOT, "test/guests/build/memtouch.elf")
const MEMORY_BYTES = 1 << 30
const TOUCH_MIB = 256
/** At least 2: the first save of a machine is reported apart from the later ones. */
const REPS = 5
/** Pauses are cheap, so more of them. */
const PAUSE_REPS = 5
/** Guest time between measurements, so each one catches it running. */
const GAP_MS = 50
/** Longest wait for a guest line: touching 256 MiB takes ~0.5 s here on KVM, a verify round ~0.5 s. */
const LINE_TIMEOUT_MS = 20_000
/** The software CPU runs the same guest code tens of times slower. */
const SOFT_LINE_TIMEOUT_MS = 300_000
const lineTimeoutMs = (backend: CpuBackendName) => (backend === "kvm" ? LINE_TIMEOUT_MS : SOFT_LINE_TIMEOUT_MS)
const MIB = 1 << 20
const FATAL = /^(corrupt at .*|memtouch: .*|exception .*)$/m

const config = (out: string, backend: CpuBackendName): MachineConfig => ({
  name: "snapbench",
  cpus: 1,
  memoryBytes: MEMORY_BYTES,
  boot: { kernel: MEMTOUCH, cmdline: `touch=${TOUCH_MIB}` },
  serial: [{ port: "com1", backend: { _tag: "file", path: out } }],
  slots: [],
  strictBus: false,
  options: { "cpu.backend": backend }
})

const failure = (what: string) => (e: unknown) => (e instanceof BenchFailure ? e : new BenchFailure({ what, reason: describe(e) }))

const saveOnce = (machine: MachineSnapshots.DescribedMachine, path: string) =>
  Effect.scoped(Effect.gen(function*() {
    const watch = yield* watchOutput(undefined)
    // After the watcher thread started: its own heap is not the save's doing.
    const before = process.memoryUsage.rss()
    const report = yield* machine.checkpoint(path)
    const sample: SaveSample = { report, rssGrowth: Math.max(0, watch.peakRss() - before) }
    return sample
  }))

/** Boots the guest, waits until it has touched its RAM, then times pauses and checkpoints of it running. */
const measureSave = (dir: string, snapshot: string, backend: CpuBackendName) =>
  Effect.scoped(Effect.gen(function*() {
    const out = join(dir, "original.txt")
    const machine = yield* MachineSnapshots.fromConfig(config(out, backend))
    const running = yield* Effect.fork(machine.run)
    yield* waitForLine("memtouch boot", out, new RegExp(`^touched ${TOUCH_MIB}$`, "m"), FATAL, running, lineTimeoutMs(backend))
    const pauses: Array<number> = []
    for (let i = 0; i < PAUSE_REPS; i++) {
      yield* Effect.sleep(GAP_MS)
      const t0 = monotonicMs()
      yield* machine.control.pause
      pauses.push(monotonicMs() - t0)
      yield* machine.control.resume
    }
    const saves: Array<SaveSample> = []
    for (let i = 0; i < REPS; i++) {
      yield* Effect.sleep(GAP_MS)
      saves.push(yield* saveOnce(machine, snapshot))
    }
    // The guest ran on after the checkpoints: it must verify its RAM once more.
    const seen = readFileSync(out, "latin1").length
    yield* waitForLine("memtouch after checkpoints", out, /^verified \d+$/m, FATAL, running, lineTimeoutMs(backend), seen)
    yield* Fiber.interrupt(running)
    return { pauses, saves }
  }).pipe(Effect.mapError(failure("memtouch checkpoint"))))

const restoreOnce = (backend: CpuBackendName, snapshot: string, out: string, verify: Verify, ram: RamRestoreMode = "copy") =>
  Effect.scoped(Effect.gen(function*() {
    const what = `restore (verify ${verify}, ram ${ram})`
    const watch = yield* watchOutput(out)
    const t0 = monotonicMs()
    const { machine, report } = yield* MachineSnapshots.restore({
      path: snapshot,
      verify,
      ram,
      overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: out } }] }
    })
    const running = yield* Effect.fork(machine.run)
    // The restored guest's own check of all 256 MiB: RAM came back intact.
    yield* waitForLine(what, out, /^verified \d+$/m, FATAL, running, lineTimeoutMs(backend))
    const first = yield* present(watch.firstByteAt(), what, "the watcher saw no output")
    yield* Fiber.interrupt(running)
    const sample: RestoreSample = { readyMs: report.restoreMs, firstOutputMs: first - t0 }
    return sample
  }).pipe(Effect.mapError(failure(`restore (verify ${verify}, ram ${ram})`))))

/** `cp` of the RAM file the save wrote and of a dense file of the same size, REPS times each. */
const measureCopies = (dir: string, ramPath: string) =>
  Effect.gen(function*() {
    const dense = join(dir, "dense.bin")
    yield* writeDenseFile(dense, TOUCH_MIB * MIB)
    const sparse: Array<number> = []
    const sparseSync: Array<number> = []
    const denseCopies: Array<number> = []
    for (let i = 0; i < REPS; i++) {
      sparse.push(yield* cpSparse(ramPath, join(dir, "copy.ram")))
      sparseSync.push(yield* cpSparseSync(ramPath, join(dir, "copy-sync.ram")))
      denseCopies.push(yield* cpDense(dense, join(dir, "dense-copy.bin")))
    }
    rmSync(dense, { force: true })
    return { sparse, sparseSync, dense: denseCopies }
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "bhyve-snapbench-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

export const benchmark: Benchmark = {
  name: `save/restore (1 GiB guest, ${TOUCH_MIB} MiB touched, memtouch.elf; ${REPS} runs each, page cache warm)`,
  run: Effect.scoped(Effect.gen(function*() {
    const host = yield* probeHostCpu
    const dir = yield* tempDir
    const snapshot = join(dir, "vm.snap")
    const { pauses, saves } = yield* measureSave(dir, snapshot, host.backend)
    const last = saves[saves.length - 1].report
    const copies = yield* measureCopies(dir, last.ramPath)
    const restores: { all: Array<RestoreSample>; state: Array<RestoreSample>; map: Array<RestoreSample> } = { all: [], state: [], map: [] }
    // verify=all first: its first run is the one that meets the RAM file outside the page cache.
    for (let i = 0; i < REPS; i++) {
      for (const verify of ["all", "state"] as const) {
        restores[verify].push(yield* restoreOnce(host.backend, snapshot, join(dir, `restored-${verify}-${i}.txt`), verify))
      }
      restores.map.push(yield* restoreOnce(host.backend, snapshot, join(dir, `restored-map-${i}.txt`), "state", "map"))
    }

    const measured: SnapshotMeasurements = { pauses, saves, copies, restores, touchMib: TOUCH_MIB }
    process.stderr.write(snapshotNote(measured))
    return snapshotRows(measured, `in-process (${host.backend})`)
  }).pipe(Effect.provide(SnapshotFsLive.layer), Effect.mapError(failure("save/restore"))))
}
