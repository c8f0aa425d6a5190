import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { errnoName } from "../../kernel/KvmError.js"
import { loadNativeKvm, type NativeKvm } from "../../kernel/NativeKvm.js"
import { type FileHandle, type FsOp, type OpenMode, SnapshotFs, SnapshotFsError, type SnapshotFsService } from "./SnapshotFs.js"

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = fs.constants

const flags: Record<OpenMode, number> = {
  create: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
  read: O_RDONLY | O_NONBLOCK,
  directory: O_RDONLY | O_DIRECTORY
}

const codeOf = (e: unknown): string => {
  if (typeof e === "object" && e !== null && "code" in e && typeof e.code === "string") return e.code
  return e instanceof Error ? e.message : String(e)
}

const call = <A>(op: FsOp, path: string, f: () => A): Effect.Effect<A, SnapshotFsError> =>
  Effect.try({ try: f, catch: (e) => new SnapshotFsError({ op, path, code: codeOf(e) }) })

/**
 * On libuv's pool, for the calls that wait on the disk: flushing a file, or
 * unlinking the old snapshot's RAM file (freeing 256 MiB of extents took 56
 * ms here), can take tens to hundreds of milliseconds, and a background
 * checkpoint's guest runs on this thread meanwhile (the run loop is kicked
 * when the call completes).
 */
const onPool = (op: FsOp, path: string, start: (done: (e: NodeJS.ErrnoException | null) => void) => void) =>
  Effect.async<void, SnapshotFsError>((resume) =>
    start((e) => resume(e === null ? Effect.void : Effect.fail(new SnapshotFsError({ op, path, code: codeOf(e) }))))
  )

const ENXIO = "ENXIO"

/**
 * The real thing: synchronous node:fs calls (the fastest path), but for
 * fsync and unlink, which wait on the disk (onPool). SEEK_DATA needs the native addon; without it every
 * offset counts as data (holes are then read, which is only slower).
 */
export const make = (native?: Pick<NativeKvm, "seekData">): SnapshotFsService => ({
  open: (path, mode) => call("open", path, (): FileHandle => ({ fd: fs.openSync(path, flags[mode], 0o600), path })),
  close: (f) => call("close", f.path, () => fs.closeSync(f.fd)),
  read: (f, buffer, position) => call("read", f.path, () => fs.readSync(f.fd, buffer, 0, buffer.length, position)),
  write: (f, buffer, position) => call("write", f.path, () => fs.writeSync(f.fd, buffer, 0, buffer.length, position)),
  fsync: (f) => onPool("fsync", f.path, (done) => fs.fsync(f.fd, done)),
  ftruncate: (f, length) => call("ftruncate", f.path, () => fs.ftruncateSync(f.fd, length)),
  fstat: (f) =>
    call("fstat", f.path, () => {
      const s = fs.fstatSync(f.fd)
      return { size: s.size, blocks: s.blocks, mode: s.mode, isFile: s.isFile() }
    }),
  nextData: (f, position) =>
    Effect.suspend(() => {
      if (native === undefined) return Effect.succeed(position)
      const at = native.seekData(f.fd, position)
      if (at >= 0) return Effect.succeed(at)
      const code = errnoName(-at)
      return code === ENXIO ? Effect.succeed(undefined) : Effect.fail(new SnapshotFsError({ op: "seek", path: f.path, code }))
    }),
  rename: (from, to) => call("rename", from, () => fs.renameSync(from, to)),
  unlink: (path) => onPool("unlink", path, (done) => fs.unlink(path, done)),
  readdir: (path) => call("readdir", path, () => fs.readdirSync(path))
})

export const layer: Layer.Layer<SnapshotFs> = Layer.effect(
  SnapshotFs,
  Effect.map(Effect.option(loadNativeKvm), (native) => make(Option.getOrUndefined(native)))
)
