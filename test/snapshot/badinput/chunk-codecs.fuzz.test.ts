import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as DeviceClock from "../../../src/servers/DeviceClock.js"
import { makeManualClock } from "../../../src/servers/DeviceClock.js"
import * as Bus from "../../../src/bus/Bus.js"
import { DeviceServers, layerDeviceServers } from "../../../src/servers/DeviceServer.js"
import { layerRecording, makeRecordingController } from "../../../src/servers/InterruptController.js"
import { layerMachineEvents } from "../../../src/servers/MachineEvents.js"
import * as PmServer from "../../../src/servers/pm/PmServer.js"
import * as ResetServer from "../../../src/servers/reset/ResetServer.js"
import * as RtcServer from "../../../src/servers/rtc/RtcServer.js"
import { makeMemory } from "../../../src/servers/serial-backend/MemoryBackend.js"
import * as Uart from "../../../src/servers/uart/UartServer.js"
import * as ChunkCodec from "../../../src/snapshot/format/ChunkCodec.js"
import type { ChunkEntry } from "../../../src/snapshot/format/Manifest.js"
import { vcpuCodec } from "../../../src/kernel/kvm/KvmVcpuState.js"
import { vmCodec } from "../../../src/kernel/kvm/KvmVmState.js"
import { type Json, type JsonObject, parseStateFile } from "./StateFile.js"

/*
 * Every codec a restore decodes chunks with (the vCPU's, the VM's, and each
 * device server's, taken from the servers themselves), fed random JSON,
 * mutations of real chunks and random bytes, with a fixed seed. Decoding
 * must end in a value or a ChunkInvalid, never a throw (the schema is also
 * run bare, since decodeChunk would turn a throw into a ChunkInvalid
 * "cannot be decoded"), and whatever decodes must encode again and decode
 * to the same value: anything a restore accepts, a later save can write.
 */

const SEED = 20261127

/** Real chunks: the committed format 1.0 fixture (a KVM-made vCPU and VM, and every legacy device). */
const fixture = parseStateFile(new Uint8Array(readFileSync(fileURLToPath(new URL("../../fixtures/snapshots/v1/compute.snap", import.meta.url)))))
const seedJson = (id: string): Json => JSON.parse(new TextDecoder().decode(fixture.chunks.get(id))) as Json

/** The device codecs as a restore builds them: from the device servers of a machine with every legacy device. */
const deviceCodecs = Effect.runSync(
  Effect.scoped(
    Effect.gen(function* () {
      const base = Layer.mergeAll(
        Bus.layer({ report: () => {} }),
        layerDeviceServers,
        layerRecording(makeRecordingController()),
        layerMachineEvents,
        DeviceClock.layer(makeManualClock(0))
      )
      const devices = Layer.mergeAll(
        RtcServer.layer({ lowmem: 64 * 1024 * 1024, highmem: 0, clock: () => 0 }),
        PmServer.layer(),
        ResetServer.layer,
        Uart.layer({ id: "com1", backend: makeMemory() })
      ).pipe(Layer.provideMerge(base))
      const context = yield* Layer.build(devices)
      return Context.get(context, DeviceServers).map((server) => ({ id: `device/${server.id}`, codec: ChunkCodec.fromDeviceServer(server) }))
    })
  )
)

const codecs: ReadonlyArray<{ readonly id: string; readonly codec: ChunkCodec.ChunkCodec<unknown> }> = [
  { id: "vm", codec: vmCodec as ChunkCodec.ChunkCodec<unknown> },
  { id: "vcpu/0", codec: vcpuCodec as ChunkCodec.ChunkCodec<unknown> },
  ...deviceCodecs
]

const entryFor = (id: string, codec: ChunkCodec.ChunkCodec<unknown>, length: number): ChunkEntry => ({
  id,
  kind: codec.kind,
  schema: codec.schemaId,
  version: codec.version,
  offset: 96,
  length,
  sha256: "0".repeat(64)
})

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly details: string }

/** decodeChunk on a payload: a value, or a ChunkInvalid's details; anything else fails the test. */
const decode = (id: string, codec: ChunkCodec.ChunkCodec<unknown>, payload: Uint8Array, entry = entryFor(id, codec, payload.length)): Outcome => {
  const exit = Effect.runSyncExit(ChunkCodec.decodeChunk(codec, entry, payload, "fuzz.snap"))
  if (Exit.isSuccess(exit)) return { ok: true, value: exit.value }
  if (exit.cause._tag !== "Fail") throw new Error(`${id}: decodeChunk died: ${String(exit.cause)}`)
  expect(exit.cause.error._tag).toBe("ChunkInvalid")
  expect(exit.cause.error.chunkId).toBe(id)
  return { ok: false, details: exit.cause.error.details }
}

/** Everything the schema says about `json`, run bare so that a throw is seen as one. */
const bareDecode = (codec: ChunkCodec.ChunkCodec<unknown>, json: unknown) =>
  Schema.decodeUnknownEither(codec.schema, { errors: "all", onExcessProperty: "error" })(json)

const encoder = new TextEncoder()

/** The full contract for one JSON value. */
const check = (id: string, codec: ChunkCodec.ChunkCodec<unknown>, json: unknown, seen: Set<string>) => {
  expect(() => bareDecode(codec, json)).not.toThrow()
  const text = JSON.stringify(json)
  const outcome = decode(id, codec, encoder.encode(text ?? "null"))
  if (!outcome.ok) {
    // Every refusal names where it is (a JSON path) or why the payload is not JSON at all.
    expect(outcome.details).toMatch(/^(at \$|not UTF-8 JSON: )/)
    expect(outcome.details).not.toMatch(/^cannot be decoded: /)
    seen.add("refused")
    return
  }
  seen.add("accepted")
  const again = Effect.runSync(ChunkCodec.encodeChunk(codec, id, outcome.value))
  const back = decode(id, codec, again.payload)
  expect(back.ok).toBe(true)
  if (back.ok) expect(back.value).toEqual(outcome.value)
}

/** Values that sit at the edges of the schemas' domains (U64 strings, bytes, byte-sized ints, base64). */
const edgeValue: FastCheck.Arbitrary<Json> = FastCheck.oneof(
  FastCheck.constantFrom<Json>(
    null, true, false, 0, -0, 1, -1, 15, 16, 255, 256, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5,
    "", "0", "-1", "18446744073709551615", "18446744073709551616", "0x10", "1e3", " 1", "AAAA", "AA==", "A===", "****", "AAA",
    [], {}, [0], { "": null }
  ),
  FastCheck.integer(),
  FastCheck.double(),
  FastCheck.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => n.toString()),
  FastCheck.uint8Array({ maxLength: 1100 }).map((b) => Buffer.from(b).toString("base64")),
  FastCheck.constantFrom(16, 111, 112, 127, 128, 519, 520, 521, 1023, 1024, 1025, 4095, 4096, 4097, 8192).map((n) => Buffer.alloc(n).toString("base64"))
)

const anyJson: FastCheck.Arbitrary<Json> = FastCheck.oneof(
  { weight: 2, arbitrary: FastCheck.jsonValue({ maxDepth: 4 }) as FastCheck.Arbitrary<Json> },
  { weight: 1, arbitrary: edgeValue }
)

/** Where in a JSON tree an edit lands: every container and every value has a path. */
const paths = (json: Json, at: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> => {
  const here = [at]
  if (Array.isArray(json)) return [...here, ...json.flatMap((v, i) => paths(v, [...at, i]))]
  if (json !== null && typeof json === "object") return [...here, ...Object.entries(json).flatMap(([k, v]) => paths(v, [...at, k]))]
  return here
}

type Edit =
  | { readonly op: "replace"; readonly where: number; readonly value: Json }
  | { readonly op: "delete"; readonly where: number }
  | { readonly op: "add"; readonly where: number; readonly key: string; readonly value: Json }
  | { readonly op: "resize"; readonly where: number; readonly by: number }

const edit: FastCheck.Arbitrary<Edit> = FastCheck.oneof(
  { weight: 4, arbitrary: FastCheck.record({ op: FastCheck.constant("replace" as const), where: FastCheck.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), value: anyJson }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("delete" as const), where: FastCheck.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }) },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      op: FastCheck.constant("add" as const),
      where: FastCheck.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      key: FastCheck.oneof(FastCheck.string({ maxLength: 8 }), FastCheck.constantFrom("__proto__", "constructor", "id", "regs", "0")),
      value: anyJson
    })
  },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("resize" as const), where: FastCheck.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), by: FastCheck.integer({ min: -4, max: 4 }) }) }
)

/** Applies an edit to a copy of `json` (the root can be replaced too). */
const applyEdit = (json: Json, e: Edit): Json => {
  const copy = structuredClone(json)
  const all = paths(copy)
  const path = all[Math.floor(e.where * all.length)]
  if (path.length === 0) return e.op === "replace" ? e.value : copy
  const parentPath = path.slice(0, -1)
  const key = path[path.length - 1]
  let parent: Json = copy
  for (const k of parentPath) parent = (parent as Record<string | number, Json>)[k]
  const container = parent as Record<string | number, Json>
  const target = container[key]
  switch (e.op) {
    case "replace":
      container[key] = e.value
      break
    case "delete":
      if (Array.isArray(container) && typeof key === "number") container.splice(key, 1)
      else delete container[key]
      break
    case "add":
      if (target !== null && typeof target === "object" && !Array.isArray(target)) Object.defineProperty(target, e.key, { value: e.value, enumerable: true, writable: true, configurable: true })
      else if (Array.isArray(target)) target.push(e.value)
      break
    case "resize":
      // Strings (base64 blobs) and arrays (MSRs, FIFOs, CMOS) grow or shrink by a few units.
      if (typeof target === "string") container[key] = e.by >= 0 ? target + "A".repeat(e.by * 4) : target.slice(0, Math.max(0, target.length + e.by * 4))
      else if (Array.isArray(target)) container[key] = e.by >= 0 ? [...target, ...target.slice(0, e.by)] : target.slice(0, Math.max(0, target.length + e.by))
      break
  }
  return copy
}

describe("every chunk codec on hostile payloads (fixed seed)", () => {
  it("the codecs under test: the vCPU's, the VM's and every legacy device's, each with a real chunk that decodes", () => {
    expect(codecs.map((c) => c.id).sort()).toEqual(["device/com1", "device/i8042", "device/pm", "device/reset-cf9", "device/rtc", "vcpu/0", "vm"])
    for (const { id, codec } of codecs) {
      const outcome = decode(id, codec, fixture.chunks.get(id) ?? new Uint8Array())
      expect(outcome.ok, `${id}: ${outcome.ok ? "" : outcome.details}`).toBe(true)
    }
  })

  for (const { id, codec } of codecs) {
    describe(`${id} (${codec.schemaId} v${codec.version})`, () => {
      it("random JSON values: a value or a ChunkInvalid with a JSON path, never a throw", () => {
        const seen = new Set<string>()
        FastCheck.assert(FastCheck.property(anyJson, (json) => check(id, codec, json, seen)), { seed: SEED, numRuns: 300 })
        expect(seen).toContain("refused")
      })

      it("edits of a real chunk (values replaced, fields deleted or added, blobs and arrays resized): the same, and accepted values round-trip", () => {
        const seed = seedJson(id)
        const seen = new Set<string>()
        FastCheck.assert(
          FastCheck.property(FastCheck.array(edit, { minLength: 1, maxLength: 3 }), (edits) => check(id, codec, edits.reduce(applyEdit, seed), seen)),
          { seed: SEED, numRuns: 400 }
        )
        // Both sides are reached: some edits keep the chunk valid, most do not.
        expect([...seen].sort()).toEqual(["accepted", "refused"])
      })

      it("random bytes, versions and kinds: only ChunkInvalid", () => {
        FastCheck.assert(
          FastCheck.property(
            FastCheck.uint8Array({ maxLength: 64 }),
            FastCheck.integer({ min: 1, max: 0xffff }),
            FastCheck.constantFrom(codec.kind, "vm", "vcpu", "device", "gpu"),
            FastCheck.constantFrom(codec.schemaId, "x86-vcpu", "uart16550", "virtio-blk"),
            (bytes, version, kind, schema) => {
              const entry = { ...entryFor(id, codec, bytes.length), version, kind, schema }
              const outcome = decode(id, codec, bytes, entry)
              if (version !== codec.version || kind !== codec.kind || schema !== codec.schemaId) expect(outcome.ok).toBe(false)
            }
          ),
          { seed: SEED, numRuns: 200 }
        )
      })
    })
  }

  // Formatting schema issues walks the value, so it runs inside decodeChunk's try.
  it("a deeply nested payload is refused, not a stack overflow", () => {
    for (const { id, codec } of codecs) {
      const deep = "[".repeat(100_000) + "]".repeat(100_000)
      const outcome = decode(id, codec, encoder.encode(deep))
      expect(outcome.ok).toBe(false)
      const obj = `{"a":${deep}}`
      expect(decode(id, codec, encoder.encode(obj)).ok).toBe(false)
    }
  })

  it("the device schemas' invariants: real chunks pass, each broken invariant is refused at its JSON path", () => {
    const codecOf = (id: string) => {
      const found = codecs.find((c) => c.id === id)
      if (found === undefined) throw new Error(`no codec ${id}`)
      return found.codec
    }
    const details = (id: string, json: Json) => {
      const outcome = decode(id, codecOf(id), encoder.encode(JSON.stringify(json)))
      return outcome.ok ? "accepted" : outcome.details
    }
    const rtc = seedJson("device/rtc") as JsonObject
    const cmos = (cell: number, value: number) => ({ ...rtc, cmos: (rtc.cmos as Array<number>).map((v, i) => (i === cell ? value : v)) })
    expect(details("device/rtc", rtc)).toBe("accepted")
    expect(details("device/rtc", cmos(10, 0xa6))).toMatch(/^at \$\.cmos\[10\]: register A's UIP bit is computed, never stored$/)
    expect(details("device/rtc", cmos(11, 0x92))).toMatch(/^at \$\.cmos\[11\]: register B has SET and UIE both set/)
    expect(details("device/rtc", cmos(12, 0x01))).toMatch(/^at \$\.cmos\[12\]: register C bits 0-3 are always 0, got 0x1$/)
    expect(details("device/rtc", cmos(12, 0x80))).toMatch(/^at \$\.cmos\[12\]: register C's IRQF disagrees/)
    expect(details("device/rtc", cmos(12, 0x40))).toBe("accepted") // PF without PIE: no IRQF, as the device keeps it
    expect(details("device/rtc", { ...rtc, offsetMs: 8.64e15 + 1 })).toMatch(/^at \$\.offsetMs: /)
    expect(details("device/rtc", { ...rtc, lastTickMs: -1e300 })).toMatch(/^at \$\.lastTickMs: /)
    const pm = seedJson("device/pm") as JsonObject
    expect(details("device/pm", pm)).toBe("accepted")
    expect(details("device/pm", { ...pm, status: 0x0002 })).toMatch(/^at \$\.status: PM1_STS bits 0x2 are never set$/)
    expect(details("device/pm", { ...pm, enable: 0x0002 })).toMatch(/^at \$\.enable: PM1_EN bits 0x2 are never set$/)
    expect(details("device/pm", { ...pm, control: 0x2001 })).toMatch(/^at \$\.control: PM1_CNT bits 0x2000 are never set$/)
    expect(details("device/pm", { ...pm, control: 0 })).toMatch(/^at \$\.control: PM1_CNT SCI_EN is always set$/)
    const i8042 = seedJson("device/i8042") as JsonObject
    for (const waiting of [0, 0x60, 0xd1]) expect(details("device/i8042", { ...i8042, awaitingData: waiting })).toBe("accepted")
    expect(details("device/i8042", { ...i8042, awaitingData: 0x20 })).toMatch(/^at \$\.awaitingData: 0x20 is not a command that waits for data/)
    expect(details("device/reset-cf9", { value: 0x06 })).toMatch(/^at \$\.value: RST_CPU is never stored$/)
    const vcpu = seedJson("vcpu/0") as JsonObject
    for (const mp of [0, 1, 2, 3, 4, 9]) expect(details("vcpu/0", { ...vcpu, mpState: mp })).toBe("accepted")
    for (const mp of [5, 6, 7, 8, 10, 99, -1]) expect(details("vcpu/0", { ...vcpu, mpState: mp })).toMatch(/^at \$\.mpState: /)
  })

  it("the real vm chunk keeps decoding after the semantic checks, and each check refuses with its path", () => {
    const vm = seedJson("vm") as JsonObject
    const patched = (field: string, patch: (bytes: Uint8Array) => void): JsonObject => {
      const bytes = new Uint8Array(Buffer.from(String(vm[field]), "base64"))
      patch(bytes)
      return { ...vm, [field]: Buffer.from(bytes).toString("base64") }
    }
    const entry = (pin: number, low: number) => patched("ioapic", (b) => new DataView(b.buffer).setUint32(32 + 8 * pin, low, true))
    const details = (json: Json) => {
      const outcome = decode("vm", vmCodec as ChunkCodec.ChunkCodec<unknown>, encoder.encode(JSON.stringify(json)))
      return outcome.ok ? "accepted" : outcome.details
    }
    expect(details(vm)).toBe("accepted")
    // Masked entries are never delivered: anything may sit there, as KVM keeps whatever the guest wrote.
    expect(details(entry(0, 0x10000 | (3 << 8)))).toBe("accepted")
    // Live entries KVM delivers: fixed/lowest priority need a vector >= 16; SMI, NMI, INIT, ExtINT ignore it.
    expect(details(entry(0, 0x30))).toBe("accepted")
    expect(details(entry(0, (1 << 8) | 0xef))).toBe("accepted")
    for (const mode of [2, 4, 5, 7]) expect(details(entry(0, mode << 8))).toBe("accepted")
    expect(details(entry(5, 3 << 8 | 0x40))).toMatch(/^at \$\.ioapic: IOAPIC redirection entry 5 \(0x340\): delivery mode 3 is reserved$/)
    expect(details(entry(23, 6 << 8 | 0x40))).toMatch(/^at \$\.ioapic: IOAPIC redirection entry 23 \(0x640\): delivery mode 6 is reserved$/)
    expect(details(entry(1, 1 << 8 | 0x0f))).toMatch(/^at \$\.ioapic: IOAPIC redirection entry 1 \(0x10f\): vector 15 is below 16/)
    const ioapicAt = (offset: number, set: (v: DataView, at: number) => void) => patched("ioapic", (b) => set(new DataView(b.buffer), 8 + offset))
    expect(details(ioapicAt(0, (v, at) => v.setBigUint64(at, 0xfec01000n, true)))).toMatch(/^at \$\.ioapic: IOAPIC base address is 0xfec01000, KVM's is always 0xfec00000$/)
    expect(details(ioapicAt(12, (v, at) => v.setUint32(at, 16, true)))).toMatch(/^at \$\.ioapic: IOAPIC id 16 does not fit its 4 bits$/)
    expect(details(ioapicAt(16, (v, at) => v.setUint32(at, 0x80ffffff, true)))).toMatch(/^at \$\.ioapic: IOAPIC irr 0x80ffffff has bits above pin 23$/)
    expect(details(ioapicAt(16, (v, at) => v.setUint32(at, 0xffffff, true)))).toBe("accepted")
    expect(details({ ...vm, ioapic: vm.picSlave })).toMatch(/^at \$\.ioapic: chip_id is 1, expected 2 \(IOAPIC\)/)
    const pic = (field: "picMaster" | "picSlave", index: number, value: number) => patched(field, (b) => (b[8 + index] = value))
    expect(details(pic("picMaster", 4, 8))).toMatch(/^at \$\.picMaster: 8259 priority_add is 8, expected 0\.\.7$/)
    expect(details(pic("picSlave", 9, 4))).toMatch(/^at \$\.picSlave: 8259 init_state is 4, expected 0\.\.3$/)
    expect(details(pic("picSlave", 15, 0xf8))).toMatch(/^at \$\.picSlave: 8259 elcr_mask is 0xf8, KVM's is 0xde$/)
    expect(details(pic("picSlave", 14, 0x21))).toMatch(/^at \$\.picSlave: 8259 elcr 0x21 sets bits outside elcr_mask 0xde$/)
    expect(details(pic("picSlave", 14, 0xde))).toBe("accepted")
    for (const flag of [6, 7, 8, 10, 11, 12, 13]) expect(details(pic("picMaster", flag, 2))).toMatch(/^at \$\.picMaster: 8259 \w+ is 2, a flag \(0 or 1\)$/)
    // Several problems: every one listed, each on its own line.
    expect(details({ ...entry(1, 0x01), picSlave: vm.picMaster }).split("\n")).toHaveLength(3)
  })
})
