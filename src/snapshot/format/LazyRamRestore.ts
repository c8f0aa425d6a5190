import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { constants } from "node:os"
import type { NativeAddonMissing } from "../../kernel/KvmError.js"
import type { LazyRestoreStats } from "../../kernel/LazyRestoreNative.js"
import type { GuestRam } from "../../kernel/MemoryLayout.js"
import { loadNativeKvm } from "../../kernel/NativeKvm.js"
import type { SnapshotManifest } from "./Manifest.js"
import type { Verify } from "./RamReader.js"
import { matchRamRegions } from "./RamReader.js"
import type { SnapshotFsService } from "./SnapshotFs.js"
import { RamFileMismatch, SnapshotIoError } from "./SnapshotErrors.js"

/**
 * Lazy restore of guest RAM: the guest starts at once on empty anonymous
 * memory registered with userfaultfd, and a native thread fills each RAM
 * block the first time anything touches it, after checking the block's
 * SHA-256 against the manifest (native/uffd_lazy_restore.cc); between
 * faults it installs the rest in order, then unregisters the range. A block
 * that fails its check is never installed: the process prints one line
 * naming the RAM file and the block and exits 4 (the faulting thread cannot
 * be let go, and may be the machine thread itself).
 */

/** userfaultfd cannot be had here (an old kernel, a seccomp filter, no privilege): the restore copies instead. */
export class LazyRestoreUnavailable extends Data.TaggedError("LazyRestoreUnavailable")<{
  readonly errno: number
}> {
  override get message() {
    const name = Object.entries(constants.errno).find(([, n]) => n === this.errno)?.[0] ?? `errno ${this.errno}`
    return `userfaultfd unavailable (${name})`
  }
}

export interface LazyRamSession {
  /** What the handler thread has done so far. */
  readonly stats: Effect.Effect<LazyRestoreStats>
  /** Resolves once every block is in place and guest RAM is no longer registered (at once after the session ended). */
  readonly complete: Effect.Effect<void>
}

/** Polling interval of `complete`: a background pass over 256 MiB of data takes a few hundred ms. */
const COMPLETE_POLL_MS = 5

/** The lazy restores still filling guest RAM, by the RAM they fill. */
const running = new WeakMap<GuestRam, LazyRamSession>()

/**
 * The lazy restore filling this guest RAM, if one is: a background
 * checkpoint must await its `complete` before it registers guest RAM with a
 * userfaultfd of its own (a range registered with another gives EBUSY).
 */
export const lazyRestoreOf = (ram: GuestRam): LazyRamSession | undefined => running.get(ram)

/** Test-only fault injection: the handler thread fails after this many blocks (a handler that dies must end the VM, never hang it). */
const DIE_AFTER_ENV = "BHYVE_TEST_LAZY_RESTORE_DIE_AFTER"

/** Test-only: the background pass waits this long, so that faults are what fills RAM (the fault path under test on each CPU). */
const BACKGROUND_DELAY_ENV = "BHYVE_TEST_LAZY_RESTORE_BACKGROUND_DELAY_MS"

const envCount = (name: string): number | undefined => {
  const n = Number(process.env[name])
  return process.env[name] !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

const digestBytes = (manifest: SnapshotManifest) => {
  const count = manifest.ram.regions.reduce((n, r) => n + r.blocks.length, 0)
  const data = new Uint8Array(count)
  const digests = new Uint8Array(count * 32)
  let i = 0
  for (const region of manifest.ram.regions) {
    for (const digest of region.blocks) {
      if (digest !== "zero") {
        data[i] = 1
        digests.set(Buffer.from(digest, "hex"), i * 32)
      }
      i++
    }
  }
  return { data, digests }
}

/**
 * Registers guest RAM (fresh, untouched anonymous memory laid out as the
 * snapshot's) and starts the handler thread; the RAM file stays open and the
 * thread runs until the scope closes (after the machine has stopped).
 */
export const startLazyRam = (
  fs: SnapshotFsService,
  ramPath: string,
  manifest: SnapshotManifest,
  ram: GuestRam,
  verify: Verify
): Effect.Effect<LazyRamSession, RamFileMismatch | SnapshotIoError | LazyRestoreUnavailable | NativeAddonMissing, Scope.Scope> =>
  Effect.gen(function*() {
    const targets = yield* matchRamRegions(ramPath, manifest, ram.regions)
    const native = yield* loadNativeKvm
    const file = yield* Effect.acquireRelease(
      Effect.mapError(fs.open(ramPath, "read"), (e) =>
        e.code === "ENOENT"
          ? new RamFileMismatch({ path: ramPath, reason: "the file is missing" })
          : new SnapshotIoError({ path: e.path, op: e.op, code: e.code })),
      (f) => Effect.ignore(fs.close(f))
    )
    const { data, digests } = digestBytes(manifest)
    const id = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        const started = native.lazyRestoreStart({
          ramFd: file.fd,
          regions: manifest.ram.regions.map((r, i) => ({ bytes: targets[i].bytes, gpa: r.gpa, fileOffset: r.fileOffset })),
          blockSize: manifest.ram.blockSize,
          data,
          digests,
          verify: verify === "all",
          failurePrefix: `bhyve: ${ramPath}: `,
          dieAfter: envCount(DIE_AFTER_ENV) ?? -1,
          backgroundDelayMs: envCount(BACKGROUND_DELAY_ENV) ?? 0
        })
        return started < 0 ? Effect.fail(new LazyRestoreUnavailable({ errno: -started })) : Effect.succeed(started)
      }),
      (id) => Effect.sync(() => native.lazyRestoreStop(id))
    )
    const stats = Effect.sync((): LazyRestoreStats => {
      const s = native.lazyRestoreStats(id)
      // Only after the scope closed: the thread is gone and nothing is registered any more.
      return typeof s === "number"
        ? { blocks: data.length, faultBlocks: 0, backgroundBlocks: 0, bytesRead: 0, registered: false, complete: false }
        : s
    })
    const complete: Effect.Effect<void> = Effect.flatMap(stats, (s) =>
      s.registered ? Effect.zipRight(Effect.sleep(COMPLETE_POLL_MS), complete) : Effect.void)
    const session: LazyRamSession = { stats, complete }
    yield* Effect.acquireRelease(Effect.sync(() => running.set(ram, session)), () => Effect.sync(() => running.delete(ram)))
    return session
  })
