import { afterAll, describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { readErrorTags } from "../../../src/snapshot/format/SnapshotErrors.js"
import * as SnapshotFsLive from "../../../src/snapshot/format/SnapshotFsLive.js"
import { readSnapshot } from "../../../src/snapshot/format/SnapshotReader.js"
import { writeSnapshot } from "../../../src/snapshot/format/SnapshotWriter.js"
import { BLOCK, forge, freshRam, manifestInput, read, sampleChunks, sampleRam, toyUartCodec, toyVcpuCodec, write } from "./fixtures.js"

/*
 * Hostile input never throws, dies or hangs the reader: every run either
 * succeeds or fails with one of the typed read errors. The reader is
 * synchronous over the live fs, so runSyncExit also proves it never waits.
 */

const SEED = 20261125
const dir = mkdtempSync(path.join(tmpdir(), "snapfuzz-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const RAM = sampleRam()
const original = await Effect.runPromise(
  Effect.flatMap(sampleChunks, (chunks) =>
    writeSnapshot({ path: path.join(dir, "vm.snap"), manifest: manifestInput, chunks, ram: RAM, blockSize: BLOCK })
  ).pipe(Effect.provide(SnapshotFsLive.layer))
)
const STATE = read(original.path)
const RAMFILE = read(original.ramPath)
const MUTANT = path.join(dir, "mutant.snap")

/** Everything a restore does with a snapshot: open it, decode its chunks, fill guest RAM. */
const everything = (p: string) =>
  Effect.gen(function* () {
    const snap = yield* readSnapshot(p)
    yield* Effect.either(snap.decode(toyUartCodec, "device/com1"))
    yield* Effect.either(snap.decode(toyVcpuCodec, "vcpu/0"))
    yield* snap.restoreRam(freshRam(RAM), { verify: "all" })
  }).pipe(Effect.provide(SnapshotFsLive.layer))

const typedOutcome = (p: string): string => {
  const exit = Effect.runSyncExit(everything(p))
  if (Exit.isSuccess(exit)) return "ok"
  if (exit.cause._tag === "Fail" && readErrorTags.includes(exit.cause.error._tag)) return exit.cause.error._tag
  return `untyped: ${String(exit.cause)}`
}

type Mutation =
  | { readonly op: "flip"; readonly at: number; readonly xor: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "delete"; readonly at: number; readonly count: number }

const position = FastCheck.double({ min: 0, max: 1, noNaN: true })
const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.oneof(
  FastCheck.record({ op: FastCheck.constant("flip" as const), at: position, xor: FastCheck.integer({ min: 1, max: 255 }) }),
  FastCheck.record({ op: FastCheck.constant("truncate" as const), at: position }),
  FastCheck.record({ op: FastCheck.constant("insert" as const), at: position, bytes: FastCheck.uint8Array({ minLength: 1, maxLength: 16 }) }),
  FastCheck.record({ op: FastCheck.constant("delete" as const), at: position, count: FastCheck.integer({ min: 1, max: 64 }) })
)

const apply = (bytes: Uint8Array, m: Mutation): Uint8Array => {
  const at = Math.floor(m.at * bytes.length)
  switch (m.op) {
    case "flip": {
      const out = bytes.slice()
      if (at < out.length) out[at] ^= m.xor
      return out
    }
    case "truncate":
      return bytes.slice(0, at)
    case "insert":
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)])
    case "delete":
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.count)])
  }
}

/** Edits of the manifest text that a checksum cannot catch (the checksums are recomputed). */
const textEdit = FastCheck.oneof(
  FastCheck.record({
    kind: FastCheck.constant("number" as const),
    which: FastCheck.nat(30),
    value: FastCheck.oneof(FastCheck.integer(), FastCheck.constantFrom(-1, 0, 1, 2 ** 53, 2 ** 64, 1e308, 0.5, 4096, 96, 100, 130))
  }),
  FastCheck.record({ kind: FastCheck.constant("cut" as const), at: position, count: FastCheck.integer({ min: 1, max: 40 }) }),
  FastCheck.record({ kind: FastCheck.constant("insert" as const), at: position, text: FastCheck.string({ unit: FastCheck.constantFrom(..."{}[]\",:0123456789aez-.\\ ") , maxLength: 12 }) })
)

const editText = (text: string, e: typeof textEdit extends FastCheck.Arbitrary<infer T> ? T : never): string => {
  switch (e.kind) {
    case "number": {
      let n = 0
      // Only JSON number values (offsets, lengths, sizes, versions), not digits inside hashes.
      return text.replace(/(?<=[:[,])-?\d+(\.\d+)?(?=[,\]}])/g, (m) => (n++ === e.which ? String(e.value) : m))
    }
    case "cut": {
      const at = Math.floor(e.at * text.length)
      return text.slice(0, at) + text.slice(at + e.count)
    }
    case "insert": {
      const at = Math.floor(e.at * text.length)
      return text.slice(0, at) + e.text + text.slice(at)
    }
  }
}

describe("the reader on hostile input (fixed seed)", () => {
  it("random bytes, with and without a valid magic and version, only ever fail with a typed error", () => {
    const prefix = STATE.subarray(0, 12)
    FastCheck.assert(
      FastCheck.property(FastCheck.uint8Array({ maxLength: 400 }), FastCheck.boolean(), (bytes, withMagic) => {
        write(MUTANT, withMagic ? Buffer.concat([prefix, bytes]) : bytes)
        const outcome = typedOutcome(MUTANT)
        expect(outcome).not.toMatch(/^untyped|^ok$/)
      }),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("random mutations of a valid state file succeed or fail with a typed error", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        write(MUTANT, ms.reduce(apply, STATE))
        expect(typedOutcome(MUTANT)).not.toMatch(/^untyped/)
      }),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("manifest edits behind valid checksums (numbers, cuts, inserted JSON) succeed or fail with a typed error", () => {
    const seen = new Set<string>()
    FastCheck.assert(
      FastCheck.property(FastCheck.array(textEdit, { minLength: 1, maxLength: 3 }), (edits) => {
        write(MUTANT, forge(STATE, { manifestText: (t) => edits.reduce(editText, t) }))
        const outcome = typedOutcome(MUTANT)
        seen.add(outcome)
        expect(outcome).not.toMatch(/^untyped/)
      }),
      { seed: SEED, numRuns: 1000 }
    )
    // The edits reach past the checksums into the checks behind them.
    for (const tag of ["ManifestInvalid", "Truncated", "ChecksumMismatch", "RamFileMismatch"]) expect(seen).toContain(tag)
  })

  it("random mutations of the RAM file succeed or fail with a typed error", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        write(original.ramPath, ms.reduce(apply, RAMFILE))
        expect(typedOutcome(original.path)).not.toMatch(/^untyped/)
      }),
      { seed: SEED, numRuns: 150 }
    )
    write(original.ramPath, RAMFILE)
  })
})
