import * as Schema from "effect/Schema"
import { MachineConfig } from "../../machine/MachineConfig.js"
import { RAM_HEADER_LENGTH } from "./RamHeader.js"

/**
 * The manifest: a JSON document at the end of the state file that says what
 * is in the snapshot and where. Decoded strictly (excess properties are
 * errors): a reader that does not know a field refuses the file rather than
 * silently dropping state.
 */

export const PAGE_SIZE = 4096

const Uint53 = Schema.Int.pipe(Schema.nonNegative()).annotations({ identifier: "Uint53" })
const Uint16 = Schema.Int.pipe(Schema.between(0, 0xffff))
const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256))
const Text = Schema.String.pipe(Schema.maxLength(4096))
const pageAligned = (what: string) => (n: number) => n % PAGE_SIZE === 0 || `${what} ${n} is not a multiple of ${PAGE_SIZE}`

export const Sha256Hex = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)).annotations({ identifier: "Sha256Hex" })

export const SnapshotId = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{16}$/)).annotations({ identifier: "SnapshotId" })

/** "device/com1", "vcpu/0", "vm/irqchip": a path-like name, no spaces. */
export const ChunkId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/)).annotations({ identifier: "ChunkId" })

/** A basename only (no directory part), so a manifest cannot point the reader at another file. */
export const RamFileName = Schema.String.pipe(Schema.pattern(/^[^/\\\0]{1,200}\.[0-9a-f]{16}\.ram$/)).annotations({
  identifier: "RamFileName"
})

export const IsoTimestamp = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/),
  Schema.filter((s) => !Number.isNaN(Date.parse(s)) || "not a valid date")
).annotations({ identifier: "IsoTimestamp" })

export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | { readonly [key: string]: JsonValue }

export const JsonValue: Schema.Schema<JsonValue> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Finite,
  Schema.String,
  Schema.Array(Schema.suspend((): Schema.Schema<JsonValue> => JsonValue)),
  Schema.Record({ key: Schema.String, value: Schema.suspend((): Schema.Schema<JsonValue> => JsonValue) })
).annotations({ identifier: "JsonValue" })

export const FormatVersion = Schema.Struct({ major: Uint16, minor: Uint16 }).annotations({ identifier: "FormatVersion" })

export const Writer = Schema.Struct({ name: Schema.Literal("bhyve-ts"), version: Text }).annotations({ identifier: "Writer" })

/** Where the snapshot was taken; restoring on a different CPU may need CPUID/MSR checks (the lead's call). */
export const HostInfo = Schema.Struct({ cpuVendor: Text, cpuModel: Text, kernelRelease: Text }).annotations({ identifier: "HostInfo" })
export type HostInfo = typeof HostInfo.Type

export const DeviceEntry = Schema.Struct({ id: Name, kind: Name, config: JsonValue }).annotations({ identifier: "DeviceEntry" })
export type DeviceEntry = typeof DeviceEntry.Type

export const ChunkEntry = Schema.Struct({
  id: ChunkId,
  kind: Name,
  /** Identifier of the payload's schema, e.g. "uart16550". */
  schema: Name,
  version: Schema.Int.pipe(Schema.between(1, 0xffff)),
  offset: Uint53,
  length: Uint53,
  sha256: Sha256Hex
}).annotations({ identifier: "ChunkEntry" })
export type ChunkEntry = typeof ChunkEntry.Type

/** "zero": the block is all zero bytes and is a hole in the RAM file. */
export const BlockDigest = Schema.Union(Schema.Literal("zero"), Sha256Hex).annotations({ identifier: "BlockDigest" })

export const RamRegionEntry = Schema.Struct({
  slot: Uint16,
  gpa: Uint53.pipe(Schema.filter(pageAligned("gpa"))),
  size: Uint53.pipe(Schema.positive(), Schema.filter(pageAligned("size"))),
  /** Where the region's first byte sits in the RAM file. */
  fileOffset: Uint53.pipe(Schema.filter(pageAligned("fileOffset"))),
  /** One entry per blockSize bytes of the region (the last block may be shorter). */
  blocks: Schema.Array(BlockDigest)
}).annotations({ identifier: "RamRegionEntry" })
export type RamRegionEntry = typeof RamRegionEntry.Type

export const RamEntry = Schema.Struct({
  file: RamFileName,
  fileSize: Uint53,
  blockSize: Schema.Int.pipe(
    Schema.between(PAGE_SIZE, 1 << 30),
    Schema.filter((n) => (n & (n - 1)) === 0 || "must be a power of two")
  ),
  regions: Schema.Array(RamRegionEntry)
}).annotations({ identifier: "RamEntry" })
export type RamEntry = typeof RamEntry.Type

const ManifestFields = Schema.Struct({
  formatVersion: FormatVersion,
  snapshotId: SnapshotId,
  createdAt: IsoTimestamp,
  writer: Writer,
  host: HostInfo,
  machine: MachineConfig,
  vcpuCount: Schema.Int.pipe(Schema.between(1, 1024)),
  devices: Schema.Array(DeviceEntry),
  chunks: Schema.Array(ChunkEntry),
  ram: RamEntry
})

type Issue = { readonly path: ReadonlyArray<PropertyKey>; readonly message: string }

const duplicates = (ids: ReadonlyArray<string>, at: (i: number) => ReadonlyArray<PropertyKey>): Array<Issue> => {
  const seen = new Set<string>()
  return ids.flatMap((id, i) => (seen.has(id) ? [{ path: at(i), message: `duplicate id ${JSON.stringify(id)}` }] : (seen.add(id), [])))
}

/** Facts that span fields: what a single field's schema cannot see. */
const crossCheck = (m: typeof ManifestFields.Type): Array<Issue> => {
  const issues: Array<Issue> = [
    ...duplicates(m.chunks.map((c) => c.id), (i) => ["chunks", i, "id"]),
    ...duplicates(m.devices.map((d) => d.id), (i) => ["devices", i, "id"])
  ]
  if (!m.ram.file.endsWith(`.${m.snapshotId}.ram`)) {
    issues.push({ path: ["ram", "file"], message: `does not name snapshot ${m.snapshotId}` })
  }
  m.chunks.forEach((c, i) => {
    if (c.offset + c.length > Number.MAX_SAFE_INTEGER) issues.push({ path: ["chunks", i], message: "ends beyond 2^53" })
  })
  let end = RAM_HEADER_LENGTH
  m.ram.regions.forEach((r, i) => {
    const at = ["ram", "regions", i]
    const blocks = Math.ceil(r.size / m.ram.blockSize)
    if (r.blocks.length !== blocks) issues.push({ path: [...at, "blocks"], message: `has ${r.blocks.length} entries, expected ${blocks}` })
    if (r.fileOffset < end) issues.push({ path: [...at, "fileOffset"], message: `${r.fileOffset} overlaps the RAM header or the previous region (ends at ${end})` })
    end = r.fileOffset + r.size
    if (end > m.ram.fileSize) issues.push({ path: [...at, "size"], message: `region ends at ${end}, beyond the RAM file size ${m.ram.fileSize}` })
  })
  return issues
}

export const SnapshotManifest = ManifestFields.pipe(Schema.filter(crossCheck)).annotations({ identifier: "SnapshotManifest" })
export type SnapshotManifest = typeof SnapshotManifest.Type
