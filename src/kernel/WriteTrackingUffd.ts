import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { constants } from "node:os"
import { GuestMemory } from "./GuestMemory.js"
import { errnoName } from "./KvmError.js"
import type { GuestRam } from "./MemoryLayout.js"
import { loadNativeKvm } from "./NativeKvm.js"
import {
  type ArmOptions,
  type BackgroundWriteResult,
  type TrackingSession,
  type TrackingStats,
  WriteTracking,
  WriteTrackingFailed,
  type WriteTrackingService,
  WriteTrackingUnavailable
} from "./WriteTracking.js"

/**
 * WriteTracking on userfaultfd's write-protect mode (native/uffd_write_tracker.cc),
 * the same for KVM and the software CPU: the kernel reports every writer of
 * a protected page, whoever it is. Where userfaultfd cannot be had, arming
 * says why (the caller stops and copies instead).
 */

interface NativeFailure {
  readonly step: string
  readonly errno: number
  readonly code: string
}

interface NativeWriteDone {
  readonly op: string
  readonly errno: number
  readonly code: string
  readonly block: number
  readonly detail: string
  readonly data: Uint8Array
  readonly digests: Uint8Array
  readonly bytesWritten: number
}

/** The addon's write-tracking calls; negative errno on failure. */
export interface WriteTrackerNative {
  readonly writeTrackArm: (request: { regions: ReadonlyArray<Uint8Array>; blockSize: number; handlerDieAfter: number }) => { readonly id: number } | NativeFailure
  readonly writeTrackTake: (id: number, block: number, dest: Uint8Array) => number
  readonly writeTrackStats: (id: number) => TrackingStats | number
  readonly writeTrackWritten: (id: number) => Uint8Array | number
  readonly writeTrackWrite: (
    id: number,
    job: { fd: number; fileOffsets: ReadonlyArray<number>; failWriteAt: number; failErrno: number; blockDelayMs: number; writerDieAt: number },
    onDone: (result: NativeWriteDone) => void
  ) => number
  readonly writeTrackDisarm: (id: number) => number
}

const hasWriteTracker = (native: object): native is WriteTrackerNative => "writeTrackArm" in native

const unavailable = (step: string, code: string, reason: string) => new WriteTrackingUnavailable({ step, code, reason })

/** A negative errno from the addon as a failure of `op`. */
const failedWith = (op: string, rc: number, block = -1) =>
  new WriteTrackingFailed({ op, code: errnoName(-rc), block, detail: "" })

const digestsOf = (done: NativeWriteDone): ReadonlyArray<string> =>
  Array.from(done.data, (isData, i) => (isData === 0 ? "zero" : Buffer.from(done.digests.subarray(i * 32, i * 32 + 32)).toString("hex")))

/** Why arming failed, in words: the usual causes named. */
const explain = (failure: NativeFailure, privateFileRam: boolean): string => {
  const what = `${failure.step} failed (${failure.code})`
  if (failure.step === "UFFDIO_REGISTER" && failure.errno === constants.errno.EBUSY) {
    return `${what}: guest RAM is still registered by another userfaultfd (a lazy restore still filling it)`
  }
  if (failure.step === "UFFDIO_REGISTER" && privateFileRam) {
    return `${what}: guest RAM is a private mapping of the snapshot's RAM file (snapshot.ram=map), which userfaultfd cannot write-protect`
  }
  if (failure.step === "UFFDIO_API") return `${what}: this kernel lacks write-protect of unpopulated anonymous memory (Linux 6.4+)`
  if (failure.step === "userfaultfd") return `${what}: the userfaultfd system call is not available to this process`
  return what
}

export const make = (ram: GuestRam, options: { readonly privateFileRam?: boolean } = {}): WriteTrackingService => ({
  arm: (armOptions: ArmOptions) =>
    Effect.gen(function*() {
      const native = yield* Effect.mapError(loadNativeKvm, (e) => unavailable("addon", "ENOENT", e.message))
      if (!hasWriteTracker(native)) return yield* unavailable("addon", "ENOSYS", "the native addon has no write tracking; rebuild it (npm install)")
      const armed = yield* Effect.acquireRelease(
        Effect.sync(() =>
          native.writeTrackArm({ regions: ram.regions.map((r) => r.bytes), blockSize: armOptions.blockSize, handlerDieAfter: armOptions.handlerDieAfter ?? -1 })
        ),
        (result) => ("id" in result ? Effect.sync(() => void native.writeTrackDisarm(result.id)) : Effect.void)
      )
      if (!("id" in armed)) return yield* unavailable(armed.step, armed.code, explain(armed, options.privateFileRam === true))
      const id = armed.id
      const blocks = ram.regions.reduce((n, r) => n + Math.ceil(r.size / armOptions.blockSize), 0)
      const session: TrackingSession = {
        blockSize: armOptions.blockSize,
        blocks,
        takeBlock: (block, dest) =>
          Effect.suspend(() => {
            const rc = native.writeTrackTake(id, block, dest)
            return rc < 0 ? Effect.fail(failedWith("track", rc, block)) : Effect.succeed(rc)
          }),
        writeAll: (target, faults = {}) =>
          Effect.async<BackgroundWriteResult, WriteTrackingFailed>((resume) => {
            let finished = false
            const rc = native.writeTrackWrite(id, {
              fd: target.fd,
              fileOffsets: target.fileOffsets,
              failWriteAt: faults.failWriteAt ?? -1,
              failErrno: faults.errno ?? constants.errno.EIO,
              blockDelayMs: faults.blockDelayMs ?? 0,
              writerDieAt: faults.writerDieAt ?? -1
            }, (done) => {
              finished = true
              resume(
                done.op === ""
                  ? Effect.succeed({ digests: digestsOf(done), bytesWritten: done.bytesWritten })
                  : Effect.fail(new WriteTrackingFailed({ op: done.op, code: done.code, block: done.block, detail: done.detail }))
              )
            })
            if (rc < 0) {
              resume(Effect.fail(failedWith("writer", rc)))
              return
            }
            // Interrupted: the writer must be stopped (and joined) before the file it writes is closed.
            return Effect.sync(() => {
              if (!finished) native.writeTrackDisarm(id)
            })
          }),
        stats: Effect.sync(() => {
          const stats = native.writeTrackStats(id)
          return typeof stats === "number" ? disarmedStats(blocks) : stats
        }),
        writtenPages: Effect.sync(() => {
          const bits = native.writeTrackWritten(id)
          return typeof bits === "number" ? new Uint8Array(0) : bits
        })
      }
      return session
    })
})

/** What stats say once the session is gone (disarmed by an interrupted write). */
const disarmedStats = (blocks: number): TrackingStats => ({
  blocks,
  blocksSaved: 0,
  faults: 0,
  pagesCopied: 0,
  sidePages: 0,
  sidePagesPeak: 0,
  handlerAlive: false,
  handlerError: null,
  armed: false
})

/** Over the layer's guest RAM; `privateFileRam` when RAM is a private file mapping (for the reason arming gives). */
export const layer = (options: { readonly privateFileRam?: boolean } = {}): Layer.Layer<WriteTracking, never, GuestMemory> =>
  Layer.effect(WriteTracking, Effect.map(GuestMemory, (ram) => make(ram, options)))
