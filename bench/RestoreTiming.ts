import * as Effect from "effect/Effect"
import { join } from "node:path"
import type { BenchFailure } from "./Benchmark.js"
import { type LiveProcess, spawnLive } from "./LiveProcess.js"
import { ANY_ROUND, MEMWRITE_FATAL, RUNNING_LINE } from "./MemwriteGuest.js"
import { BHYVE_CLI } from "./Paths.js"
import { spawnQemuMemwrite } from "./QemuCheckpoint.js"
import { finishIncoming, type QemuGuestSpec } from "./QemuMigration.js"

/**
 * Restore as a user meets it: spawn of the restoring process to the
 * guest's first whole line after it (a tick or a round: running again).
 * Untimed afterwards, the restored guest must finish its next round, which
 * reads every page it wrote: RAM came back as of the save, or it prints
 * corrupt and the bench fails.
 */
const RUNNING_TIMEOUT_MS = 60_000
/** The software CPU takes far longer over a round of 256 MiB. */
const ROUND_TIMEOUT_MS = 300_000

export interface RestoreSample {
  /** Spawn to the first line the restored guest prints, ms. */
  readonly runningMs: number
}

const timeToRunning = (guest: LiveProcess, what: string) =>
  Effect.gen(function*() {
    const first = yield* guest.waitForLine(`${what}: first line`, RUNNING_LINE, RUNNING_TIMEOUT_MS)
    yield* guest.waitForLine(`${what}: next round (RAM as saved)`, ANY_ROUND, ROUND_TIMEOUT_MS, first.index + 1)
    const sample: RestoreSample = { runningMs: first.at - guest.spawnedAt }
    return sample
  })

/** `bhyve -r FILE -o snapshot.ram=<ram>` (verify left at its default, all blocks checked). */
export const bhyveRestoreOnce = (snapshot: string, ram: string, dir: string): Effect.Effect<RestoreSample, BenchFailure> =>
  Effect.scoped(Effect.gen(function*() {
    const what = `bhyve -r (snapshot.ram=${ram})`
    const guest = yield* spawnLive(process.execPath, [
      BHYVE_CLI,
      "-r", snapshot,
      "-l", "com1,stdio",
      "-o", `control.socket=${join(dir, `ctl-restore-${ram}`)}`,
      "-o", `snapshot.ram=${ram}`
    ], MEMWRITE_FATAL)
    return yield* timeToRunning(guest, what)
  }))

/** QEMU `-incoming "exec:cat FILE"`, then `cont` once loaded if the file was saved stopped. */
export const qemuRestoreOnce = (spec: QemuGuestSpec): Effect.Effect<RestoreSample, BenchFailure> =>
  Effect.scoped(Effect.gen(function*() {
    const { guest, qmp } = yield* spawnQemuMemwrite(spec)
    yield* finishIncoming(qmp)
    return yield* timeToRunning(guest, "QEMU -incoming")
  }))
