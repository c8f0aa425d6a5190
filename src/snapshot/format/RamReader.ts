import * as Effect from "effect/Effect"
import type { GuestRam } from "../../kernel/MemoryLayout.js"
import { isAllZero, sha256Hex } from "./Digest.js"
import { readFully, withFile } from "./FileOps.js"
import type { SnapshotManifest } from "./Manifest.js"
import { decodeRamHeader, RAM_HEADER_LENGTH } from "./RamHeader.js"
import type { FileHandle, SnapshotFsError, SnapshotFsService } from "./SnapshotFs.js"
import { ChecksumMismatch, RamFileMismatch, type SnapshotReadError, SnapshotIoError, Truncated } from "./SnapshotErrors.js"

/**
 * Reads a RAM file back into guest RAM views: positional reads into the
 * views themselves, no intermediate copy. Zero blocks are not written (the
 * target is fresh anonymous memory, already zero, and touching it would
 * allocate it); with verify "all" they are still read, into a small scratch
 * buffer, and must be zero, unless the file has a hole there (SEEK_DATA),
 * which reads as zeros by definition.
 */

export type Verify = "all" | "state"

export interface RestoreRamOptions {
  /** "all" (default) checks every block's SHA-256 and that zero blocks are zero; "state" skips both. */
  readonly verify?: Verify
  /** False when the target may hold old data: zero blocks are then cleared. Default true. */
  readonly targetIsZero?: boolean
}

export interface RamRestoreResult {
  readonly bytesRead: number
  readonly blocks: number
  readonly zeroBlocks: number
  readonly verified: boolean
}

const SCRATCH = 1 << 20

const fsError = (ramPath: string) => (e: SnapshotFsError): SnapshotReadError =>
  e.op === "open" && e.code === "ENOENT"
    ? new RamFileMismatch({ path: ramPath, reason: "the file is missing" })
    : new SnapshotIoError({ path: e.path, op: e.op, code: e.code })

/** Opens the RAM file and checks that it is the one the manifest names: size, header, snapshot id. */
const openRam = <A>(
  fs: SnapshotFsService,
  ramPath: string,
  manifest: SnapshotManifest,
  use: (file: FileHandle) => Effect.Effect<A, SnapshotReadError | SnapshotFsError>
): Effect.Effect<A, SnapshotReadError> =>
  withFile(fs, ramPath, "read", (file) =>
    Effect.gen(function* () {
      const mismatch = (reason: string) => new RamFileMismatch({ path: ramPath, reason })
      const stat = yield* fs.fstat(file)
      if (!stat.isFile) return yield* mismatch("not a regular file")
      if (stat.size !== manifest.ram.fileSize) return yield* mismatch(`the file is ${stat.size} bytes, the manifest says ${manifest.ram.fileSize}`)
      const head = new Uint8Array(Math.min(RAM_HEADER_LENGTH, stat.size))
      const got = yield* readFully(fs, file, head, 0)
      const header = yield* decodeRamHeader(ramPath, head.subarray(0, got), stat.size)
      if (header.snapshotId !== manifest.snapshotId) {
        return yield* mismatch(`the file belongs to snapshot ${header.snapshotId}, the state file is snapshot ${manifest.snapshotId}`)
      }
      if (header.fileSize !== manifest.ram.fileSize) return yield* mismatch(`its header says ${header.fileSize} bytes, the manifest ${manifest.ram.fileSize}`)
      return yield* use(file)
    })
  ).pipe(Effect.catchTag("SnapshotFsError", (e) => Effect.fail(fsError(ramPath)(e))))

export const checkRamFile = (fs: SnapshotFsService, ramPath: string, manifest: SnapshotManifest) =>
  openRam(fs, ramPath, manifest, () => Effect.void)

const hex = (n: number) => `0x${n.toString(16)}`

interface RegionShape {
  readonly gpa: number
  readonly size: number
  readonly bytes?: Uint8Array
}

/**
 * The target's RAM regions in the manifest's order, when they are laid out
 * exactly as the snapshot's (same addresses and sizes, no more, no fewer);
 * for a copy into guest RAM, a lazy mapping and the check before mapping.
 */
export const matchRamRegions = <R extends RegionShape>(
  ramPath: string,
  manifest: SnapshotManifest,
  regions: ReadonlyArray<R>
): Effect.Effect<ReadonlyArray<R>, RamFileMismatch> => {
  const describe = (rs: ReadonlyArray<RegionShape>) => rs.map((r) => `${hex(r.gpa)}+${hex(r.size)}`).join(", ")
  const targets = manifest.ram.regions.map((m) =>
    regions.find((t) => t.gpa === m.gpa && t.size === m.size && (t.bytes === undefined || t.bytes.length === m.size))
  )
  const matched = targets.filter((t): t is R => t !== undefined)
  return matched.length === targets.length && regions.length === targets.length
    ? Effect.succeed(matched)
    : Effect.fail(new RamFileMismatch({
      path: ramPath,
      reason: `the snapshot has RAM regions [${describe(manifest.ram.regions)}], the target has [${describe(regions)}]`
    }))
}

/** Whether [at, at + length) of the file is a hole, which reads as zeros by definition. (Failing to ask just means "no".) */
const isHole = (fs: SnapshotFsService, file: FileHandle, at: number, length: number) =>
  Effect.map(Effect.orElseSucceed(fs.nextData(file, at), () => at), (data) => data === undefined || data >= at + length)

export const restoreRam = (
  fs: SnapshotFsService,
  ramPath: string,
  manifest: SnapshotManifest,
  ram: GuestRam,
  options: RestoreRamOptions = {}
): Effect.Effect<RamRestoreResult, SnapshotReadError> =>
  Effect.gen(function* () {
    const verify = (options.verify ?? "all") === "all"
    const targetIsZero = options.targetIsZero ?? true
    const targets = yield* matchRamRegions(ramPath, manifest, ram.regions)
    const { blockSize } = manifest.ram
    return yield* openRam(fs, ramPath, manifest, (file) =>
      Effect.gen(function* () {
        const scratch = verify ? new Uint8Array(Math.min(blockSize, SCRATCH)) : new Uint8Array(0)
        let index = 0
        let bytesRead = 0
        let zeroBlocks = 0
        for (const [i, region] of manifest.ram.regions.entries()) {
          const target = targets[i].bytes
          for (const [k, digest] of region.blocks.entries()) {
            const start = k * blockSize
            const length = Math.min(blockSize, region.size - start)
            const at = region.fileOffset + start
            const what = `ram block ${index} (gpa ${hex(region.gpa + start)})`
            index++
            const short = (got: number) => new Truncated({ path: ramPath, what, offset: at, needed: length, size: at + got })
            if (digest === "zero") {
              zeroBlocks++
              if (!targetIsZero) target.fill(0, start, start + length)
              if (!verify) continue
              // A hole in the sparse file is zero by definition: nothing to read.
              if (yield* isHole(fs, file, at, length)) continue
              for (let done = 0; done < length; done += scratch.length) {
                const part = scratch.subarray(0, Math.min(scratch.length, length - done))
                const got = yield* readFully(fs, file, part, at + done)
                if (got < part.length) return yield* short(done + got)
                if (!isAllZero(part)) return yield* new ChecksumMismatch({ path: ramPath, what: `${what}: expected all zero bytes` })
              }
              continue
            }
            const view = target.subarray(start, start + length)
            const got = yield* readFully(fs, file, view, at)
            if (got < length) return yield* short(got)
            bytesRead += length
            if (verify && sha256Hex(view) !== digest) return yield* new ChecksumMismatch({ path: ramPath, what })
          }
        }
        const result: RamRestoreResult = { bytesRead, blocks: index, zeroBlocks, verified: verify }
        return result
      })
    )
  })

/**
 * Checks guest RAM that is a private mapping of the RAM file itself (a lazy
 * restore): every block's SHA-256 computed on the mapping, zero blocks
 * zero. Reading through the mapping pulls the file into the page cache, not
 * into the guest's own memory, so the restore stays copy-free; holes are
 * skipped as in restoreRam.
 */
export const verifyMappedRam = (
  fs: SnapshotFsService,
  ramPath: string,
  manifest: SnapshotManifest,
  ram: GuestRam
): Effect.Effect<RamRestoreResult, SnapshotReadError> =>
  Effect.flatMap(matchRamRegions(ramPath, manifest, ram.regions), (targets) => openRam(fs, ramPath, manifest, (file) =>
    Effect.gen(function* () {
      const { blockSize } = manifest.ram
      let index = 0
      let zeroBlocks = 0
      for (const [i, region] of manifest.ram.regions.entries()) {
        const target = targets[i]
        for (const [k, digest] of region.blocks.entries()) {
          const start = k * blockSize
          const length = Math.min(blockSize, region.size - start)
          const what = `ram block ${index} (gpa ${hex(region.gpa + start)})`
          index++
          const view = target.bytes.subarray(start, start + length)
          if (digest === "zero") {
            zeroBlocks++
            if (yield* isHole(fs, file, region.fileOffset + start, length)) continue
            if (!isAllZero(view)) return yield* new ChecksumMismatch({ path: ramPath, what: `${what}: expected all zero bytes` })
          } else if (sha256Hex(view) !== digest) {
            return yield* new ChecksumMismatch({ path: ramPath, what })
          }
        }
      }
      const result: RamRestoreResult = { bytesRead: 0, blocks: index, zeroBlocks, verified: true }
      return result
    })
  ))
