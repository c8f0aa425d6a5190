import { createHash } from "node:crypto"
import { closeSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs"

/**
 * Byte-level surgery on real snapshot files, for tests that must get past
 * the checksums to the checks behind them. Written from docs/snapshot-format.md
 * alone (not from the writer's code), so a test using it also checks that
 * the document says enough to produce a file the reader accepts:
 *
 *   state file: header (magic "BHYVESNP", major u16, minor u16, header
 *   length u32, manifest offset u64, manifest length u64, manifest SHA-256,
 *   SHA-256 of bytes 0..63), chunk payloads, manifest (JSON) at the end.
 *   RAM file: 4096-byte header ("BHYVERAM", major, minor, length, snapshot
 *   id, file size, zeros, SHA-256 of bytes 0..4063), then regions.
 */

export const STATE_HEADER_LENGTH = 96
export const RAM_HEADER_LENGTH = 4096

const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash("sha256").update(bytes).digest())
const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
const utf8 = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

export type Json = null | boolean | number | string | Array<Json> | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

export interface ChunkEntry {
  id: string
  kind: string
  schema: string
  version: number
  offset: number
  length: number
  sha256: string
}

export interface RamRegion {
  slot: number
  gpa: number
  size: number
  fileOffset: number
  blocks: Array<string>
}

/** The parts of the manifest these tests touch; the rest rides along untyped. */
export interface Manifest extends JsonObject {
  formatVersion: { major: number; minor: number }
  snapshotId: string
  devices: Array<{ id: string; kind: string; config: Json }>
  chunks: Array<ChunkEntry & JsonObject>
  ram: { file: string; fileSize: number; blockSize: number; regions: Array<RamRegion & JsonObject> } & JsonObject
}

export interface StateFile {
  readonly bytes: Uint8Array
  readonly major: number
  readonly minor: number
  readonly headerLength: number
  readonly manifestOffset: number
  readonly manifestLength: number
  readonly manifest: Manifest
  /** Payloads by chunk id, in manifest order. */
  readonly chunks: ReadonlyMap<string, Uint8Array>
}

/** Parses an intact state file (throws on anything else: it is for making test inputs, not for reading hostile ones). */
export const parseStateFile = (bytes: Uint8Array): StateFile => {
  const v = view(bytes)
  const manifestOffset = Number(v.getBigUint64(16, true))
  const manifestLength = Number(v.getBigUint64(24, true))
  const manifest = JSON.parse(utf8(bytes.subarray(manifestOffset, manifestOffset + manifestLength))) as Manifest
  return {
    bytes,
    major: v.getUint16(8, true),
    minor: v.getUint16(10, true),
    headerLength: v.getUint32(12, true),
    manifestOffset,
    manifestLength,
    manifest,
    chunks: new Map(manifest.chunks.map((c) => [c.id, bytes.slice(c.offset, c.offset + c.length)]))
  }
}

export const readStateFile = (path: string): StateFile => parseStateFile(new Uint8Array(readFileSync(path)))

/** A chunk's payload as JSON. */
export const chunkJson = (file: StateFile, id: string): JsonObject => {
  const bytes = file.chunks.get(id)
  if (bytes === undefined) throw new Error(`no chunk ${id}`)
  return JSON.parse(utf8(bytes)) as JsonObject
}

export interface NewChunk {
  readonly id: string
  readonly kind: string
  readonly schema: string
  readonly version: number
  readonly payload: Uint8Array
}

export interface Reseal {
  readonly major?: number
  readonly minor?: number
  /** New payloads (JSON is stringified) for existing chunks, by id. */
  readonly chunks?: { readonly [id: string]: Json | Uint8Array }
  /** Chunks appended after the existing ones. */
  readonly extraChunks?: ReadonlyArray<NewChunk>
  /**
   * Edits the manifest after the chunks were laid out and their entries
   * (offset, length, sha256) recomputed: an edit here wins, so it can point
   * an entry anywhere.
   */
  readonly manifest?: (manifest: Manifest) => void
  /** Header fields written as given (after the checksums are computed from the true values, the header checksum is recomputed over them). */
  readonly header?: { readonly manifestOffset?: bigint; readonly manifestLength?: bigint; readonly headerLength?: number }
}

/**
 * Rebuilds a state file with edits and every checksum recomputed, as
 * docs/snapshot-format.md lays it out: header, chunk payloads back to back
 * in manifest order, the manifest; each chunk's SHA-256 in its manifest
 * entry, the manifest's in the header, the header's over bytes 0..63.
 */
export const reseal = (file: StateFile, edit: Reseal = {}): Uint8Array => {
  const manifest = structuredClone(file.manifest)
  const payloads: Array<Uint8Array> = []
  let at = STATE_HEADER_LENGTH
  const place = (entry: ChunkEntry, payload: Uint8Array) => {
    entry.offset = at
    entry.length = payload.length
    entry.sha256 = sha256Hex(payload)
    payloads.push(payload)
    at += payload.length
  }
  for (const entry of manifest.chunks) {
    const replaced = edit.chunks?.[entry.id]
    const payload =
      replaced === undefined
        ? file.chunks.get(entry.id)
        : replaced instanceof Uint8Array
          ? replaced
          : new TextEncoder().encode(JSON.stringify(replaced))
    if (payload === undefined) throw new Error(`no chunk ${entry.id}`)
    place(entry, payload)
  }
  for (const extra of edit.extraChunks ?? []) {
    const entry = { id: extra.id, kind: extra.kind, schema: extra.schema, version: extra.version, offset: 0, length: 0, sha256: "" }
    place(entry, extra.payload)
    manifest.chunks.push(entry)
  }
  if (edit.major !== undefined || edit.minor !== undefined) {
    manifest.formatVersion = { major: edit.major ?? file.major, minor: edit.minor ?? file.minor }
  }
  edit.manifest?.(manifest)
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest))
  const out = new Uint8Array(at + manifestBytes.length)
  let offset = STATE_HEADER_LENGTH
  for (const p of payloads) {
    out.set(p, offset)
    offset += p.length
  }
  out.set(manifestBytes, at)
  const v = view(out)
  out.set(new TextEncoder().encode("BHYVESNP"), 0)
  v.setUint16(8, edit.major ?? file.major, true)
  v.setUint16(10, edit.minor ?? file.minor, true)
  v.setUint32(12, edit.header?.headerLength ?? STATE_HEADER_LENGTH, true)
  v.setBigUint64(16, edit.header?.manifestOffset ?? BigInt(at), true)
  v.setBigUint64(24, edit.header?.manifestLength ?? BigInt(manifestBytes.length), true)
  out.set(sha256(manifestBytes), 32)
  out.set(sha256(out.subarray(0, 64)), 64)
  return out
}

/** A RAM file's header page with some fields replaced and its checksum recomputed. */
export const resealRamHeader = (header: Uint8Array, edit: { readonly major?: number; readonly snapshotId?: string; readonly fileSize?: number }): Uint8Array => {
  const out = header.slice(0, RAM_HEADER_LENGTH)
  const v = view(out)
  if (edit.major !== undefined) v.setUint16(8, edit.major, true)
  if (edit.snapshotId !== undefined) out.set(new TextEncoder().encode(edit.snapshotId), 16)
  if (edit.fileSize !== undefined) v.setBigUint64(32, BigInt(edit.fileSize), true)
  out.set(sha256(out.subarray(0, RAM_HEADER_LENGTH - 32)), RAM_HEADER_LENGTH - 32)
  return out
}

/** A block of the RAM file, counted across regions as the reader's errors count them. */
export interface RamBlock {
  readonly index: number
  readonly fileOffset: number
  readonly length: number
  readonly gpa: number
  readonly zero: boolean
}

export const ramBlocks = (manifest: Manifest): Array<RamBlock> => {
  const out: Array<RamBlock> = []
  for (const r of manifest.ram.regions) {
    r.blocks.forEach((digest, k) => {
      const start = k * manifest.ram.blockSize
      out.push({
        index: out.length,
        fileOffset: r.fileOffset + start,
        length: Math.min(manifest.ram.blockSize, r.size - start),
        gpa: r.gpa + start,
        zero: digest === "zero"
      })
    })
  }
  return out
}

/**
 * Writes a RAM file's bytes keeping its holes: the header page and the
 * non-zero blocks are written and the file is then sized with truncate, so
 * a 64 MiB guest costs what it touched, not 64 MiB. `size` cuts or extends it.
 */
export const writeRamSparse = (target: string, bytes: Uint8Array, manifest: Manifest, size = manifest.ram.fileSize): void => {
  const fd = openSync(target, "w", 0o600)
  try {
    const put = (from: number, length: number) => {
      const end = Math.min(from + length, size, bytes.length)
      if (end > from) writeSync(fd, bytes, from, end - from, from)
    }
    put(0, RAM_HEADER_LENGTH)
    for (const b of ramBlocks(manifest)) if (!b.zero) put(b.fileOffset, b.length)
  } finally {
    closeSync(fd)
  }
  truncateSync(target, size)
}
