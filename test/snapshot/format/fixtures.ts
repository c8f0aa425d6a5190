import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import type { MachineConfig } from "../../../src/machine/MachineConfig.js"
import { Bytes } from "../../../src/snapshot/format/Bytes.js"
import * as ChunkCodec from "../../../src/snapshot/format/ChunkCodec.js"
import { sha256 } from "../../../src/snapshot/format/Digest.js"
import type { ManifestInput } from "../../../src/snapshot/format/SnapshotWriter.js"

/** Shared test material: a small two-region guest, a few chunks, and byte-level file surgery. */

export const KiB = 1024
export const MiB = 1024 * KiB
export const BLOCK = 64 * KiB
export const ID_A = "aaaaaaaaaaaaaaaa"
export const ID_B = "bbbbbbbbbbbbbbbb"

/** A scoped temp directory, removed when the test ends. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(path.join(tmpdir(), "snapfmt-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const regionsOf = (sizes: ReadonlyArray<number>) =>
  sizes.map((size, slot) => ({ slot, gpa: slot === 0 ? 0 : 0x1_0000_0000 + (slot - 1) * 0x1000_0000, size }))

/** Zeroed guest RAM shaped like `ram`: what a restore maps before reading. */
export const freshRam = (ram: GuestRam): GuestRam => ({
  size: ram.size,
  regions: ram.regions.map((r) => ({ slot: r.slot, gpa: r.gpa, size: r.size, bytes: new Uint8Array(r.size) }))
})

/** 512 KiB low + 256 KiB high, mostly zero, with a few written pages; `seed` varies their contents. */
export const sampleRam = (seed = 1, sizes: ReadonlyArray<number> = [512 * KiB, 256 * KiB]): GuestRam => {
  const regions = regionsOf(sizes).map((r) => ({ ...r, bytes: new Uint8Array(r.size) }))
  const page = (region: number, index: number) => regions[region].bytes.subarray(index * 4096, (index + 1) * 4096)
  page(0, 0).forEach((_, i, a) => (a[i] = (i * 7 + seed) & 0xff))
  page(0, 50).fill(seed)
  page(0, 127)[4095] = seed
  if (regions.length > 1) page(1, 3).forEach((_, i, a) => (a[i] = (i ^ seed) & 0xff))
  return { size: sizes.reduce((a, b) => a + b, 0), regions }
}

export const machine: MachineConfig = {
  name: "vm0",
  cpus: 1,
  memoryBytes: 768 * KiB,
  boot: { kernel: "/boot/kernel", cmdline: "console=ttyS0" },
  serial: [{ port: "com1", backend: { _tag: "stdio" } }],
  slots: [{ bus: 0, slot: 0, function: 0, emulation: "hostbridge", options: "" }],
  strictBus: false,
  options: {}
}

export const manifestInput: ManifestInput = {
  host: { cpuVendor: "AuthenticAMD", cpuModel: "AMD EPYC", kernelRelease: "6.8.0" },
  machine,
  vcpuCount: 1,
  devices: [{ id: "com1", kind: "uart16550", config: { port: "com1", backend: "stdio" } }]
}

/** A toy UART state, enough to exercise decoding and JSON paths. */
export const ToyUart = Schema.Struct({
  ier: Schema.Int.pipe(Schema.between(0, 15)),
  lcr: Schema.Int.pipe(Schema.between(0, 255)),
  rxFifo: Schema.Array(Schema.Int.pipe(Schema.between(0, 255)))
}).annotations({ identifier: "ToyUart" })
export const toyUartCodec = ChunkCodec.make({ kind: "device", schemaId: "toy-uart", version: 1, schema: ToyUart })

/** A vCPU with a 4 KiB binary area, the shape of an XSAVE blob. */
export const ToyVcpu = Schema.Struct({ rip: Schema.Int, xsave: Bytes(4096) }).annotations({ identifier: "ToyVcpu" })
export const toyVcpuCodec = ChunkCodec.make({ kind: "vcpu", schemaId: "toy-vcpu", version: 1, schema: ToyVcpu })

export const xsave = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff)

export const sampleChunks = Effect.all([
  ChunkCodec.encodeChunk(toyUartCodec, "device/com1", { ier: 5, lcr: 3, rxFifo: [0x41, 0x42] }),
  ChunkCodec.encodeChunk(toyVcpuCodec, "vcpu/0", { rip: 0x100000, xsave }),
  Effect.succeed({ id: "vm/irqchip", kind: "vm", schemaId: "toy-irqchip", version: 1, payload: new TextEncoder().encode('{"pins":[0,1,0]}') })
]).pipe(Effect.orDie)

export const read = (p: string) => new Uint8Array(readFileSync(p))
export const write = (p: string, bytes: Uint8Array) => writeFileSync(p, bytes)

/** Header fields of a state file, read raw. */
export const headerFields = (bytes: Uint8Array) => {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { manifestOffset: Number(v.getBigUint64(16, true)), manifestLength: Number(v.getBigUint64(24, true)) }
}

export const manifestJson = (bytes: Uint8Array): Record<string, unknown> => {
  const { manifestLength, manifestOffset } = headerFields(bytes)
  return JSON.parse(new TextDecoder().decode(bytes.subarray(manifestOffset, manifestOffset + manifestLength)))
}

/**
 * Rebuilds a state file with edits and *correct* checksums, to reach the
 * checks that sit behind them (what a careless or malicious writer could produce).
 */
export const forge = (
  bytes: Uint8Array,
  edit: {
    readonly major?: number
    readonly minor?: number
    readonly manifest?: (json: Record<string, unknown>) => unknown
    readonly manifestText?: (text: string) => string
    readonly manifestOffset?: number
    readonly manifestLength?: number
  }
): Uint8Array => {
  const { manifestOffset } = headerFields(bytes)
  let text = JSON.stringify(edit.manifest ? edit.manifest(manifestJson(bytes)) : manifestJson(bytes))
  if (edit.manifestText) text = edit.manifestText(text)
  const manifest = new TextEncoder().encode(text)
  const out = new Uint8Array(manifestOffset + manifest.length)
  out.set(bytes.subarray(0, manifestOffset))
  out.set(manifest, manifestOffset)
  const v = new DataView(out.buffer)
  if (edit.major !== undefined) v.setUint16(8, edit.major, true)
  if (edit.minor !== undefined) v.setUint16(10, edit.minor, true)
  v.setBigUint64(16, BigInt(edit.manifestOffset ?? manifestOffset), true)
  v.setBigUint64(24, BigInt(edit.manifestLength ?? manifest.length), true)
  out.set(sha256(manifest), 32)
  out.set(sha256(out.subarray(0, 64)), 64)
  return out
}
