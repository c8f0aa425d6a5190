import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { lstatSync, readdirSync, statSync } from "node:fs"
import * as path from "node:path"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { loadNativeKvm } from "../../../src/kernel/NativeKvm.js"
import type { SnapshotFsService } from "../../../src/snapshot/format/SnapshotFs.js"
import * as SnapshotFsFaulty from "../../../src/snapshot/format/SnapshotFsFaulty.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import { readSnapshot } from "../../../src/snapshot/format/SnapshotReader.js"
import { writeSnapshot } from "../../../src/snapshot/format/SnapshotWriter.js"
import {
  BLOCK,
  freshRam,
  ID_A,
  KiB,
  manifestInput,
  MiB,
  read,
  sampleChunks,
  sampleRam,
  tempDir,
  toyUartCodec,
  toyVcpuCodec,
  write,
  xsave
} from "./fixtures.js"

const same = (a: GuestRam, b: GuestRam) => a.regions.every((r, i) => Buffer.compare(r.bytes, b.regions[i].bytes) === 0)

const saveSample = (dir: string, ram = sampleRam()) =>
  Effect.gen(function* () {
    const chunks = yield* sampleChunks
    const F = path.join(dir, "vm.snap")
    const result = yield* writeSnapshot({ path: F, manifest: manifestInput, chunks, ram, blockSize: BLOCK, snapshotId: ID_A })
    return { F, ram, chunks, result }
  })

describe("snapshot round trip", () => {
  it.scoped("reads back the manifest, every chunk and guest RAM exactly as written", () =>
    Effect.gen(function* () {
      const { chunks, F, ram } = yield* saveSample(yield* tempDir)
      const snap = yield* readSnapshot(F)
      expect(snap.manifest.snapshotId).toBe(ID_A)
      expect(snap.manifest.formatVersion).toEqual({ major: 1, minor: 0 })
      expect(snap.manifest.writer.name).toBe("bhyve-ts")
      expect(snap.manifest.machine).toEqual(manifestInput.machine)
      expect(snap.manifest.devices).toEqual(manifestInput.devices)
      expect(snap.manifest.ram.regions.map((r) => [r.slot, r.gpa, r.size])).toEqual([
        [0, 0, 512 * KiB],
        [1, 0x1_0000_0000, 256 * KiB]
      ])
      for (const c of chunks) expect(snap.chunk(c.id)).toEqual(c.payload)
      expect(yield* snap.decode(toyUartCodec, "device/com1")).toEqual({ ier: 5, lcr: 3, rxFifo: [0x41, 0x42] })
      expect((yield* snap.decode(toyVcpuCodec, "vcpu/0")).xsave).toEqual(xsave)
      const target = freshRam(ram)
      const restored = yield* snap.restoreRam(target)
      expect(same(target, ram)).toBe(true)
      expect(restored).toMatchObject({ blocks: 12, verified: true })
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("writes only the non-zero blocks and lists the rest as zero", () =>
    Effect.gen(function* () {
      const { result } = yield* saveSample(yield* tempDir)
      // Non-zero pages: low region pages 0, 50 and 127 (blocks 0, 3, 7), high region page 3 (block 0).
      expect(result.blocks).toBe(12)
      expect(result.zeroBlocks).toBe(8)
      expect(result.ramBytesWritten).toBe(4 * BLOCK)
      expect(result.manifest.ram.regions[0].blocks.map((b) => (b === "zero" ? 0 : 1))).toEqual([1, 0, 0, 1, 0, 0, 0, 1])
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("leaves zero blocks as holes, so the RAM file takes little disk", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const ram = sampleRam(3, [16 * MiB])
      const { result } = yield* saveSample(dir, ram)
      const st = statSync(result.ramPath)
      expect(st.size).toBe(4096 + 16 * MiB)
      expect(st.blocks * 512).toBeLessThanOrEqual(result.ramBytesWritten + 4096 + 64 * KiB)
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("a verified restore does not read the RAM file's holes (they read as zeros by definition)", () =>
    Effect.gen(function* () {
      const native = yield* Effect.orDie(loadNativeKvm)
      const { F, ram } = yield* saveSample(yield* tempDir)
      const restoreCountingReads = (inner: SnapshotFsService) =>
        Effect.gen(function* () {
          const counting = SnapshotFsFaulty.make(SnapshotFsFaulty.noFaults, inner)
          const target = freshRam(ram)
          const restored = yield* Effect.flatMap(readSnapshot(F), (snap) => snap.restoreRam(target)).pipe(Effect.provide(counting.layer))
          expect(restored.verified).toBe(true)
          expect(same(target, ram)).toBe(true)
          return counting.calls.filter((c) => c.op === "read").length
        })
      const blind = yield* restoreCountingReads(SnapshotFsLive.make())
      const seeing = yield* restoreCountingReads(SnapshotFsLive.make(native))
      // The sample's 8 zero blocks are holes: one read each without SEEK_DATA, none with it.
      expect(blind - seeing).toBe(8)
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("creates both files with mode 0600", () =>
    Effect.gen(function* () {
      const { F, result } = yield* saveSample(yield* tempDir)
      expect(statSync(F).mode & 0o777).toBe(0o600)
      expect(statSync(result.ramPath).mode & 0o777).toBe(0o600)
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("names the RAM file after the state file and the snapshot id, next to it, and leaves nothing else", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { result } = yield* saveSample(dir)
      expect(result.ramPath).toBe(path.join(dir, `vm.snap.${ID_A}.ram`))
      expect(readdirSync(dir).sort()).toEqual(["vm.snap", `vm.snap.${ID_A}.ram`])
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("replacing a snapshot deletes the RAM file the old one named", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const first = yield* saveSample(dir)
      const chunks = yield* sampleChunks
      const second = yield* writeSnapshot({ path: first.F, manifest: manifestInput, chunks, ram: sampleRam(9), blockSize: BLOCK })
      expect(second.removed).toEqual([first.result.ramPath])
      expect(readdirSync(dir).sort()).toEqual(["vm.snap", path.basename(second.ramPath)].sort())
      expect((yield* readSnapshot(first.F)).manifest.snapshotId).toBe(second.snapshotId)
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("restoring with verify: \"state\" skips block checksums, so it does not see corrupted RAM", () =>
    Effect.gen(function* () {
      const { ram, result } = yield* saveSample(yield* tempDir)
      const bytes = read(result.ramPath)
      bytes[4096 + 10] ^= 0xff
      write(result.ramPath, bytes)
      const snap = yield* readSnapshot(result.path)
      const restored = yield* snap.restoreRam(freshRam(ram), { verify: "state" })
      expect(restored.verified).toBe(false)
      const failed = yield* Effect.flip(snap.restoreRam(freshRam(ram), { verify: "all" }))
      expect(failed._tag).toBe("ChecksumMismatch")
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("clears zero blocks when told the target is not fresh memory", () =>
    Effect.gen(function* () {
      const { ram, result } = yield* saveSample(yield* tempDir)
      const dirty = freshRam(ram)
      for (const r of dirty.regions) r.bytes.fill(0xcc)
      const snap = yield* readSnapshot(result.path)
      yield* snap.restoreRam(dirty, { targetIsZero: false })
      expect(same(dirty, ram)).toBe(true)
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("refuses to restore into RAM shaped differently from the snapshot's", () =>
    Effect.gen(function* () {
      const { result } = yield* saveSample(yield* tempDir)
      const snap = yield* readSnapshot(result.path)
      const e = yield* Effect.flip(snap.restoreRam(freshRam(sampleRam(1, [512 * KiB]))))
      expect(e._tag).toBe("RamFileMismatch")
      expect(e.message).toContain("0x100000000+0x40000")
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("refuses RAM that cannot be laid out page by page, before writing anything", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const ram: GuestRam = { size: 1000, regions: [{ slot: 0, gpa: 0, size: 1000, bytes: new Uint8Array(1000) }] }
      const e = yield* Effect.flip(writeSnapshot({ path: path.join(dir, "x"), manifest: manifestInput, chunks: [], ram }))
      expect(e).toMatchObject({ step: "validate", committed: false })
      expect(readdirSync(dir)).toEqual([])
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("refuses duplicate chunk ids, naming the manifest path", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const [c] = yield* sampleChunks
      const e = yield* Effect.flip(writeSnapshot({ path: path.join(dir, "x"), manifest: manifestInput, chunks: [c, c], ram: sampleRam() }))
      expect(e.step).toBe("validate")
      expect(e.detail).toContain("$.chunks[1].id")
      expect(readdirSync(dir)).toEqual([])
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("reusing the current snapshot's id is refused before anything is written", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { F } = yield* saveSample(dir)
      const e = yield* Effect.flip(writeSnapshot({ path: F, manifest: manifestInput, chunks: [], ram: sampleRam(5), snapshotId: ID_A }))
      expect(e).toMatchObject({ step: "validate", committed: false })
      expect(readdirSync(dir).sort()).toEqual(["vm.snap", `vm.snap.${ID_A}.ram`])
      expect((yield* readSnapshot(F)).manifest.chunks.length).toBe(3)
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("saving into a directory that does not exist is an open error naming the temp file", () =>
    Effect.gen(function* () {
      const dir = path.join(yield* tempDir, "missing")
      const e = yield* Effect.flip(writeSnapshot({ path: path.join(dir, "vm.snap"), manifest: manifestInput, chunks: [], ram: sampleRam(), snapshotId: ID_A }))
      expect(e).toMatchObject({ step: "open", code: "ENOENT", committed: false, path: path.join(dir, `.vm.snap.${ID_A}.ram.tmp`) })
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )

  it.scoped("a snapshot with no chunks and no devices still round-trips", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const ram = sampleRam()
      const F = path.join(dir, "bare")
      yield* writeSnapshot({ path: F, manifest: { ...manifestInput, devices: [] }, chunks: [], ram })
      const target = freshRam(ram)
      yield* (yield* readSnapshot(F)).restoreRam(target)
      expect(same(target, ram)).toBe(true)
      expect(lstatSync(F).isFile()).toBe(true)
    }).pipe(Effect.provide(SnapshotFsLive.layer))
  )
})
