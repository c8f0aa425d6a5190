import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * Write tracking of guest RAM: the kernel-level service a checkpoint taken
 * while the guest runs stands on (and, later, incremental snapshots and
 * live migration). Arming it (with every vCPU paused) freezes the RAM's
 * content as of that instant: from then on a page anyone is about to
 * change (a vCPU, a device's DMA, the host) is copied before the change
 * lands, so each block can still be handed out as it was at the arm.
 */

/** Why write tracking cannot be had here: the caller falls back to stop-and-copy and says this. */
export class WriteTrackingUnavailable extends Data.TaggedError("WriteTrackingUnavailable")<{
  /** The step that failed (userfaultfd, UFFDIO_API, UFFDIO_REGISTER, ...) and its errno name. */
  readonly step: string
  readonly code: string
  readonly reason: string
}> {
  override get message() {
    return `write tracking unavailable: ${this.reason}`
  }
}

/** The tracking, or the RAM write riding on it, failed while the guest ran. Protection is already lifted. */
export class WriteTrackingFailed extends Data.TaggedError("WriteTrackingFailed")<{
  /** write (of the RAM file), track (the handler thread or UFFDIO_WRITEPROTECT), writer (the writer thread), hash, cancel. */
  readonly op: string
  /** errno name, e.g. ENOSPC, EIO. */
  readonly code: string
  /** The RAM block (in region order) it failed at, or -1. */
  readonly block: number
  readonly detail: string
}> {
  override get message() {
    return `${this.op} failed at RAM block ${this.block}: ${this.code}${this.detail === "" ? "" : ` (${this.detail})`}`
  }
}

export interface TrackingStats {
  readonly blocks: number
  /** Blocks handed out (after which the guest writes them freely). */
  readonly blocksSaved: number
  /** Write faults the handler served. */
  readonly faults: number
  /** Pages copied before a write landed on them. */
  readonly pagesCopied: number
  /** Copies held now, and at most. */
  readonly sidePages: number
  readonly sidePagesPeak: number
  readonly handlerAlive: boolean
  /** Why the handler thread stopped, once it has. */
  readonly handlerError: string | null
  /** Whether any RAM is still write-protected or registered. */
  readonly armed: boolean
}

/** Where the background writer puts RAM: an open file, each region at its offset (src/snapshot/format/RamLayout.ts). */
export interface BackgroundWriteTarget {
  readonly fd: number
  readonly fileOffsets: ReadonlyArray<number>
}

/** Test-only fault injection, run through the writer's real paths. */
export interface BackgroundWriteFaults {
  /** This (0-based) pwrite of the RAM file fails with `errno`. */
  readonly failWriteAt?: number
  readonly errno?: number
  /** Sleep before each block: a slow disk, or a window for a test to act in. */
  readonly blockDelayMs?: number
  /** The writer thread stops at this block as if it died. */
  readonly writerDieAt?: number
}

export interface BackgroundWriteResult {
  /** Per block in region order: "zero" (left a hole) or the SHA-256 hex of what was written. */
  readonly digests: ReadonlyArray<string>
  readonly bytesWritten: number
}

export interface TrackingSession {
  readonly blockSize: number
  readonly blocks: number
  /** A block's content as of the arm instant into `dest` (blockSize bytes) -> its length. Each block once. */
  readonly takeBlock: (block: number, dest: Uint8Array) => Effect.Effect<number, WriteTrackingFailed>
  /**
   * Every block as of the arm instant written to `target` off the machine
   * thread (zero blocks skipped: the file must be sized already). Interrupting
   * it stops the writer before it returns.
   */
  readonly writeAll: (target: BackgroundWriteTarget, faults?: BackgroundWriteFaults) => Effect.Effect<BackgroundWriteResult, WriteTrackingFailed>
  readonly stats: Effect.Effect<TrackingStats>
  /** One bit per 4 KiB page in region order: written since the arm (as far as faults saw before its block was handed out). */
  readonly writtenPages: Effect.Effect<Uint8Array>
}

export interface ArmOptions {
  /** The unit handed out; a power of two, at least 4 KiB. */
  readonly blockSize: number
  /** Test-only: the handler thread stops serving after this many faults. */
  readonly handlerDieAfter?: number
}

export interface WriteTrackingService {
  /**
   * Arms tracking on all of guest RAM. Call with every vCPU paused. The
   * session lives until the scope closes, which lifts every protection.
   */
  readonly arm: (options: ArmOptions) => Effect.Effect<TrackingSession, WriteTrackingUnavailable, Scope.Scope>
}

export class WriteTracking extends Context.Tag("bhyve-ts/WriteTracking")<WriteTracking, WriteTrackingService>() {}
