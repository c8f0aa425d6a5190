import * as Effect from "effect/Effect"
import type { BackgroundWriteFaults, TrackingSession } from "../../kernel/WriteTracking.js"
import { isAllZero, sha256Hex } from "./Digest.js"
import { writeAll } from "./FileOps.js"
import type { RamRegionEntry } from "./Manifest.js"
import { encodeRamHeader } from "./RamHeader.js"
import type { RamLayout } from "./RamLayout.js"
import { SnapshotWriteError } from "./SnapshotErrors.js"
import type { FileHandle, SnapshotFsError, SnapshotFsService } from "./SnapshotFs.js"

/**
 * Writes guest RAM into an open, empty RAM file. The file is first sized
 * with ftruncate, so all-zero blocks are simply never written and stay holes.
 * Each block is checked, hashed and written straight from the guest's view:
 * no copy of guest RAM is ever made. The guest must be paused.
 */

export interface RamWriteResult {
  readonly regions: ReadonlyArray<RamRegionEntry>
  readonly fileSize: number
  readonly bytesWritten: number
  readonly blocks: number
  readonly zeroBlocks: number
}

export const writeRam = (fs: SnapshotFsService, file: FileHandle, layout: RamLayout, snapshotId: string, blockSize: number) =>
  Effect.gen(function* () {
    yield* fs.ftruncate(file, layout.fileSize)
    yield* writeAll(fs, file, encodeRamHeader({ snapshotId, fileSize: layout.fileSize }), 0)
    const regions: Array<RamRegionEntry> = []
    let bytesWritten = 0
    let blocks = 0
    let zeroBlocks = 0
    for (const r of layout.regions) {
      const digests: Array<string> = []
      for (let at = 0; at < r.size; at += blockSize) {
        const view = r.bytes.subarray(at, Math.min(r.size, at + blockSize))
        blocks++
        if (isAllZero(view)) {
          digests.push("zero")
          zeroBlocks++
          continue
        }
        digests.push(sha256Hex(view))
        yield* writeAll(fs, file, view, r.fileOffset + at)
        bytesWritten += view.length
      }
      regions.push({ slot: r.slot, gpa: r.gpa, size: r.size, fileOffset: r.fileOffset, blocks: digests })
    }
    const result: RamWriteResult = { regions, fileSize: layout.fileSize, bytesWritten, blocks, zeroBlocks }
    return result
  })

/**
 * Where the RAM file's blocks come from: the paused guest's own views
 * (writeRam above), or a write-tracking session that hands out RAM as of
 * its arm instant while the guest runs. Either fills an open, empty RAM
 * file completely; the snapshot writer's commit protocol around it is the same.
 */
export interface RamSource {
  readonly write: (
    fs: SnapshotFsService,
    file: FileHandle,
    layout: RamLayout,
    snapshotId: string,
    blockSize: number
  ) => Effect.Effect<RamWriteResult, SnapshotFsError | SnapshotWriteError>
}

/** The paused guest's RAM, read straight from its views. */
export const pausedRam: RamSource = { write: writeRam }

/**
 * RAM as of a write-tracking session's arm instant, hashed and written by
 * its writer thread off the machine thread while the guest runs. The
 * session's block size must be the snapshot's.
 */
export const trackedRam = (session: TrackingSession, faults?: BackgroundWriteFaults): RamSource => ({
  write: (fs, file, layout, snapshotId, blockSize) =>
    Effect.gen(function* () {
      if (session.blockSize !== blockSize) {
        return yield* new SnapshotWriteError({ step: "validate", path: file.path, code: "EINVAL", detail: `tracking blocks of ${session.blockSize} bytes, snapshot blocks of ${blockSize}`, committed: false })
      }
      yield* fs.ftruncate(file, layout.fileSize)
      yield* writeAll(fs, file, encodeRamHeader({ snapshotId, fileSize: layout.fileSize }), 0)
      const written = yield* session.writeAll({ fd: file.fd, fileOffsets: layout.regions.map((r) => r.fileOffset) }, faults).pipe(
        Effect.mapError((e) =>
          new SnapshotWriteError({ step: "write", path: file.path, code: e.code, detail: e.op === "write" ? "" : e.message, committed: false })
        )
      )
      const regions: Array<RamRegionEntry> = []
      let next = 0
      for (const r of layout.regions) {
        const count = Math.ceil(r.size / blockSize)
        regions.push({ slot: r.slot, gpa: r.gpa, size: r.size, fileOffset: r.fileOffset, blocks: written.digests.slice(next, next + count) })
        next += count
      }
      const zeroBlocks = written.digests.filter((d) => d === "zero").length
      const result: RamWriteResult = { regions, fileSize: layout.fileSize, bytesWritten: written.bytesWritten, blocks: written.digests.length, zeroBlocks }
      return result
    })
})
