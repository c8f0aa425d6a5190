import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type FsOp, SnapshotFs, SnapshotFsError, type SnapshotFsService } from "./SnapshotFs.js"
import * as SnapshotFsLive from "./SnapshotFsLive.js"

/**
 * Fault injection over another SnapshotFs (the live one by default): records
 * every call and lets a plan fail any one of them with an errno, or make a
 * read/write short. The harness for "what if the Nth call fails".
 */

export interface FsCall {
  /** 0-based position among all calls made through this service. */
  readonly index: number
  readonly op: FsOp
  readonly path: string
}

export type Fault =
  | { readonly _tag: "Fail"; readonly code: string }
  /** A read or write that moves only half the bytes asked for (at least one). */
  | { readonly _tag: "Short" }

export type FaultPlan = (call: FsCall, nthOfOp: number) => Fault | undefined

export interface FaultyFs {
  readonly service: SnapshotFsService
  readonly layer: Layer.Layer<SnapshotFs>
  /** Every call so far, in order, faulted or not. */
  readonly calls: ReadonlyArray<FsCall>
}

export const noFaults: FaultPlan = () => undefined

/** Fails call number `n` (0-based) of all calls, or of calls of `op` only. */
export const failNth = (n: number, code = "EIO", op?: FsOp): FaultPlan => (call, nthOfOp) =>
  (op === undefined ? call.index === n : call.op === op && nthOfOp === n) ? { _tag: "Fail", code } : undefined

/** Makes every read and write short. */
export const shortIo: FaultPlan = (call) => (call.op === "read" || call.op === "write" ? { _tag: "Short" } : undefined)

export const make = (plan: FaultPlan, inner: SnapshotFsService = SnapshotFsLive.make()): FaultyFs => {
  const calls: Array<FsCall> = []
  const perOp = new Map<FsOp, number>()

  const guard = <A>(op: FsOp, path: string, run: (fault: Fault | undefined) => Effect.Effect<A, SnapshotFsError>) =>
    Effect.suspend(() => {
      const call: FsCall = { index: calls.length, op, path }
      const nth = perOp.get(op) ?? 0
      perOp.set(op, nth + 1)
      calls.push(call)
      const fault = plan(call, nth)
      return fault?._tag === "Fail" ? Effect.fail(new SnapshotFsError({ op, path, code: fault.code })) : run(fault)
    })

  const half = (buffer: Uint8Array, fault: Fault | undefined) =>
    fault?._tag === "Short" && buffer.length > 1 ? buffer.subarray(0, buffer.length >>> 1) : buffer

  const service: SnapshotFsService = {
    open: (path, mode) => guard("open", path, () => inner.open(path, mode)),
    close: (f) => guard("close", f.path, () => inner.close(f)),
    read: (f, buffer, position) => guard("read", f.path, (fault) => inner.read(f, half(buffer, fault), position)),
    write: (f, buffer, position) => guard("write", f.path, (fault) => inner.write(f, half(buffer, fault), position)),
    fsync: (f) => guard("fsync", f.path, () => inner.fsync(f)),
    ftruncate: (f, length) => guard("ftruncate", f.path, () => inner.ftruncate(f, length)),
    fstat: (f) => guard("fstat", f.path, () => inner.fstat(f)),
    nextData: (f, position) => guard("seek", f.path, () => inner.nextData(f, position)),
    rename: (from, to) => guard("rename", from, () => inner.rename(from, to)),
    unlink: (path) => guard("unlink", path, () => inner.unlink(path)),
    readdir: (path) => guard("readdir", path, () => inner.readdir(path))
  }
  return { service, layer: Layer.succeed(SnapshotFs, service), calls }
}
