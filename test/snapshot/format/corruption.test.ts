import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { truncateSync, unlinkSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import type { SnapshotReadError } from "../../../src/snapshot/format/SnapshotErrors.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import { readSnapshot } from "../../../src/snapshot/format/SnapshotReader.js"
import { writeSnapshot } from "../../../src/snapshot/format/SnapshotWriter.js"
import {
  BLOCK,
  forge,
  freshRam,
  headerFields,
  ID_A,
  ID_B,
  manifestInput,
  MiB,
  read,
  sampleChunks,
  sampleRam,
  tempDir,
  toyUartCodec,
  write
} from "./fixtures.js"

const RAM = sampleRam()

/** A fresh valid snapshot in a temp dir, with its bytes. */
const fixture = Effect.gen(function* () {
  const dir = yield* tempDir
  const F = path.join(dir, "vm.snap")
  const chunks = yield* sampleChunks
  const result = yield* writeSnapshot({ path: F, manifest: manifestInput, chunks, ram: RAM, blockSize: BLOCK, snapshotId: ID_A })
  return { dir, F, result, state: read(F), ram: read(result.ramPath) }
})

const readError = (F: string) => Effect.flip(readSnapshot(F))

/** Reads F and restores RAM with full verification; returns the error. */
const restoreError = (F: string) =>
  Effect.flip(Effect.flatMap(readSnapshot(F), (s) => s.restoreRam(freshRam(RAM), { verify: "all" })))

const describeError = (e: SnapshotReadError) => `${e._tag}${"what" in e ? ` ${e.what}` : ""}`

layer(SnapshotFsLive.layer)("every corruption of the state file is detected", (it) => {
  it.scoped("a flipped byte anywhere gives the error for the part it hit (header, a named chunk, the manifest)", () =>
    Effect.gen(function* () {
      const { F, result, state } = yield* fixture
      const chunks = result.manifest.chunks
      const { manifestOffset } = headerFields(state)
      const expected = (at: number) => {
        if (at < 8) return "BadMagic"
        if (at < 10) return "UnsupportedVersion"
        if (at < 96) return "ChecksumMismatch header"
        if (at >= manifestOffset) return "ChecksumMismatch manifest"
        return `ChecksumMismatch chunk ${chunks.find((c) => at >= c.offset && at < c.offset + c.length)?.id}`
      }
      // Every header byte, every byte within 16 of a part's edges, every 7th byte elsewhere.
      const edges = [96, ...chunks.flatMap((c) => [c.offset, c.offset + c.length]), manifestOffset, state.length]
      const offsets = [...Array(state.length).keys()].filter((at) => at < 96 || at % 7 === 0 || edges.some((e) => Math.abs(at - e) <= 16))
      for (const at of offsets) {
        const bad = state.slice()
        bad[at] ^= 0x5a
        write(F, bad)
        expect(describeError(yield* readError(F)), `byte ${at}`).toBe(expected(at))
      }
    })
  )

  it.scoped("truncation at every chunk boundary (and inside the header) reports what is cut off", () =>
    Effect.gen(function* () {
      const { F, result, state } = yield* fixture
      const { manifestLength, manifestOffset } = headerFields(state)
      const cuts = [0, 4, 8, 50, 96, ...result.manifest.chunks.flatMap((c) => [c.offset, c.offset + c.length]), manifestOffset + 1, state.length - 1]
      for (const cut of cuts) {
        write(F, state.subarray(0, cut))
        const e = yield* readError(F)
        if (cut < 96) {
          // Under 8 bytes there is no magic to check; from 8 on the magic is intact.
          expect(e, `cut at ${cut}`).toMatchObject({ _tag: "Truncated", what: "header", offset: 0, needed: 96, size: cut })
        } else {
          expect(e, `cut at ${cut}`).toMatchObject({ _tag: "Truncated", what: "manifest", offset: manifestOffset, needed: manifestLength, size: cut })
        }
      }
    })
  )

  it.scoped("an empty file is a truncated header", () =>
    Effect.gen(function* () {
      const { F } = yield* fixture
      write(F, new Uint8Array(0))
      const e = yield* readError(F)
      expect(e._tag).toBe("Truncated")
      expect(e.message).toContain(F)
    })
  )

  it.scoped("a file of something else is not a snapshot", () =>
    Effect.gen(function* () {
      const { F } = yield* fixture
      writeFileSync(F, "#!/bin/sh\necho this is not a snapshot at all\n")
      expect(yield* readError(F)).toMatchObject({ _tag: "BadMagic", path: F })
    })
  )

  it.scoped("a future major version is refused by version, not called corrupt", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { major: 7 }))
      const e = yield* readError(F)
      expect(e._tag).toBe("UnsupportedVersion")
      expect(e.message).toBe(`${F}: unsupported snapshot format version 7.0 (this build reads 1.x)`)
    })
  )

  it.scoped("a newer minor version reads when its manifest still decodes", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { minor: 3, manifest: (m) => ({ ...m, formatVersion: { major: 1, minor: 3 } }) }))
      expect((yield* readSnapshot(F)).manifest.formatVersion).toEqual({ major: 1, minor: 3 })
    })
  )

  it.scoped("a newer minor version whose manifest has fields this build does not know is refused, saying why", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { minor: 3, manifest: (m) => ({ ...m, formatVersion: { major: 1, minor: 3 }, balloon: { pages: 5 } }) }))
      const e = yield* readError(F)
      expect(e._tag).toBe("ManifestInvalid")
      expect(e.message).toContain("$.balloon")
      expect(e.message).toContain("written by format 1.3; this build reads up to 1.0")
    })
  )

  it.scoped("a manifest offset pointing outside the file is a truncation, found before reading", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { manifestOffset: 10 * MiB }))
      expect(yield* readError(F)).toMatchObject({ _tag: "Truncated", what: "manifest", offset: 10 * MiB })
    })
  )

  it.scoped("a manifest offset inside the header is invalid", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { manifestOffset: 40 }))
      expect(yield* readError(F)).toMatchObject({ _tag: "HeaderInvalid" })
    })
  )

  it.scoped("a manifest longer than the cap is refused without being read", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { manifestLength: 2 ** 40 }))
      expect(yield* readError(F)).toMatchObject({ _tag: "LimitExceeded", what: "the manifest", limit: 16 * MiB, found: 2 ** 40 })
    })
  )

  it.scoped("a manifest that breaks its schema lists every problem with its JSON path", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(
        F,
        forge(state, {
          manifest: (m) => ({
            ...m,
            vcpuCount: 0,
            chunks: (m.chunks as Array<Record<string, unknown>>).map((c, i) => (i === 1 ? { ...c, sha256: "xyz" } : c))
          })
        })
      )
      const e = yield* readError(F)
      expect(e._tag).toBe("ManifestInvalid")
      expect(e.message).toContain("at $.vcpuCount:")
      expect(e.message).toContain("at $.chunks[1].sha256:")
    })
  )

  it.scoped("a manifest that is not JSON is invalid, not a crash", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { manifestText: (t) => t.slice(0, -3) }))
      expect(yield* readError(F)).toMatchObject({ _tag: "ManifestInvalid" })
    })
  )

  it.scoped("a manifest cannot point the reader at a file outside the snapshot's directory", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { manifest: (m) => ({ ...m, ram: { ...(m.ram as object), file: `../../etc/x.${ID_A}.ram` } }) }))
      const e = yield* readError(F)
      expect(e._tag).toBe("ManifestInvalid")
      expect(e.message).toContain("at $.ram.file:")
    })
  )

  it.scoped("a chunk placed past the end of the file is a truncation naming the chunk", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { manifest: (m) => ({ ...m, chunks: (m.chunks as Array<object>).map((c, i) => (i === 0 ? { ...c, offset: 5 * MiB } : c)) }) }))
      expect(yield* readError(F)).toMatchObject({ _tag: "Truncated", what: "chunk device/com1", offset: 5 * MiB })
    })
  )

  it.scoped("a chunk overlapping the header is invalid", () =>
    Effect.gen(function* () {
      const { F, state } = yield* fixture
      write(F, forge(state, { manifest: (m) => ({ ...m, chunks: (m.chunks as Array<object>).map((c, i) => (i === 0 ? { ...c, offset: 10 } : c)) }) }))
      const e = yield* readError(F)
      expect(e._tag).toBe("ManifestInvalid")
      expect(e.message).toContain("$.chunks[0].offset")
    })
  )

  it.scoped("a FIFO at the path is refused at once instead of blocking the reader", () =>
    Effect.gen(function* () {
      const { dir } = yield* fixture
      const fifo = path.join(dir, "fifo")
      execFileSync("mkfifo", [fifo])
      expect(yield* readError(fifo)).toMatchObject({ _tag: "SnapshotIoError", code: "not a regular file" })
    })
  )
})

layer(SnapshotFsLive.layer)("every corruption of the RAM file is detected", (it) => {
  it.scoped("a flipped byte in the RAM header is caught when the snapshot is opened", () =>
    Effect.gen(function* () {
      const { F, ram, result } = yield* fixture
      for (const at of [0, 7, 8, 9, 10, 12, 16, 31, 32, 39, 40, 2000, 4063, 4064, 4095]) {
        const bad = ram.slice()
        bad[at] ^= 0x01
        write(result.ramPath, bad)
        const expected = at < 8 ? "BadMagic" : at < 10 ? "UnsupportedVersion" : "ChecksumMismatch ram header"
        const e = yield* readError(F)
        expect(describeError(e), `byte ${at}`).toBe(expected)
        expect(e.message).toContain(result.ramPath)
      }
    })
  )

  it.scoped("a flipped byte in guest RAM names the block and its guest address, zero blocks included", () =>
    Effect.gen(function* () {
      const { F, ram, result } = yield* fixture
      const offsets = [4096]
      for (let at = 4096; at < ram.length; at += 4093) offsets.push(at)
      for (let at = 4096 + BLOCK; at < ram.length; at += BLOCK) offsets.push(at - 1, at)
      offsets.push(ram.length - 1)
      const regions = result.manifest.ram.regions
      for (const at of offsets) {
        const bad = ram.slice()
        bad[at] ^= 0x80
        write(result.ramPath, bad)
        let index = 0
        let expected = ""
        for (const r of regions) {
          if (at >= r.fileOffset && at < r.fileOffset + r.size) {
            const k = Math.floor((at - r.fileOffset) / BLOCK)
            const gpa = r.gpa + k * BLOCK
            expected = `ram block ${index + k} (gpa 0x${gpa.toString(16)})${r.blocks[k] === "zero" ? ": expected all zero bytes" : ""}`
          }
          index += r.blocks.length
        }
        expect(yield* restoreError(F), `byte ${at}`).toMatchObject({ _tag: "ChecksumMismatch", what: expected, path: result.ramPath })
      }
    })
  )

  it.scoped("a RAM file of the wrong size is refused, at every block boundary and when grown", () =>
    Effect.gen(function* () {
      const { F, ram, result } = yield* fixture
      for (const size of [0, 100, 4096, 4096 + BLOCK, 4096 + 5 * BLOCK, ram.length - 1, ram.length + 4096]) {
        const bytes = new Uint8Array(size)
        bytes.set(ram.subarray(0, Math.min(size, ram.length)))
        write(result.ramPath, bytes)
        const e = yield* readError(F)
        expect(e, `size ${size}`).toMatchObject({ _tag: "RamFileMismatch", path: result.ramPath })
        expect(e.message).toContain(`the file is ${size} bytes, the manifest says ${ram.length}`)
      }
    })
  )

  it.scoped("a missing RAM file is named", () =>
    Effect.gen(function* () {
      const { F, result } = yield* fixture
      unlinkSync(result.ramPath)
      expect(yield* readError(F)).toMatchObject({ _tag: "RamFileMismatch", path: result.ramPath, reason: "the file is missing" })
    })
  )

  it.scoped("a RAM file that belongs to another snapshot is refused even when the size matches", () =>
    Effect.gen(function* () {
      const { dir, F, result } = yield* fixture
      const other = path.join(dir, "other.snap")
      const chunks = yield* sampleChunks
      const o = yield* writeSnapshot({ path: other, manifest: manifestInput, chunks, ram: RAM, blockSize: BLOCK, snapshotId: ID_B })
      write(result.ramPath, read(o.ramPath))
      const e = yield* readError(F)
      expect(e._tag).toBe("RamFileMismatch")
      expect(e.message).toContain(`belongs to snapshot ${ID_B}`)
    })
  )

  it.scoped("a RAM file shortened after the snapshot was opened is a truncation, not garbage in the guest", () =>
    Effect.gen(function* () {
      const { F, ram, result } = yield* fixture
      const snap = yield* readSnapshot(F)
      truncateSync(result.ramPath, ram.length - BLOCK)
      const e = yield* Effect.flip(snap.restoreRam(freshRam(RAM)))
      expect(e._tag).toBe("RamFileMismatch")
    })
  )
})

layer(SnapshotFsLive.layer)("chunk contents", (it) => {
  it.scoped("a chunk whose value breaks its schema names the chunk and the JSON path", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const F = path.join(dir, "vm.snap")
      const payload = new TextEncoder().encode(JSON.stringify({ ier: 99, lcr: 3, rxFifo: [1, 2, 300] }))
      const chunks = [{ id: "device/com1", kind: "device", schemaId: "toy-uart", version: 1, payload }]
      yield* writeSnapshot({ path: F, manifest: manifestInput, chunks, ram: RAM, blockSize: BLOCK, snapshotId: ID_A })
      const snap = yield* readSnapshot(F)
      const e = yield* Effect.flip(snap.decode(toyUartCodec, "device/com1"))
      expect(e).toMatchObject({ _tag: "ChunkInvalid", chunkId: "device/com1", path: F })
      expect(e.message).toContain("chunk device/com1")
      expect(e.details).toContain("at $.ier:")
      expect(e.details).toContain("at $.rxFifo[2]:")
    })
  )

  it.scoped("asking for a chunk the snapshot does not have is a ChunkInvalid naming it", () =>
    Effect.gen(function* () {
      const { F } = yield* fixture
      const snap = yield* readSnapshot(F)
      expect(snap.chunk("device/com2")).toBeUndefined()
      expect(yield* Effect.flip(snap.decode(toyUartCodec, "device/com2"))).toMatchObject({ _tag: "ChunkInvalid", chunkId: "device/com2" })
    })
  )
})
