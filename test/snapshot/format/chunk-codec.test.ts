import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import { Bytes } from "../../../src/snapshot/format/Bytes.js"
import * as ChunkCodec from "../../../src/snapshot/format/ChunkCodec.js"
import { sha256Hex } from "../../../src/snapshot/format/Digest.js"
import type { ChunkEntry } from "../../../src/snapshot/format/Manifest.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import { readSnapshot } from "../../../src/snapshot/format/SnapshotReader.js"
import { writeSnapshot } from "../../../src/snapshot/format/SnapshotWriter.js"
import { BLOCK, manifestInput, sampleRam, tempDir } from "./fixtures.js"

/*
 * A toy timer device whose state gained a field. Version 1 is frozen as it
 * shipped; version 2 is current; version-1 payloads decode through a
 * transform that supplies the new field's default (STYLE.md).
 */
const TimerStateV1 = Schema.Struct({ counter: Schema.Int, reload: Schema.Int }).annotations({ identifier: "TimerStateV1" })

const TimerStateV2 = Schema.Struct({
  counter: Schema.Int,
  reload: Schema.Int,
  /** New in v2: periodic or one-shot. Timers saved by v1 were always periodic. */
  mode: Schema.Literal("periodic", "oneshot")
}).annotations({ identifier: "TimerStateV2" })

const TimerV1toV2 = Schema.transform(TimerStateV1, Schema.typeSchema(TimerStateV2), {
  strict: true,
  decode: (v1) => ({ ...v1, mode: "periodic" as const }),
  encode: ({ counter, reload }) => ({ counter, reload })
})

const timerV1 = ChunkCodec.make({ kind: "device", schemaId: "toy-timer", version: 1, schema: TimerStateV1 })
const timerV2 = ChunkCodec.make({
  kind: "device",
  schemaId: "toy-timer",
  version: 2,
  schema: TimerStateV2,
  migrations: [ChunkCodec.migration(1, TimerV1toV2)]
})

/** The manifest entry a chunk would get; offsets do not matter to decoding. */
const entryOf = (c: ChunkCodec.ChunkInput): ChunkEntry => ({
  id: c.id,
  kind: c.kind,
  schema: c.schemaId,
  version: c.version,
  offset: 96,
  length: c.payload.length,
  sha256: sha256Hex(c.payload)
})

describe("chunk codecs and versions", () => {
  it.effect("encodes a value as the JSON of its encoded form, tagged with the codec's identity", () =>
    Effect.gen(function* () {
      const c = yield* ChunkCodec.encodeChunk(timerV2, "device/timer", { counter: 5, reload: 10, mode: "oneshot" })
      expect(c).toMatchObject({ id: "device/timer", kind: "device", schemaId: "toy-timer", version: 2 })
      expect(JSON.parse(new TextDecoder().decode(c.payload))).toEqual({ counter: 5, reload: 10, mode: "oneshot" })
    })
  )

  it.effect("a version-1 chunk written by an old build decodes in the new build with the new field defaulted", () =>
    Effect.gen(function* () {
      const old = yield* ChunkCodec.encodeChunk(timerV1, "device/timer", { counter: 7, reload: 100 })
      expect(yield* ChunkCodec.decodeChunk(timerV2, entryOf(old), old.payload)).toEqual({ counter: 7, reload: 100, mode: "periodic" })
    })
  )

  it.effect("a chunk from a newer build is refused, saying which version this build reads", () =>
    Effect.gen(function* () {
      const newer = yield* ChunkCodec.encodeChunk(timerV2, "device/timer", { counter: 1, reload: 2, mode: "periodic" })
      const e = yield* Effect.flip(ChunkCodec.decodeChunk(timerV1, entryOf(newer), newer.payload, "vm.snap"))
      expect(e).toMatchObject({ _tag: "ChunkInvalid", chunkId: "device/timer", path: "vm.snap" })
      expect(e.details).toBe("version 2 is newer than this build reads (1)")
    })
  )

  it.effect("an old version with no migration is refused", () =>
    Effect.gen(function* () {
      const old = yield* ChunkCodec.encodeChunk(timerV1, "device/timer", { counter: 7, reload: 100 })
      const e = yield* Effect.flip(ChunkCodec.decodeChunk({ ...timerV2, version: 3, migrations: [] }, entryOf(old), old.payload))
      expect(e.details).toBe("no migration from version 1 to 3")
    })
  )

  it.effect("a chunk of another schema is refused rather than misread", () =>
    Effect.gen(function* () {
      const c = yield* ChunkCodec.encodeChunk(timerV2, "device/timer", { counter: 1, reload: 2, mode: "periodic" })
      const e = yield* Effect.flip(ChunkCodec.decodeChunk({ ...timerV2, schemaId: "toy-rtc" }, entryOf(c), c.payload))
      expect(e.details).toBe("holds device/toy-timer, expected device/toy-rtc")
    })
  )

  it.effect("decoding is strict: a field the schema does not know is an error at its path", () =>
    Effect.gen(function* () {
      const payload = new TextEncoder().encode('{"counter":1,"reload":2,"mode":"periodic","extra":true}')
      const c = { id: "device/timer", kind: "device", schemaId: "toy-timer", version: 2, payload }
      const e = yield* Effect.flip(ChunkCodec.decodeChunk(timerV2, entryOf(c), payload))
      expect(e.details).toContain("at $.extra:")
    })
  )

  it.effect("a value that breaks its own schema cannot be saved", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(ChunkCodec.encodeChunk(timerV2, "device/timer", { counter: 1.5, reload: 2, mode: "periodic" }))
      expect(e).toMatchObject({ _tag: "ChunkEncodeError", chunkId: "device/timer" })
      expect(e.details).toContain("at $.counter:")
    })
  )
})

layer(SnapshotFsLive.layer)("chunk versions through a snapshot file", (it) => {
  it.scoped("a snapshot saved with a v1 device state restores that device in a build at v2", () =>
    Effect.gen(function* () {
      const F = path.join(yield* tempDir, "old.snap")
      const chunk = yield* ChunkCodec.encodeChunk(timerV1, "device/timer", { counter: 3, reload: 9 })
      yield* writeSnapshot({ path: F, manifest: manifestInput, chunks: [chunk], ram: sampleRam(), blockSize: BLOCK })
      const snap = yield* readSnapshot(F)
      expect(snap.manifest.chunks[0]).toMatchObject({ id: "device/timer", schema: "toy-timer", version: 1 })
      expect(yield* snap.decode(timerV2, "device/timer")).toEqual({ counter: 3, reload: 9, mode: "periodic" })
    })
  )
})

describe("Bytes: binary fields in JSON chunks", () => {
  const Blob = Bytes(8)

  it("encodes to canonical base64 and decodes back", () => {
    const value = Uint8Array.from([0, 1, 2, 250, 255])
    const encoded = Schema.encodeSync(Blob)(value)
    expect(encoded).toBe("AAEC+v8=")
    expect(Schema.decodeSync(Blob)(encoded)).toEqual(value)
  })

  it("refuses more bytes than its limit, both ways", () => {
    expect(() => Schema.encodeSync(Blob)(new Uint8Array(9))).toThrow(/at most 8 bytes/)
    expect(Schema.decodeEither(Blob)(Buffer.alloc(9).toString("base64"))._tag).toBe("Left")
  })

  it("refuses a string too long for the limit before decoding it", () => {
    expect(String(Schema.decodeEither(Blob)("A".repeat(10_000)))).toContain("at most 12 character")
  })

  it("refuses base64 that is not canonical", () => {
    for (const s of ["abc", "ab=c", "a\nbc=", "ab!=", "AAEC+v8"]) expect(Schema.decodeEither(Blob)(s)._tag, s).toBe("Left")
  })

  it("decodes to a value that owns its buffer", () => {
    const out = Schema.decodeSync(Blob)("AAEC")
    expect(out.byteOffset).toBe(0)
    expect(out.buffer.byteLength).toBe(3)
  })
})
