import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import { BenchFailure, type Benchmark } from "./Benchmark.js"
import { bhyveCheckpoint, spawnBhyveMemwrite } from "./BhyveCheckpoint.js"
import { type BhyveSide, checkpointRows, type QemuSide } from "./CheckpointRows.js"
import { needsKvm, probeHostCpu } from "./HostCpu.js"
import { hostTscKhz } from "./HostTsc.js"
import { FIRST_ROUND, TICK_US, WRITE_MIB } from "./MemwriteGuest.js"
import { qemuMemwriteSpec, spawnQemuMemwrite } from "./QemuCheckpoint.js"
import { backgroundSnapshot, type QemuAccel, qemuGuestCommand, stopAndCopy } from "./QemuMigration.js"
import { probeQemu } from "./QemuTcg.js"
import { bhyveRestoreOnce, qemuRestoreOnce, type RestoreSample } from "./RestoreTiming.js"
import { measureStall } from "./StallProbe.js"

/**
 * Issue 13's checkpoint and restore targets, measured on a guest that keeps
 * writing (memwrite.elf, see MemwriteGuest): for bhyve-ts on each usable
 * CPU (KVM where /dev/kvm runs guests, and the software CPU) and for QEMU 7.2
 * on the same guest and memory (-accel kvm where bhyve-ts has KVM, TCG
 * otherwise), in one run:
 * - the guest's longest stall while a checkpoint runs, read from the gaps
 *   between its tick lines, above its own jitter over the second before;
 *   QEMU's stop-and-copy and background-snapshot beside it;
 * - checkpoint request to durable snapshot, against QEMU's stop + migrate to
 *   a file (bandwidth uncapped) + fsync + cont;
 * - spawn of `bhyve -r` to the guest running again, per snapshot.ram mode,
 *   against QEMU `-incoming` from its stop-and-copy file.
 */
const REPS = 3
const RESTORE_REPS = 3
/** Round 1 writes every page once (first touches): ~1 s on KVM here, far longer on the software CPU or under load. */
const FIRST_ROUND_TIMEOUT_MS = 300_000
/** Fastest first: the one bhyve-ts offers by default when it has it. A mode this bhyve refuses is reported, not failed. */
const RESTORE_MODES = ["lazy", "map", "copy"] as const

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "bhyve-ckptbench-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const progress = (text: string) => Effect.sync(() => process.stderr.write(`bench:   ${text}\n`))
/** Other work on the machine moves every figure here: say how much there was. */
const load = Effect.suspend(() => progress(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`))

const measureQemu = (accel: QemuAccel, tscKhz: number, dir: string) =>
  Effect.gen(function*() {
    const saved = join(dir, "qemu-stop-copy.mig")
    const spec = qemuMemwriteSpec(accel, tscKhz, dir, "save")
    yield* progress(qemuGuestCommand(spec))
    const { stopAndCopyRuns, backgroundRuns } = yield* Effect.scoped(Effect.gen(function*() {
      const { guest, qmp } = yield* spawnQemuMemwrite(spec)
      yield* guest.waitForLine("QEMU memwrite round 1", FIRST_ROUND, FIRST_ROUND_TIMEOUT_MS)
      const stopAndCopyRuns = []
      for (let i = 0; i < REPS; i++) stopAndCopyRuns.push(yield* measureStall(guest, "QEMU stop-and-copy", stopAndCopy(qmp, saved)))
      const backgroundRuns = []
      for (let i = 0; i < REPS; i++) backgroundRuns.push(yield* measureStall(guest, "QEMU background-snapshot", backgroundSnapshot(qmp, join(dir, "qemu-bg.mig"))))
      return { stopAndCopyRuns, backgroundRuns }
    }))
    rmSync(join(dir, "qemu-bg.mig"), { force: true })
    const restores: Array<RestoreSample> = []
    for (let i = 0; i < RESTORE_REPS; i++) restores.push(yield* qemuRestoreOnce(qemuMemwriteSpec(accel, tscKhz, dir, `in${i}`, saved)))
    rmSync(saved, { force: true })
    const side: QemuSide = { accel, stopAndCopy: stopAndCopyRuns, background: backgroundRuns, restores }
    return side
  })

/** A refusal of the mode itself (an older bhyve without it) is "not measured"; anything else fails the bench. */
const refusedMode = (e: BenchFailure, mode: string) => new RegExp(`snapshot\\.ram=${mode}: expected`).test(e.reason)

const measureRestores = (snapshot: string, dir: string) =>
  Effect.gen(function*() {
    const results: Array<BhyveSide["restores"][number]> = []
    for (const mode of RESTORE_MODES) {
      const samples: Array<RestoreSample> = []
      let refused: string | undefined
      for (let i = 0; i < RESTORE_REPS && refused === undefined; i++) {
        const run = yield* Effect.either(bhyveRestoreOnce(snapshot, mode, dir))
        if (run._tag === "Right") samples.push(run.right)
        else if (i === 0 && refusedMode(run.left, mode)) refused = `this bhyve has no snapshot.ram=${mode}`
        else return yield* run.left
      }
      results.push({ mode, samples: refused ?? samples })
    }
    return results
  })

const measureBhyve = (backend: CpuBackendName, dir: string) =>
  Effect.gen(function*() {
    const snapshot = join(dir, `bhyve-${backend}.snap`)
    yield* progress(`bhyve on ${backend}: ${REPS} checkpoints, then ${RESTORE_REPS} restores per snapshot.ram mode`)
    const saves = yield* Effect.scoped(Effect.gen(function*() {
      const guest = yield* spawnBhyveMemwrite(backend, dir)
      yield* guest.waitForLine(`bhyve (${backend}) memwrite round 1`, FIRST_ROUND, FIRST_ROUND_TIMEOUT_MS)
      const runs = []
      for (let i = 0; i < REPS; i++) runs.push(yield* measureStall(guest, `bhyve (${backend}) checkpoint`, bhyveCheckpoint(dir, snapshot)))
      return runs
    }))
    const restores = yield* measureRestores(snapshot, dir)
    const side: BhyveSide = { backend, saves, restores }
    return side
  })

export const benchmark: Benchmark = {
  name: `checkpoint and restore of a busy guest vs QEMU (memwrite.elf: 1 GiB, ${WRITE_MIB} MiB rewritten, a tick line every ${TICK_US} us)`,
  run: Effect.scoped(Effect.gen(function*() {
    const host = yield* probeHostCpu
    const qemuFound = yield* probeQemu
    const dir = yield* tempDir
    yield* load
    const accel: QemuAccel = host.backend === "kvm" ? "kvm" : "tcg"
    let qemu: QemuSide | string
    if ("missing" in qemuFound) {
      qemu = qemuFound.missing
    } else {
      const tscKhz = yield* hostTscKhz
      yield* progress(`${qemuFound.version}, -accel ${accel}, guest TSC ${tscKhz} kHz`)
      qemu = yield* measureQemu(accel, tscKhz, dir)
    }
    const sides: Array<BhyveSide> = []
    if (host.backend === "kvm") sides.push(yield* measureBhyve("kvm", dir))
    else sides.push({ backend: "kvm", saves: [], restores: [], unmeasured: needsKvm(host) })
    sides.push(yield* measureBhyve("soft", dir))
    yield* load
    return checkpointRows(sides, qemu)
  }).pipe(Effect.mapError((e) => (e instanceof BenchFailure ? e : new BenchFailure({ what: "checkpoint bench", reason: String(e) })))))
}
