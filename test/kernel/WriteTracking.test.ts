import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { closeSync, mkdtempSync, openSync, read, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { mapRamRegion } from "../../src/kernel/GuestMemory.js"
import type { GuestRam } from "../../src/kernel/MemoryLayout.js"
import { loadNativeKvm } from "../../src/kernel/NativeKvm.js"
import { WriteTrackingFailed } from "../../src/kernel/WriteTracking.js"
import * as WriteTrackingUffd from "../../src/kernel/WriteTrackingUffd.js"

/**
 * Write tracking over userfaultfd (native/uffd_write_tracker.cc) on plain
 * anonymous memory shaped like guest RAM: what a block looked like when
 * tracking was armed survives any later write, whoever makes it.
 */

const BLOCK = 1 << 20
const SIZE = 8 * BLOCK

/** 8 MiB of fresh anonymous "guest RAM" with a pattern in blocks 0-3 (4-7 never touched). */
const freshRam = Effect.gen(function*() {
  const buffer = yield* Effect.orDie(mapRamRegion({ slot: 0, gpa: 0, size: SIZE }, undefined))
  const bytes = new Uint8Array(buffer)
  for (let at = 0; at < 4 * BLOCK; at += 4096) bytes[at] = (at / 4096) % 251 + 1
  const ram: GuestRam = { size: SIZE, regions: [{ slot: 0, gpa: 0, size: SIZE, bytes }] }
  return ram
})

const page = (n: number) => n * 4096

/** A temp directory, removed with the test's scope. */
const scratchDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "wt-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("write tracking of guest RAM (userfaultfd)", () => {
  it.scoped("hands out a block as it was at the arm, though the host wrote it afterwards", () =>
    Effect.gen(function*() {
      const ram = yield* freshRam
      const bytes = ram.regions[0].bytes
      const session = yield* Effect.orDie(WriteTrackingUffd.make(ram).arm({ blockSize: BLOCK }))
      bytes[page(3)] = 0xee // block 0, was 4
      bytes[BLOCK + 17] = 0xee // block 1, was 0
      bytes[5 * BLOCK] = 0xee // block 5, never touched before: was 0
      const dest = new Uint8Array(BLOCK)
      expect(yield* session.takeBlock(0, dest)).toBe(BLOCK)
      expect(dest[page(3)]).toBe(4)
      yield* session.takeBlock(1, dest)
      expect(dest[17]).toBe(0)
      yield* session.takeBlock(5, dest)
      expect(dest[0]).toBe(0)
      // RAM itself has the new bytes; the copies were made before the writes landed.
      expect([bytes[page(3)], bytes[BLOCK + 17], bytes[5 * BLOCK]]).toEqual([0xee, 0xee, 0xee])
      const stats = yield* session.stats
      expect(stats.pagesCopied).toBe(3)
      expect(stats.sidePages).toBe(0)
    }))

  it.scoped("catches a write made by the kernel for another thread (read(2) on the thread pool into RAM)", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDir
      const file = join(dir, "data")
      writeFileSync(file, Buffer.alloc(4096, 0x5a))
      const ram = yield* freshRam
      const bytes = ram.regions[0].bytes
      const session = yield* Effect.orDie(WriteTrackingUffd.make(ram).arm({ blockSize: BLOCK }))
      const fd = openSync(file, "r")
      const got = yield* Effect.async<number>((resume) => {
        read(fd, bytes, 2 * BLOCK, 4096, 0, (err, n) => resume(err === null ? Effect.succeed(n) : Effect.die(err)))
      })
      closeSync(fd)
      expect(got).toBe(4096)
      expect(bytes[2 * BLOCK]).toBe(0x5a)
      const dest = new Uint8Array(BLOCK)
      yield* session.takeBlock(2, dest)
      expect(dest[0]).toBe(page(2 * 256) / 4096 % 251 + 1)
      expect((yield* session.stats).faults).toBeGreaterThanOrEqual(1)
    }))

  it.scoped("tells which pages were written since the arm", () =>
    Effect.gen(function*() {
      const ram = yield* freshRam
      const bytes = ram.regions[0].bytes
      const session = yield* Effect.orDie(WriteTrackingUffd.make(ram).arm({ blockSize: BLOCK }))
      bytes[page(9)] = 1
      bytes[page(700) + 5] = 1
      const bits = yield* session.writtenPages
      const written = [...Array(bits.length * 8).keys()].filter((p) => (bits[p >> 3] & (1 << (p & 7))) !== 0)
      expect(written).toEqual([9, 700])
    }))

  it.scoped("lifts every protection when its scope closes: RAM is writable and can be armed again", () =>
    Effect.gen(function*() {
      const ram = yield* freshRam
      const bytes = ram.regions[0].bytes
      const tracking = WriteTrackingUffd.make(ram)
      const scope = yield* Scope.make()
      const first = yield* Effect.orDie(Scope.extend(tracking.arm({ blockSize: BLOCK }), scope))
      yield* Scope.close(scope, Exit.void)
      for (let at = 0; at < SIZE; at += 4096) bytes[at] = 9
      expect((yield* first.stats).armed).toBe(false)
      // Still registered anywhere, a second arm would fail with EBUSY.
      const second = yield* Effect.either(tracking.arm({ blockSize: BLOCK }))
      expect(Either.isRight(second)).toBe(true)
    }))

  it.scoped("says why it cannot arm on RAM another userfaultfd holds", () =>
    Effect.gen(function*() {
      const ram = yield* freshRam
      const tracking = WriteTrackingUffd.make(ram)
      yield* Effect.orDie(tracking.arm({ blockSize: BLOCK }))
      const again = yield* Effect.flip(tracking.arm({ blockSize: BLOCK }))
      expect(again.step).toBe("UFFDIO_REGISTER")
      expect(again.code).toBe("EBUSY")
      expect(again.message).toContain("registered by another userfaultfd")
    }))

  it.scoped("says why it cannot arm on RAM that is a private mapping of a snapshot's RAM file", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDir
      const file = join(dir, "ram")
      writeFileSync(file, Buffer.alloc(SIZE))
      const native = yield* Effect.orDie(loadNativeKvm)
      const fd = openSync(file, "r")
      yield* Effect.addFinalizer(() => Effect.sync(() => closeSync(fd)))
      const mapped = native.mapFilePrivate(fd, SIZE, 0)
      if (typeof mapped === "number") throw new Error(`mmap failed: ${mapped}`)
      yield* Effect.addFinalizer(() => Effect.sync(() => native.unmap(mapped)))
      const ram: GuestRam = { size: SIZE, regions: [{ slot: 0, gpa: 0, size: SIZE, bytes: new Uint8Array(mapped) }] }
      const failed = yield* Effect.flip(WriteTrackingUffd.make(ram, { privateFileRam: true }).arm({ blockSize: BLOCK }))
      expect(failed.step).toBe("UFFDIO_REGISTER")
      expect(failed.message).toContain("snapshot.ram=map")
    }))

  it.scoped("writes every block as of the arm in the background: holes for zero blocks, the digests of the rest", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDir
      const ram = yield* freshRam
      const bytes = ram.regions[0].bytes
      const expected = Buffer.from(bytes)
      const session = yield* Effect.orDie(WriteTrackingUffd.make(ram).arm({ blockSize: BLOCK }))
      const file = join(dir, "ram")
      writeFileSync(file, "")
      const fd = openSync(file, "r+")
      yield* Effect.addFinalizer(() => Effect.sync(() => closeSync(fd)))
      const writing = yield* Effect.fork(session.writeAll({ fd, fileOffsets: [0] }, { blockDelayMs: 5 }))
      for (let at = 0; at < SIZE; at += 4096) bytes[at] = 0x77
      const result = yield* writing.await.pipe(Effect.flatten)
      expect(result.digests.slice(4)).toEqual(["zero", "zero", "zero", "zero"])
      expect(result.bytesWritten).toBe(4 * BLOCK)
      const out = readFileSync(file)
      expect(Buffer.compare(out.subarray(0, 4 * BLOCK), expected.subarray(0, 4 * BLOCK))).toBe(0)
      expect(out.length).toBe(4 * BLOCK)
    }))

  it.scoped("a failed RAM write fails the session with its errno and lifts every protection", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDir
      const ram = yield* freshRam
      const session = yield* Effect.orDie(WriteTrackingUffd.make(ram).arm({ blockSize: BLOCK }))
      const fd = openSync(join(dir, "ram"), "w")
      yield* Effect.addFinalizer(() => Effect.sync(() => closeSync(fd)))
      const failed = yield* Effect.flip(session.writeAll({ fd, fileOffsets: [0] }, { failWriteAt: 1, errno: 28 }))
      expect(failed).toBeInstanceOf(WriteTrackingFailed)
      expect(failed.code).toBe("ENOSPC")
      expect(failed.block).toBe(1)
      expect((yield* session.stats).armed).toBe(false)
    }))

  it.scoped("a handler thread that stops lets go of whoever it left blocked, and the background write fails saying so", () =>
    Effect.gen(function*() {
      const dir = yield* scratchDir
      const ram = yield* freshRam
      const bytes = ram.regions[0].bytes
      const session = yield* Effect.orDie(WriteTrackingUffd.make(ram).arm({ blockSize: BLOCK, handlerDieAfter: 0 }))
      const fd = openSync(join(dir, "ram"), "w")
      yield* Effect.addFinalizer(() => Effect.sync(() => closeSync(fd)))
      const writing = yield* Effect.fork(session.writeAll({ fd, fileOffsets: [0] }, { blockDelayMs: 20 }))
      // The handler stops at this fault without serving it; it lifts every protection on its way out, which wakes this thread.
      bytes[7 * BLOCK] = 1
      expect(bytes[7 * BLOCK]).toBe(1)
      const failed = yield* Effect.flip(writing.await.pipe(Effect.flatten))
      expect(failed.op).toBe("track")
      expect(failed.detail).toContain("handler thread stopped")
      expect((yield* session.stats).armed).toBe(false)
    }))
})
