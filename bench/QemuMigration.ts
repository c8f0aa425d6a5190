import * as Effect from "effect/Effect"
import { open } from "node:fs/promises"
import { BenchFailure, describe } from "./Benchmark.js"
import type { Qmp } from "./Qmp.js"
import { pastable, qemuGuestBasics } from "./QemuTcg.js"

/**
 * QEMU 7.2 saving and restoring one of our PVH guests, driven over QMP: the
 * peer figures for bhyve-ts's checkpoint and restore.
 *
 * The guest boots on `-M microvm`, not `-M pc`: SeaBIOS hands over with the
 * 8259 programmed at vector 8 and the PIT's IRQ0 unmasked, and our guests
 * enter CPL3 with IF=1 expecting bhyve's masked PIC, so the first BIOS tick
 * arrives as "exception 8" (on kvm_pvm, where CPL0 start-up is slow, every
 * time; on TCG once a guest runs longer than 55 ms). microvm's qboot leaves
 * the PIC alone. COM1 is microvm's ISA serial, on stdout.
 */
export type QemuAccel = "kvm" | "tcg"

export interface QemuGuestSpec {
  readonly kernel: string
  readonly cmdline: string
  readonly memoryMib: number
  readonly accel: QemuAccel
  readonly qmpSocket: string
  /** Load the VM from this file (`-incoming "exec:cat FILE"`: 7.2 has no file: URI) instead of booting. */
  readonly incomingFrom?: string
}

export const qemuGuestArgs = (spec: QemuGuestSpec): ReadonlyArray<string> => [
  "-accel", spec.accel,
  "-M", "microvm",
  ...qemuGuestBasics(spec.memoryMib),
  "-kernel", spec.kernel,
  "-append", spec.cmdline,
  "-qmp", `unix:${spec.qmpSocket},server=on,wait=off`,
  ...(spec.incomingFrom === undefined ? [] : ["-incoming", `exec:cat ${shellQuote(spec.incomingFrom)}`])
]

/** For the report: the command line as one could paste it. */
export const qemuGuestCommand = (spec: QemuGuestSpec): string => pastable(qemuGuestArgs(spec))

/** exec: URIs go through /bin/sh. */
const shellQuote = (path: string) => `'${path.replace(/'/g, "'\\''")}'`

/** Longest wait for a migration to a file: 1 GiB at a slow disk's pace, with room. */
const MIGRATION_TIMEOUT_MS = 120_000
const POLL_MS = 2

interface MigrationStatus {
  readonly status?: string
  readonly "error-desc"?: string
  readonly downtime?: number
  readonly "total-time"?: number
}

const isStatus = (value: unknown): value is MigrationStatus => typeof value === "object" && value !== null

/** Polls query-migrate until the migration completed; fails if it failed or took too long. */
export const awaitMigration = (qmp: Qmp, what: string) =>
  Effect.gen(function*() {
    const deadline = performance.now() + MIGRATION_TIMEOUT_MS
    for (;;) {
      const reply = yield* qmp.execute("query-migrate")
      const status = isStatus(reply) ? reply : {}
      if (status.status === "completed") return status
      if (status.status === "failed" || status.status === "cancelled") {
        return yield* new BenchFailure({ what, reason: `migration ${status.status}: ${status["error-desc"] ?? "no reason given"}` })
      }
      if (performance.now() > deadline) return yield* new BenchFailure({ what, reason: `migration still ${status.status} after ${MIGRATION_TIMEOUT_MS} ms` })
      yield* Effect.sleep(POLL_MS)
    }
  })

/**
 * fsync on libuv's thread pool, not fsyncSync: this event loop stamps the
 * guest's lines meanwhile, and a blocked loop would stamp the lines that
 * arrive during a 256 MiB flush late, as if QEMU's guest had stalled.
 */
const fsyncFile = (path: string, what: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = await open(path, "r")
      try {
        await file.sync()
      } finally {
        await file.close()
      }
    },
    catch: (e) => new BenchFailure({ what, reason: `fsync ${path}: ${describe(e)}` })
  })

/** Migration into a file through cat, bandwidth uncapped (QEMU's default is 32 MiB/s). */
const migrateToFile = (qmp: Qmp, file: string) =>
  Effect.gen(function*() {
    yield* qmp.execute("migrate-set-parameters", { "max-bandwidth": Number.MAX_SAFE_INTEGER })
    yield* qmp.execute("migrate", { uri: `exec:cat > ${shellQuote(file)}` })
  })

export interface QemuSave {
  /** From the first QMP command to the file being durable (and the guest running again). */
  readonly totalMs: number
  /** What QEMU reports as the migration's own downtime. */
  readonly qemuDowntimeMs: number | undefined
}

/** Stop-and-copy: stop, migrate to the file, fsync it, cont; timed as a whole. */
export const stopAndCopy = (qmp: Qmp, file: string) =>
  Effect.gen(function*() {
    const what = "QEMU stop-and-copy"
    yield* qmp.execute("migrate-set-capabilities", { capabilities: [{ capability: "background-snapshot", state: false }] })
    const t0 = performance.now()
    yield* qmp.execute("stop")
    yield* migrateToFile(qmp, file)
    const done = yield* awaitMigration(qmp, what)
    yield* fsyncFile(file, what)
    yield* qmp.execute("cont")
    const save: QemuSave = { totalMs: performance.now() - t0, qemuDowntimeMs: done.downtime }
    return save
  })

/**
 * background-snapshot: QEMU pauses only to save devices and arm
 * userfaultfd write protection, then writes RAM while the guest runs
 * (copying a page before the guest's write lands); timed to the file
 * being durable.
 */
export const backgroundSnapshot = (qmp: Qmp, file: string) =>
  Effect.gen(function*() {
    const what = "QEMU background-snapshot"
    yield* qmp.execute("migrate-set-capabilities", { capabilities: [{ capability: "background-snapshot", state: true }] })
    const t0 = performance.now()
    yield* migrateToFile(qmp, file)
    const done = yield* awaitMigration(qmp, what)
    yield* fsyncFile(file, what)
    const save: QemuSave = { totalMs: performance.now() - t0, qemuDowntimeMs: done.downtime }
    return save
  })

/**
 * On a QEMU started with `incomingFrom`: waits for the load to finish and
 * lets the guest run (a stop-and-copy file was saved paused, so QEMU would
 * stay paused after loading it).
 */
export const finishIncoming = (qmp: Qmp) =>
  Effect.gen(function*() {
    yield* awaitMigration(qmp, "QEMU -incoming")
    const status = yield* qmp.execute("query-status")
    const running = typeof status === "object" && status !== null && "running" in status && status.running === true
    if (!running) yield* qmp.execute("cont")
  })
