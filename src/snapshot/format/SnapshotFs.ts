import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"

/**
 * Every file-system call the snapshot format makes, as a service, so a test
 * can fail any single call (the Nth write, an fsync, a rename) and check that
 * the old snapshot survives. Calls are positional and synchronous underneath:
 * the guest is paused while a snapshot is written, and positional writes
 * straight from guest RAM views avoid copying.
 */

export type FsOp = "open" | "close" | "read" | "write" | "fsync" | "ftruncate" | "fstat" | "seek" | "rename" | "unlink" | "readdir"

/**
 * How a file is opened; each mode is one fixed set of flags so callers cannot
 * get the safety flags wrong:
 * - "create": write-only, O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 (a temp name that
 *   already exists, or is a symlink, fails with EEXIST/ELOOP instead of being reused)
 * - "read": read-only, O_NONBLOCK so a FIFO planted at the path cannot hang the reader
 * - "directory": read-only O_DIRECTORY, to fsync a directory after a rename
 */
export type OpenMode = "create" | "read" | "directory"

export interface FileHandle {
  readonly fd: number
  readonly path: string
}

export interface FileStat {
  readonly size: number
  /** 512-byte blocks allocated: shows whether holes stayed holes. */
  readonly blocks: number
  readonly mode: number
  readonly isFile: boolean
}

/** One failed system call: which, on what, and the errno code. */
export class SnapshotFsError extends Data.TaggedError("SnapshotFsError")<{
  readonly op: FsOp
  readonly path: string
  /** errno name, e.g. "ENOSPC", "EIO", "ENOENT". */
  readonly code: string
}> {
  override get message() {
    return `${this.op} ${this.path}: ${this.code}`
  }
}

export interface SnapshotFsService {
  readonly open: (path: string, mode: OpenMode) => Effect.Effect<FileHandle, SnapshotFsError>
  readonly close: (file: FileHandle) => Effect.Effect<void, SnapshotFsError>
  /** Reads up to `buffer.length` bytes at `position` into `buffer` itself; returns the count (0 at EOF). */
  readonly read: (file: FileHandle, buffer: Uint8Array, position: number) => Effect.Effect<number, SnapshotFsError>
  /** Writes up to `buffer.length` bytes at `position`; returns the count, which may be short. */
  readonly write: (file: FileHandle, buffer: Uint8Array, position: number) => Effect.Effect<number, SnapshotFsError>
  readonly fsync: (file: FileHandle) => Effect.Effect<void, SnapshotFsError>
  readonly ftruncate: (file: FileHandle, length: number) => Effect.Effect<void, SnapshotFsError>
  readonly fstat: (file: FileHandle) => Effect.Effect<FileStat, SnapshotFsError>
  /**
   * lseek(SEEK_DATA): the first offset at or after `position` that holds
   * data, or undefined when only a hole follows. Lets a reader skip a
   * sparse file's holes, which read as zeros without reading them.
   */
  readonly nextData: (file: FileHandle, position: number) => Effect.Effect<number | undefined, SnapshotFsError>
  /** rename(2): atomic, and replaces a symlink at `to` rather than writing through it. */
  readonly rename: (from: string, to: string) => Effect.Effect<void, SnapshotFsError>
  readonly unlink: (path: string) => Effect.Effect<void, SnapshotFsError>
  readonly readdir: (path: string) => Effect.Effect<ReadonlyArray<string>, SnapshotFsError>
}

export class SnapshotFs extends Context.Tag("bhyve-ts/snapshot/SnapshotFs")<SnapshotFs, SnapshotFsService>() {}
