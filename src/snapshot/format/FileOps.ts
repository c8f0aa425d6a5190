import * as Effect from "effect/Effect"
import { type FileHandle, type OpenMode, SnapshotFsError, type SnapshotFsService } from "./SnapshotFs.js"

/**
 * Small loops over SnapshotFs that the reader and writer share: whole-buffer
 * writes and reads (the kernel may move fewer bytes than asked), and files
 * that are always closed.
 */

/** Writes all of `bytes` at `position`, retrying short writes. */
export const writeAll = (fs: SnapshotFsService, file: FileHandle, bytes: Uint8Array, position: number) =>
  Effect.gen(function* () {
    let done = 0
    while (done < bytes.length) {
      const n = yield* fs.write(file, bytes.subarray(done), position + done)
      // A zero-byte write would loop forever; the kernel only does that on a broken device.
      if (n <= 0) return yield* Effect.fail(new SnapshotFsError({ op: "write", path: file.path, code: "EIO" }))
      done += n
    }
  })

/** Reads into `buffer` itself until it is full or the file ends; returns the count read. */
export const readFully = (fs: SnapshotFsService, file: FileHandle, buffer: Uint8Array, position: number) =>
  Effect.gen(function* () {
    let done = 0
    while (done < buffer.length) {
      const n = yield* fs.read(file, buffer.subarray(done), position + done)
      if (n <= 0) break
      done += n
    }
    return done
  })

/**
 * Opens, runs `use`, closes. On success a failed close fails the whole
 * operation (NFS reports write errors at close); on failure the close error is
 * dropped so the first error is the one reported.
 */
export const withFile = <A, E, R>(
  fs: SnapshotFsService,
  path: string,
  mode: OpenMode,
  use: (file: FileHandle) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | SnapshotFsError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(fs.open(path, mode), (file) =>
      restore(use(file)).pipe(
        Effect.onError(() => Effect.ignore(fs.close(file))),
        Effect.tap(() => fs.close(file))
      )
    )
  )

/** Makes renames in `dir` durable. */
export const fsyncDirectory = (fs: SnapshotFsService, dir: string) => withFile(fs, dir, "directory", (d) => fs.fsync(d))
