import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { removeOrphans } from "../../../src/snapshot/format/SnapshotCleanup.js"
import type { SnapshotWriteError } from "../../../src/snapshot/format/SnapshotErrors.js"
import * as SnapshotFsFaulty from "../../../src/snapshot/format/SnapshotFsFaulty.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import { readSnapshot } from "../../../src/snapshot/format/SnapshotReader.js"
import { writeSnapshot } from "../../../src/snapshot/format/SnapshotWriter.js"
import { BLOCK, freshRam, ID_A, ID_B, manifestInput, sampleChunks, sampleRam, tempDir } from "./fixtures.js"

const RAM_A = sampleRam(1)
const RAM_B = sampleRam(2)

const save = (F: string, ram: GuestRam, snapshotId: string) =>
  Effect.flatMap(sampleChunks, (chunks) => writeSnapshot({ path: F, manifest: manifestInput, chunks, ram, blockSize: BLOCK, snapshotId }))

/** The snapshot at F reads back completely (every checksum) as the one saved with `id` from `ram`. */
const expectSnapshot = (F: string, id: string, ram: GuestRam) =>
  Effect.gen(function* () {
    const snap = yield* readSnapshot(F)
    expect(snap.manifest.snapshotId).toBe(id)
    const target = freshRam(ram)
    yield* snap.restoreRam(target, { verify: "all" })
    target.regions.forEach((r, i) => expect(Buffer.compare(r.bytes, ram.regions[i].bytes)).toBe(0))
  }).pipe(Effect.provide(SnapshotFsLive.layer))

/** Runs a save of B over `dir/vm.snap` (holding A when `withOld`) with the given fault plan. */
const saveWithFault = (dir: string, plan: SnapshotFsFaulty.FaultPlan, withOld: boolean) =>
  Effect.gen(function* () {
    const F = path.join(dir, "vm.snap")
    if (withOld) yield* save(F, RAM_A, ID_A).pipe(Effect.provide(SnapshotFsLive.layer))
    const faulty = SnapshotFsFaulty.make(plan)
    const exit = yield* Effect.exit(save(F, RAM_B, ID_B).pipe(Effect.provide(faulty.layer)))
    return { F, exit, calls: faulty.calls }
  })

const failure = (exit: Exit.Exit<unknown, SnapshotWriteError>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

/** Calls whose failure must fail the save (cleanup and the look at the old snapshot are best effort). */
const essential = new Set(["write", "fsync", "rename", "ftruncate"])

describe("atomic replace under injected faults", () => {
  it.scoped("the writer's calls: two temp files written, fsynced and renamed, the directory fsynced after each rename", () =>
    Effect.gen(function* () {
      const { calls, exit } = yield* saveWithFault(yield* tempDir, SnapshotFsFaulty.noFaults, true)
      expect(Exit.isSuccess(exit)).toBe(true)
      const names = calls.map((c) => `${c.op} ${path.basename(c.path)}`)
      const order = ["open .vm.snap.bbbbbbbbbbbbbbbb.ram.tmp", "rename .vm.snap.bbbbbbbbbbbbbbbb.ram.tmp", "open .vm.snap.bbbbbbbbbbbbbbbb.tmp", "rename .vm.snap.bbbbbbbbbbbbbbbb.tmp", "unlink vm.snap.aaaaaaaaaaaaaaaa.ram"]
      const at = order.map((n) => names.indexOf(n))
      expect(at.every((i) => i >= 0)).toBe(true)
      expect([...at].sort((a, b) => a - b)).toEqual(at)
      expect(calls.filter((c) => c.op === "fsync").length).toBe(4)
    })
  )

  it.scoped("whichever single call fails, the old snapshot and its RAM file survive intact, and nothing new is left", () =>
    Effect.gen(function* () {
      const { calls } = yield* saveWithFault(yield* tempDir, SnapshotFsFaulty.noFaults, true)
      expect(calls.length).toBeGreaterThan(20)
      for (let n = 0; n < calls.length; n++) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const dir = yield* tempDir
            const { exit, F } = yield* saveWithFault(dir, SnapshotFsFaulty.failNth(n, "EIO"), true)
            const e = failure(exit)
            const left = readdirSync(dir).sort()
            if (essential.has(calls[n].op)) expect(e, `call ${n}: ${calls[n].op} ${calls[n].path}`).toBeDefined()
            if (e !== undefined && !e.committed) {
              expect(e.code).toBe("EIO")
              expect(left).toEqual(["vm.snap", `vm.snap.${ID_A}.ram`])
              yield* expectSnapshot(F, ID_A, RAM_A)
            } else {
              // Failed after the commit rename (directory fsync), or a best-effort call failed: the new one is whole.
              expect(left).toContain(`vm.snap.${ID_B}.ram`)
              expect(left.filter((f) => f.endsWith(".tmp"))).toEqual([])
              yield* expectSnapshot(F, ID_B, RAM_B)
            }
          })
        )
      }
    })
  )

  it.scoped("whichever single call fails on a first save, nothing at F reads as a snapshot and no file is left", () =>
    Effect.gen(function* () {
      const { calls } = yield* saveWithFault(yield* tempDir, SnapshotFsFaulty.noFaults, false)
      for (let n = 0; n < calls.length; n++) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const dir = yield* tempDir
            const { exit, F } = yield* saveWithFault(dir, SnapshotFsFaulty.failNth(n, "EIO"), false)
            const e = failure(exit)
            if (e !== undefined && !e.committed) {
              expect(readdirSync(dir)).toEqual([])
              const read = yield* Effect.flip(readSnapshot(F).pipe(Effect.provide(SnapshotFsLive.layer)))
              expect(read).toMatchObject({ _tag: "SnapshotIoError", code: "ENOENT" })
            } else {
              yield* expectSnapshot(F, ID_B, RAM_B)
            }
          })
        )
      }
    })
  )

  it.scoped("ENOSPC on a RAM write is reported with the step, the temp file's path and the errno", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { exit } = yield* saveWithFault(dir, SnapshotFsFaulty.failNth(2, "ENOSPC", "write"), true)
      const e = failure(exit)
      expect(e).toMatchObject({ step: "write", code: "ENOSPC", committed: false, path: path.join(dir, `.vm.snap.${ID_B}.ram.tmp`) })
      expect(e?.message).toContain("ENOSPC")
      expect(e?.message).toContain("previous snapshot")
    })
  )

  it.scoped("a failed directory fsync after the commit says the new snapshot is in place", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { exit, F } = yield* saveWithFault(dir, SnapshotFsFaulty.failNth(3, "EIO", "fsync"), true)
      expect(failure(exit)).toMatchObject({ step: "fsync", path: dir, committed: true })
      yield* expectSnapshot(F, ID_B, RAM_B)
      // The old RAM file stays: after a crash the old state file could still be what the disk holds.
      expect(existsSync(path.join(dir, `vm.snap.${ID_A}.ram`))).toBe(true)
    })
  )

  it.scoped("short writes and reads are completed, not mistaken for success or failure", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const F = path.join(dir, "vm.snap")
      const faulty = SnapshotFsFaulty.make(SnapshotFsFaulty.shortIo)
      yield* save(F, RAM_B, ID_B).pipe(Effect.provide(faulty.layer))
      const snap = yield* readSnapshot(F).pipe(Effect.provide(faulty.layer))
      const target = freshRam(RAM_B)
      yield* snap.restoreRam(target)
      expect(Buffer.compare(target.regions[0].bytes, RAM_B.regions[0].bytes)).toBe(0)
      yield* expectSnapshot(F, ID_B, RAM_B)
    })
  )
})

describe("leftovers and symlinks", () => {
  it.scoped("temp files left by a crashed writer are ignored, then removed after the next save", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const F = path.join(dir, "vm.snap")
      const stale = [`.vm.snap.0123456789abcdef.ram.tmp`, `.vm.snap.0123456789abcdef.tmp`].map((n) => path.join(dir, n))
      for (const s of stale) writeFileSync(s, "half a snapshot")
      const result = yield* save(F, RAM_B, ID_B).pipe(Effect.provide(SnapshotFsLive.layer))
      expect([...result.removed].sort()).toEqual([...stale].sort())
      expect(readdirSync(dir).sort()).toEqual(["vm.snap", `vm.snap.${ID_B}.ram`])
      yield* expectSnapshot(F, ID_B, RAM_B)
    })
  )

  it.scoped("a symlink planted at a temp name is not followed: the save fails and the target is untouched", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const victim = path.join(dir, "victim")
      writeFileSync(victim, "precious")
      symlinkSync(victim, path.join(dir, `.vm.snap.${ID_B}.ram.tmp`))
      const exit = yield* Effect.exit(save(path.join(dir, "vm.snap"), RAM_B, ID_B).pipe(Effect.provide(SnapshotFsLive.layer)))
      expect(failure(exit)).toMatchObject({ step: "open", code: "EEXIST" })
      expect(readFileSync(victim, "utf8")).toBe("precious")
      expect(lstatSync(path.join(dir, `.vm.snap.${ID_B}.ram.tmp`)).isSymbolicLink()).toBe(true)
    })
  )

  it.scoped("a symlink at F is replaced by the new file, never written through", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const victim = path.join(dir, "victim")
      writeFileSync(victim, "precious")
      const F = path.join(dir, "vm.snap")
      symlinkSync(victim, F)
      yield* save(F, RAM_B, ID_B).pipe(Effect.provide(SnapshotFsLive.layer))
      expect(lstatSync(F).isFile()).toBe(true)
      expect(readFileSync(victim, "utf8")).toBe("precious")
    })
  )

  it.scoped("removeOrphans deletes RAM files F does not name, and stale temps, but keeps F's own", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const F = path.join(dir, "vm.snap")
      yield* save(F, RAM_B, ID_B).pipe(Effect.provide(SnapshotFsLive.layer))
      // What a crash between the RAM rename and the state rename leaves.
      writeFileSync(path.join(dir, "vm.snap.0123456789abcdef.ram"), "orphan")
      writeFileSync(path.join(dir, ".vm.snap.0123456789abcdef.tmp"), "stale")
      writeFileSync(path.join(dir, "unrelated.0123456789abcdef.ram"), "not ours")
      const removed = yield* removeOrphans(F).pipe(Effect.provide(SnapshotFsLive.layer))
      expect(removed.map((p) => path.basename(p)).sort()).toEqual([".vm.snap.0123456789abcdef.tmp", "vm.snap.0123456789abcdef.ram"])
      expect(readdirSync(dir).sort()).toEqual(["unrelated.0123456789abcdef.ram", "vm.snap", `vm.snap.${ID_B}.ram`])
      yield* expectSnapshot(F, ID_B, RAM_B)
    })
  )
})
