import * as Either from "effect/Either"
import { equalBytes, sha256 } from "./Digest.js"
import { BadMagic, ChecksumMismatch, HeaderInvalid, Truncated, UnsupportedVersion } from "./SnapshotErrors.js"
import { FORMAT_VERSION } from "./StateHeader.js"

/**
 * The first page of a RAM file (little-endian); guest RAM follows at page
 * aligned offsets so the file can later be mmapped MAP_PRIVATE:
 *
 *     0  magic "BHYVERAM"              8
 *     8  format major                  u16
 *    10  format minor                  u16
 *    12  header length                 u32  (4096)
 *    16  snapshot id, 16 ASCII hex     16
 *    32  file size                     u64
 *    40  zero
 *  4064  SHA-256 of bytes 0..4063      32
 *
 * The id ties the file to one state file: a RAM file left over from another
 * save is rejected even if its size happens to match.
 */

export const RAM_MAGIC = "BHYVERAM"
export const RAM_HEADER_LENGTH = 4096
const CHECKED = RAM_HEADER_LENGTH - 32

export interface RamHeader {
  readonly snapshotId: string
  readonly fileSize: number
}

export const encodeRamHeader = (h: RamHeader): Uint8Array => {
  const bytes = new Uint8Array(RAM_HEADER_LENGTH)
  const view = new DataView(bytes.buffer)
  bytes.set(Buffer.from(RAM_MAGIC, "latin1"), 0)
  view.setUint16(8, FORMAT_VERSION.major, true)
  view.setUint16(10, FORMAT_VERSION.minor, true)
  view.setUint32(12, RAM_HEADER_LENGTH, true)
  bytes.set(Buffer.from(h.snapshotId, "latin1").subarray(0, 16), 16)
  view.setBigUint64(32, BigInt(h.fileSize), true)
  bytes.set(sha256(bytes.subarray(0, CHECKED)), CHECKED)
  return bytes
}

export type RamHeaderError = BadMagic | UnsupportedVersion | Truncated | ChecksumMismatch | HeaderInvalid

/** Decodes `bytes` (what could be read of the first RAM_HEADER_LENGTH bytes) of a RAM file of `size` bytes. */
export const decodeRamHeader = (path: string, bytes: Uint8Array, size: number): Either.Either<RamHeader, RamHeaderError> => {
  if (bytes.length < RAM_HEADER_LENGTH) {
    return Either.left(new Truncated({ path, what: "RAM header", offset: 0, needed: RAM_HEADER_LENGTH, size }))
  }
  if (Buffer.from(bytes.subarray(0, 8)).toString("latin1") !== RAM_MAGIC) return Either.left(new BadMagic({ path, expected: RAM_MAGIC }))
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = { major: view.getUint16(8, true), minor: view.getUint16(10, true) }
  if (version.major !== FORMAT_VERSION.major) return Either.left(new UnsupportedVersion({ path, found: version, supported: FORMAT_VERSION }))
  if (!equalBytes(sha256(bytes.subarray(0, CHECKED)), bytes.subarray(CHECKED))) {
    return Either.left(new ChecksumMismatch({ path, what: "ram header" }))
  }
  const headerLength = view.getUint32(12, true)
  if (headerLength !== RAM_HEADER_LENGTH) return Either.left(new HeaderInvalid({ path, reason: `RAM header length ${headerLength}, expected ${RAM_HEADER_LENGTH}` }))
  const fileSize = view.getBigUint64(32, true)
  if (fileSize > BigInt(Number.MAX_SAFE_INTEGER)) return Either.left(new HeaderInvalid({ path, reason: "RAM file size is beyond 2^53" }))
  return Either.right({ snapshotId: Buffer.from(bytes.subarray(16, 32)).toString("latin1"), fileSize: Number(fileSize) })
}
