import * as Effect from "effect/Effect"
import * as path from "node:path"
import type { GuestRam } from "../../kernel/MemoryLayout.js"
import { type ChunkCodec, decodeChunk } from "./ChunkCodec.js"
import { equalBytes, sha256, sha256Hex } from "./Digest.js"
import { readFully, withFile } from "./FileOps.js"
import type { SnapshotManifest } from "./Manifest.js"
import { decodeManifest } from "./ManifestJson.js"
import { checkRamFile, type RamRestoreResult, restoreRam, type RestoreRamOptions } from "./RamReader.js"
import { type FileHandle, SnapshotFs, type SnapshotFsError, type SnapshotFsService } from "./SnapshotFs.js"
import {
  ChecksumMismatch,
  ChunkInvalid,
  LimitExceeded,
  ManifestInvalid,
  type SnapshotReadError,
  SnapshotIoError,
  Truncated
} from "./SnapshotErrors.js"
import { decodeStateHeader, STATE_HEADER_LENGTH, type StateHeader } from "./StateHeader.js"

/**
 * Reads a state file as hostile input: every length is checked against the
 * file and a cap before anything is allocated, every checksum before anything
 * is decoded. When this succeeds the header, manifest and every chunk are
 * verified and the RAM file is present and belongs to this snapshot.
 */

export interface ReadOptions {
  /** Default 16 MiB. */
  readonly maxManifestBytes?: number
  /** Whole state file (header + chunks + manifest); default 256 MiB. Guest RAM is not in it. */
  readonly maxStateBytes?: number
}

export interface Snapshot {
  readonly path: string
  readonly ramPath: string
  readonly manifest: SnapshotManifest
  /** A chunk's payload, checksum already verified; undefined when there is no such chunk. */
  readonly chunk: (id: string) => Uint8Array | undefined
  /** Finds, checks and decodes (migrating older versions) one chunk. */
  readonly decode: <A, I>(codec: ChunkCodec<A, I>, id: string) => Effect.Effect<A, ChunkInvalid>
  /** Fills `ram` (freshly mapped, zeroed guest memory unless told otherwise) from the RAM file. */
  readonly restoreRam: (ram: GuestRam, options?: RestoreRamOptions) => Effect.Effect<RamRestoreResult, SnapshotReadError>
}

export interface ManifestRead {
  readonly header: StateHeader
  readonly manifest: SnapshotManifest
  readonly size: number
}

const toReadError = (e: SnapshotFsError | SnapshotReadError): SnapshotReadError =>
  e._tag === "SnapshotFsError" ? new SnapshotIoError({ path: e.path, op: e.op, code: e.code }) : e

const readManifestFrom = (fs: SnapshotFsService, file: FileHandle, options: ReadOptions) =>
  Effect.gen(function* () {
    const p = file.path
    const stat = yield* fs.fstat(file)
    if (!stat.isFile) return yield* new SnapshotIoError({ path: p, op: "open", code: "not a regular file" })
    const maxState = options.maxStateBytes ?? 256 * 1024 * 1024
    if (stat.size > maxState) return yield* new LimitExceeded({ path: p, what: "the state file", limit: maxState, found: stat.size })
    const head = new Uint8Array(Math.min(STATE_HEADER_LENGTH, stat.size))
    const got = yield* readFully(fs, file, head, 0)
    const header = yield* decodeStateHeader(p, head.subarray(0, got), stat.size)
    const maxManifest = options.maxManifestBytes ?? 16 * 1024 * 1024
    if (header.manifestLength > maxManifest) {
      return yield* new LimitExceeded({ path: p, what: "the manifest", limit: maxManifest, found: header.manifestLength })
    }
    const bytes = yield* readRange(fs, file, "manifest", header.manifestOffset, header.manifestLength, stat.size)
    if (!equalBytes(sha256(bytes), header.manifestSha256)) return yield* new ChecksumMismatch({ path: p, what: "manifest" })
    const manifest = yield* decodeManifest(p, bytes, header.version)
    const result: ManifestRead = { header, manifest, size: stat.size }
    return result
  })

/** Exactly `length` bytes at `offset`, or Truncated if the file (of `size` bytes, or shorter than it claimed) ends first. */
const readRange = (fs: SnapshotFsService, file: FileHandle, what: string, offset: number, length: number, size: number) =>
  Effect.gen(function* () {
    const truncated = (actual: number) => new Truncated({ path: file.path, what, offset, needed: length, size: actual })
    if (offset + length > size) return yield* truncated(size)
    const bytes = new Uint8Array(length)
    const got = yield* readFully(fs, file, bytes, offset)
    if (got < length) return yield* truncated(offset + got)
    return bytes
  })

/** Header and manifest only: what a writer needs to know about the snapshot it is replacing. */
export const readManifest = (statePath: string, options: ReadOptions = {}): Effect.Effect<ManifestRead, SnapshotReadError, SnapshotFs> =>
  Effect.flatMap(SnapshotFs, (fs) => withFile(fs, statePath, "read", (file) => readManifestFrom(fs, file, options)).pipe(Effect.mapError(toReadError)))

export const readSnapshot = (statePath: string, options: ReadOptions = {}): Effect.Effect<Snapshot, SnapshotReadError, SnapshotFs> =>
  Effect.gen(function* () {
    const fs = yield* SnapshotFs
    const { chunks, manifest } = yield* withFile(fs, statePath, "read", (file) =>
      Effect.gen(function* () {
        const { header, manifest, size } = yield* readManifestFrom(fs, file, options)
        const chunks = new Map<string, Uint8Array>()
        for (const [i, c] of manifest.chunks.entries()) {
          if (c.offset < header.headerLength) {
            return yield* new ManifestInvalid({ path: statePath, details: `at $.chunks[${i}].offset: ${c.offset} lies inside the header` })
          }
          const bytes = yield* readRange(fs, file, `chunk ${c.id}`, c.offset, c.length, size)
          if (sha256Hex(bytes) !== c.sha256) return yield* new ChecksumMismatch({ path: statePath, what: `chunk ${c.id}` })
          chunks.set(c.id, bytes)
        }
        return { chunks, manifest }
      })
    ).pipe(Effect.mapError(toReadError))
    const ramPath = path.join(path.dirname(statePath), manifest.ram.file)
    yield* checkRamFile(fs, ramPath, manifest)
    const snapshot: Snapshot = {
      path: statePath,
      ramPath,
      manifest,
      chunk: (id) => chunks.get(id),
      decode: (codec, id) => {
        const entry = manifest.chunks.find((c) => c.id === id)
        const bytes = chunks.get(id)
        return entry === undefined || bytes === undefined
          ? Effect.fail(new ChunkInvalid({ path: statePath, chunkId: id, details: "the snapshot has no such chunk" }))
          : decodeChunk(codec, entry, bytes, statePath)
      },
      restoreRam: (ram, restoreOptions) => restoreRam(fs, ramPath, manifest, ram, restoreOptions)
    }
    return snapshot
  })
