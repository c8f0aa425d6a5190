import * as Either from "effect/Either"
import { equalBytes, sha256 } from "./Digest.js"
import { BadMagic, ChecksumMismatch, HeaderInvalid, Truncated, UnsupportedVersion, type Version } from "./SnapshotErrors.js"

/**
 * The fixed header at the start of a state file (little-endian):
 *
 *   0  magic "BHYVESNP"          8
 *   8  format major              u16
 *  10  format minor              u16
 *  12  header length             u32   (96 in 1.0; payloads start here)
 *  16  manifest offset           u64
 *  24  manifest length           u64
 *  32  SHA-256 of the manifest   32
 *  64  SHA-256 of bytes 0..63    32
 *
 * Magic and version sit first and never move, so any future build can say
 * "unsupported version" instead of "corrupt".
 */

export const STATE_MAGIC = "BHYVESNP"
export const FORMAT_VERSION: Version = { major: 1, minor: 0 }
export const STATE_HEADER_LENGTH = 96
/** A later minor may grow the header; this bounds how far a 1.x reader lets it. */
export const MAX_STATE_HEADER_LENGTH = 4096

const CHECKED = 64

export interface StateHeader {
  readonly version: Version
  readonly headerLength: number
  readonly manifestOffset: number
  readonly manifestLength: number
  readonly manifestSha256: Uint8Array
}

export const encodeStateHeader = (h: Omit<StateHeader, "version" | "headerLength">): Uint8Array => {
  const bytes = new Uint8Array(STATE_HEADER_LENGTH)
  const view = new DataView(bytes.buffer)
  bytes.set(Buffer.from(STATE_MAGIC, "latin1"), 0)
  view.setUint16(8, FORMAT_VERSION.major, true)
  view.setUint16(10, FORMAT_VERSION.minor, true)
  view.setUint32(12, STATE_HEADER_LENGTH, true)
  view.setBigUint64(16, BigInt(h.manifestOffset), true)
  view.setBigUint64(24, BigInt(h.manifestLength), true)
  bytes.set(h.manifestSha256, 32)
  bytes.set(sha256(bytes.subarray(0, CHECKED)), CHECKED)
  return bytes
}

export type StateHeaderError = BadMagic | UnsupportedVersion | Truncated | ChecksumMismatch | HeaderInvalid

/** Decodes the first bytes of a file (up to STATE_HEADER_LENGTH of them) whose full size is `size`. */
export const decodeStateHeader = (path: string, bytes: Uint8Array, size: number): Either.Either<StateHeader, StateHeaderError> => {
  const truncated = () => Either.left(new Truncated({ path, what: "header", offset: 0, needed: STATE_HEADER_LENGTH, size }))
  if (bytes.length < 8) return truncated()
  if (Buffer.from(bytes.subarray(0, 8)).toString("latin1") !== STATE_MAGIC) return Either.left(new BadMagic({ path, expected: STATE_MAGIC }))
  if (bytes.length < 12) return truncated()
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = { major: view.getUint16(8, true), minor: view.getUint16(10, true) }
  if (version.major !== FORMAT_VERSION.major) return Either.left(new UnsupportedVersion({ path, found: version, supported: FORMAT_VERSION }))
  if (bytes.length < STATE_HEADER_LENGTH) return truncated()
  if (!equalBytes(sha256(bytes.subarray(0, CHECKED)), bytes.subarray(CHECKED, CHECKED + 32))) {
    return Either.left(new ChecksumMismatch({ path, what: "header" }))
  }
  const headerLength = view.getUint32(12, true)
  const manifestOffset = view.getBigUint64(16, true)
  const manifestLength = view.getBigUint64(24, true)
  const invalid = (reason: string) => Either.left(new HeaderInvalid({ path, reason }))
  if (headerLength < STATE_HEADER_LENGTH || headerLength > MAX_STATE_HEADER_LENGTH) {
    return invalid(`header length ${headerLength} is outside ${STATE_HEADER_LENGTH}..${MAX_STATE_HEADER_LENGTH}`)
  }
  if (manifestOffset > BigInt(Number.MAX_SAFE_INTEGER) || manifestLength > BigInt(Number.MAX_SAFE_INTEGER)) {
    return invalid("manifest offset or length is beyond 2^53")
  }
  if (manifestOffset < BigInt(headerLength)) return invalid(`manifest offset ${manifestOffset} lies inside the header`)
  return Either.right({
    version,
    headerLength,
    manifestOffset: Number(manifestOffset),
    manifestLength: Number(manifestLength),
    manifestSha256: bytes.slice(32, 64)
  })
}
