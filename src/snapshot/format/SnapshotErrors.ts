import * as Data from "effect/Data"

/** What went wrong reading or writing a snapshot; each message names the file and the part. */

export interface Version {
  readonly major: number
  readonly minor: number
}

export type WriteStep =
  | "validate"
  | "encode"
  | "open"
  | "ftruncate"
  | "write"
  | "fsync"
  | "close"
  | "rename"
  | "read"
  | "fstat"
  | "seek"
  | "readdir"
  | "unlink"

export class SnapshotWriteError extends Data.TaggedError("SnapshotWriteError")<{
  readonly step: WriteStep
  readonly path: string
  /** errno name for file-system steps ("ENOSPC", "EIO"); "EINVAL" for validate/encode. */
  readonly code: string
  readonly detail: string
  /**
   * True only when the new state file was already renamed into place (the
   * final directory fsync failed): the new snapshot is there but may not
   * survive a crash. False means the previous snapshot is untouched.
   */
  readonly committed: boolean
}> {
  override get message() {
    const outcome = this.committed
      ? "the new snapshot is in place but may not be durable"
      : "the previous snapshot, if any, is unchanged"
    return `saving snapshot: ${this.step} ${this.path} failed (${this.code}${this.detail ? `: ${this.detail}` : ""}); ${outcome}`
  }
}

export class SnapshotIoError extends Data.TaggedError("SnapshotIoError")<{
  readonly path: string
  readonly op: string
  readonly code: string
}> {
  override get message() {
    return `${this.path}: ${this.op} failed (${this.code})`
  }
}

export class BadMagic extends Data.TaggedError("BadMagic")<{ readonly path: string; readonly expected: string }> {
  override get message() {
    return `${this.path}: not a bhyve-ts snapshot file (does not start with "${this.expected}")`
  }
}

export class UnsupportedVersion extends Data.TaggedError("UnsupportedVersion")<{
  readonly path: string
  readonly found: Version
  readonly supported: Version
}> {
  override get message() {
    return `${this.path}: unsupported snapshot format version ${this.found.major}.${this.found.minor} (this build reads ${this.supported.major}.x)`
  }
}

/** A header whose checksum is right but whose fields contradict each other. */
export class HeaderInvalid extends Data.TaggedError("HeaderInvalid")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `${this.path}: invalid header: ${this.reason}`
  }
}

export class Truncated extends Data.TaggedError("Truncated")<{
  readonly path: string
  readonly what: string
  readonly offset: number
  readonly needed: number
  readonly size: number
}> {
  override get message() {
    return `${this.path}: truncated: ${this.what} needs ${this.needed} bytes at offset ${this.offset}, but the file is ${this.size} bytes`
  }
}

export class ChecksumMismatch extends Data.TaggedError("ChecksumMismatch")<{
  readonly path: string
  /** "header", "manifest", "chunk device/com1", "ram header", "ram block 17 (gpa 0x1100000)". */
  readonly what: string
}> {
  override get message() {
    return `${this.path}: checksum mismatch in ${this.what}: the file is corrupt`
  }
}

export class LimitExceeded extends Data.TaggedError("LimitExceeded")<{
  readonly path: string
  readonly what: string
  readonly limit: number
  readonly found: number
}> {
  override get message() {
    return `${this.path}: ${this.what} is ${this.found} bytes, more than the ${this.limit} this reader accepts`
  }
}

export class ManifestInvalid extends Data.TaggedError("ManifestInvalid")<{
  readonly path: string
  /** One line per problem, each with its JSON path, e.g. `at ["chunks"][0]["sha256"]: ...`. */
  readonly details: string
}> {
  override get message() {
    return `${this.path}: invalid manifest:\n${this.details}`
  }
}

export class ChunkInvalid extends Data.TaggedError("ChunkInvalid")<{
  readonly path: string
  readonly chunkId: string
  readonly details: string
}> {
  override get message() {
    return `${this.path}: chunk ${this.chunkId} is invalid:\n${this.details}`
  }
}

export class RamFileMismatch extends Data.TaggedError("RamFileMismatch")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `${this.path}: RAM file does not match the snapshot: ${this.reason}`
  }
}

/** Encoding a value for a chunk failed: the in-memory state breaks its own schema. */
export class ChunkEncodeError extends Data.TaggedError("ChunkEncodeError")<{
  readonly chunkId: string
  readonly details: string
}> {
  override get message() {
    return `cannot encode chunk ${this.chunkId}:\n${this.details}`
  }
}

export type SnapshotReadError =
  | SnapshotIoError
  | BadMagic
  | UnsupportedVersion
  | HeaderInvalid
  | Truncated
  | ChecksumMismatch
  | LimitExceeded
  | ManifestInvalid
  | ChunkInvalid
  | RamFileMismatch

export const readErrorTags: ReadonlyArray<SnapshotReadError["_tag"]> = [
  "SnapshotIoError",
  "BadMagic",
  "UnsupportedVersion",
  "HeaderInvalid",
  "Truncated",
  "ChecksumMismatch",
  "LimitExceeded",
  "ManifestInvalid",
  "ChunkInvalid",
  "RamFileMismatch"
]
