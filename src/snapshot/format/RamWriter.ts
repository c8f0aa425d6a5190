import * as Effect from "effect/Effect"
import { isAllZero, sha256Hex } from "./Digest.js"
import { writeAll } from "./FileOps.js"
import type { RamRegionEntry } from "./Manifest.js"
import { encodeRamHeader } from "./RamHeader.js"
import type { RamLayout } from "./RamLayout.js"
import type { FileHandle, SnapshotFsService } from "./SnapshotFs.js"

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
