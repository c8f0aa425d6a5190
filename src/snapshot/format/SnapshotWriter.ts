import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import type { GuestRam } from "../../kernel/MemoryLayout.js"
import type { MachineConfig } from "../../machine/MachineConfig.js"
import type { ChunkInput } from "./ChunkCodec.js"
import { sha256, sha256Hex } from "./Digest.js"
import { fsyncDirectory, withFile, writeAll } from "./FileOps.js"
import type { ChunkEntry, DeviceEntry, HostInfo, RamRegionEntry, SnapshotManifest } from "./Manifest.js"
import { encodeManifest } from "./ManifestJson.js"
import { layoutRam } from "./RamLayout.js"
import { pausedRam, type RamSource } from "./RamWriter.js"
import { removeStaleTemps } from "./SnapshotCleanup.js"
import { SnapshotWriteError, type WriteStep } from "./SnapshotErrors.js"
import { type FileHandle, SnapshotFs, SnapshotFsError } from "./SnapshotFs.js"
import { isRamFileOf, namesFor } from "./SnapshotNames.js"
import { readManifest } from "./SnapshotReader.js"
import { encodeStateHeader, FORMAT_VERSION, STATE_HEADER_LENGTH } from "./StateHeader.js"

/**
 * Writes a snapshot so that replacing one never loses the old one:
 *   1. RAM to `.F.<id>.ram.tmp`, fsync, rename to `F.<id>.ram`, fsync the directory
 *   2. state to `.F.<id>.tmp`, fsync, rename over F (the commit point), fsync the directory
 *   3. delete the RAM file the old F named, and stale temps
 * Before the commit rename any failure removes what this save created and
 * leaves the old F and its RAM file as they were. RAM comes from a RamSource:
 * the paused guest's views (the default; the guest must stay paused until
 * this returns) or a write-tracking session's arm-instant RAM (the guest may
 * run; only the state written here must be from the arm instant).
 */

export const WRITER_VERSION = "0.1.0"
export const DEFAULT_BLOCK_SIZE = 1 << 20

/** Everything in the manifest that the writer does not compute itself. */
export interface ManifestInput {
  readonly host: HostInfo
  readonly machine: MachineConfig
  readonly vcpuCount: number
  readonly devices: ReadonlyArray<DeviceEntry>
  /** Defaults to WRITER_VERSION. */
  readonly writerVersion?: string
}

export interface WriteSnapshotOptions {
  readonly path: string
  readonly manifest: ManifestInput
  readonly chunks: ReadonlyArray<ChunkInput>
  readonly ram: GuestRam
  /** Where RAM blocks come from; default the guest's own (paused) views. */
  readonly ramSource?: RamSource
  /** Power of two, 4 KiB to 1 GiB; default 1 MiB. The unit of sparseness and of RAM checksums. */
  readonly blockSize?: number
  /** 16 lowercase hex digits; random by default. Fixed only in tests. */
  readonly snapshotId?: string
}

export interface WriteResult {
  readonly path: string
  readonly ramPath: string
  readonly snapshotId: string
  readonly manifest: SnapshotManifest
  readonly stateBytes: number
  readonly ramFileSize: number
  /** Guest RAM bytes actually written (non-zero blocks). */
  readonly ramBytesWritten: number
  readonly blocks: number
  readonly zeroBlocks: number
  /** Old RAM file and stale temps deleted after the commit. */
  readonly removed: ReadonlyArray<string>
}

const buildManifest = (
  input: ManifestInput,
  snapshotId: string,
  createdAt: string,
  ramFile: string,
  ram: { fileSize: number; blockSize: number; regions: ReadonlyArray<RamRegionEntry> },
  chunks: ReadonlyArray<ChunkEntry>
): SnapshotManifest => ({
  formatVersion: FORMAT_VERSION,
  snapshotId,
  createdAt,
  writer: { name: "bhyve-ts", version: input.writerVersion ?? WRITER_VERSION },
  host: input.host,
  machine: input.machine,
  vcpuCount: input.vcpuCount,
  devices: input.devices,
  chunks,
  ram: { file: ramFile, ...ram }
})

/** Chunks laid out back to back after the header. */
const chunkEntries = (chunks: ReadonlyArray<ChunkInput>): Array<ChunkEntry> => {
  let offset = STATE_HEADER_LENGTH
  return chunks.map((c) => {
    const entry = { id: c.id, kind: c.kind, schema: c.schemaId, version: c.version, offset, length: c.payload.length, sha256: sha256Hex(c.payload) }
    offset += c.payload.length
    return entry
  })
}

export const writeSnapshot = (options: WriteSnapshotOptions): Effect.Effect<WriteResult, SnapshotWriteError, SnapshotFs> =>
  Effect.gen(function* () {
    const fs = yield* SnapshotFs
    const statePath = options.path
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE
    const snapshotId = options.snapshotId ?? randomBytes(8).toString("hex")
    const names = namesFor(statePath, snapshotId)
    const invalid = (step: WriteStep, detail: string) =>
      new SnapshotWriteError({ step, path: statePath, code: "EINVAL", detail, committed: false })

    // Everything that can be checked is checked before the first byte is written.
    const layout = yield* Either.mapLeft(layoutRam(options.ram), (d) => invalid("validate", d))
    const createdAt = new Date(yield* Clock.currentTimeMillis).toISOString()
    const entries = chunkEntries(options.chunks)
    const draftRegions = layout.regions.map((r) => ({
      slot: r.slot,
      gpa: r.gpa,
      size: r.size,
      fileOffset: r.fileOffset,
      blocks: Array.from({ length: Math.ceil(r.size / blockSize) }, () => "zero")
    }))
    yield* Either.mapLeft(
      encodeManifest(buildManifest(options.manifest, snapshotId, createdAt, names.ramFile, { fileSize: layout.fileSize, blockSize, regions: draftRegions }, entries)),
      (d) => invalid("validate", d)
    )

    // Renaming onto an existing F.<id>.ram would clobber the current snapshot's RAM before the commit.
    const existing = yield* fs.readdir(names.dir).pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
    if (existing.includes(names.ramFile)) return yield* invalid("validate", `${names.ramFile} already exists: every save needs a new snapshot id`)

    // Files this save created and must remove if it fails before the commit.
    const created = new Set<string>()
    let committed = false
    const create = <A, E>(p: string, use: (file: FileHandle) => Effect.Effect<A, E>) =>
      withFile(fs, p, "create", (file) => Effect.sync(() => created.add(p)).pipe(Effect.zipRight(use(file))))

    const save = Effect.gen(function* () {
      const ram = yield* create(names.ramTemp, (file) =>
        Effect.tap((options.ramSource ?? pausedRam).write(fs, file, layout, snapshotId, blockSize), () => fs.fsync(file))
      )
      yield* Effect.uninterruptible(
        Effect.tap(fs.rename(names.ramTemp, names.ramPath), () => {
          created.delete(names.ramTemp)
          created.add(names.ramPath)
        })
      )
      // The RAM file's name must be durable before any state file names it.
      yield* fsyncDirectory(fs, names.dir)

      const manifest = buildManifest(options.manifest, snapshotId, createdAt, names.ramFile, { fileSize: ram.fileSize, blockSize, regions: ram.regions }, entries)
      const manifestBytes = yield* Either.mapLeft(encodeManifest(manifest), (d) => invalid("encode", d))
      const manifestOffset = entries.length === 0 ? STATE_HEADER_LENGTH : entries[entries.length - 1].offset + entries[entries.length - 1].length
      const header = encodeStateHeader({ manifestOffset, manifestLength: manifestBytes.length, manifestSha256: sha256(manifestBytes) })
      yield* create(names.stateTemp, (file) =>
        Effect.gen(function* () {
          yield* writeAll(fs, file, header, 0)
          for (const [i, c] of options.chunks.entries()) yield* writeAll(fs, file, c.payload, entries[i].offset)
          yield* writeAll(fs, file, manifestBytes, manifestOffset)
          yield* fs.fsync(file)
        })
      )

      // Read as late as possible: the RAM file the snapshot being replaced depends on.
      const previous = yield* readManifest(statePath).pipe(
        Effect.map(({ manifest: m }) => m.ram.file),
        Effect.option,
        Effect.provideService(SnapshotFs, fs)
      )
      yield* Effect.uninterruptible(
        Effect.tap(fs.rename(names.stateTemp, statePath), () => {
          committed = true
          created.clear()
        })
      )
      yield* fsyncDirectory(fs, names.dir)

      // Only once the new pair is durable may the old RAM file go.
      const removed: Array<string> = []
      if (Option.isSome(previous) && previous.value !== names.ramFile && isRamFileOf(names.base, previous.value)) {
        const old = path.join(names.dir, previous.value)
        if (yield* fs.unlink(old).pipe(Effect.as(true), Effect.orElseSucceed(() => false))) removed.push(old)
      }
      removed.push(...(yield* removeStaleTemps(fs, statePath)))

      const result: WriteResult = {
        path: statePath,
        ramPath: names.ramPath,
        snapshotId,
        manifest,
        stateBytes: manifestOffset + manifestBytes.length,
        ramFileSize: ram.fileSize,
        ramBytesWritten: ram.bytesWritten,
        blocks: ram.blocks,
        zeroBlocks: ram.zeroBlocks,
        removed
      }
      return result
    })

    const discard = Effect.suspend(() => Effect.forEach([...created], (p) => Effect.ignore(fs.unlink(p)), { discard: true }))

    return yield* save.pipe(
      Effect.onError(() => discard),
      Effect.mapError((e) =>
        e instanceof SnapshotFsError ? new SnapshotWriteError({ step: e.op, path: e.path, code: e.code, detail: "", committed }) : e
      )
    )
  })
