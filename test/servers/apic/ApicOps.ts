import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import type { AccessSize } from "../../../src/bus/DeviceHandlers.js"
import type { DeviceServer } from "../../../src/servers/DeviceServer.js"
import { IOAPIC_BASE } from "../../../src/servers/apic/IoapicRegisters.js"
import { LAPIC_BASE } from "../../../src/servers/apic/LapicRegisters.js"
import * as ChunkCodec from "../../../src/snapshot/format/ChunkCodec.js"
import type { ChunkEntry } from "../../../src/snapshot/format/Manifest.js"
import type { Rig } from "./ApicRig.js"

/*
 * Random traffic for the APIC side: MMIO to both pages (the registers and
 * their neighbours, at every width), IOAPIC programming through the index
 * register, device lines, MSI messages, the CPU taking interrupts, NMIs
 * and start-ups, EOIs, time passing, and snapshot round trips.
 */

export const CPUS = 3

export type Op =
  | { readonly kind: "lapic"; readonly cpu: number; readonly offset: number; readonly size: AccessSize; readonly write: boolean; readonly value: number }
  | { readonly kind: "ioapic"; readonly offset: number; readonly size: AccessSize; readonly write: boolean; readonly value: number }
  | { readonly kind: "program"; readonly index: number; readonly value: number }
  | { readonly kind: "enable"; readonly cpu: number; readonly on: boolean }
  | { readonly kind: "timer"; readonly cpu: number; readonly lvt: number; readonly divide: number; readonly count: number }
  | { readonly kind: "route"; readonly pin: number; readonly low: number; readonly destination: number }
  | { readonly kind: "ipi"; readonly cpu: number; readonly low: number; readonly destination: number }
  | { readonly kind: "line"; readonly n: number; readonly level: boolean }
  | { readonly kind: "msi"; readonly address: bigint; readonly data: number }
  | { readonly kind: "cpu"; readonly what: "has" | "ack" | "nmi" | "startup" | "eoi"; readonly id: number }
  | { readonly kind: "time"; readonly ns: number }
  | { readonly kind: "snapshot" }

const u32 = FastCheck.integer({ min: 0, max: 0xffff_ffff })
const size = FastCheck.constantFrom<AccessSize>(1, 2, 4, 8)

/** Values that mean something to the registers, beside random ones (and a few a guest could never write through a bus). */
const value = FastCheck.oneof(
  { weight: 4, arbitrary: u32 },
  {
    weight: 6,
    arbitrary: FastCheck.record({
      vector: FastCheck.integer({ min: 0, max: 0xff }),
      mode: FastCheck.constantFrom(0, 1, 2, 3, 4, 5, 6, 7),
      flags: FastCheck.constantFrom(0, 1 << 11, 1 << 14, 1 << 15, 1 << 16, 3 << 17, 1 << 18, 2 << 18, 3 << 18, 0x1ff << 8)
    }).map(({ vector, mode, flags }) => (vector | (mode << 8) | flags) >>> 0)
  },
  { weight: 2, arbitrary: FastCheck.constantFrom(0, 1, 0xff, 0x1ff, 0xffff_ffff, 0x0fff_ffff, 62_500, 0b1011, 0b0011) },
  { weight: 1, arbitrary: FastCheck.oneof(FastCheck.integer(), FastCheck.double()) }
)

const LAPIC_OFFSETS = Array.from({ length: 0x40 }, (_, i) => i * 0x10)
/** The registers with side effects or that steer delivery. */
const BUSY_OFFSETS = [0x20, 0xb0, 0xd0, 0xe0, 0xf0, 0x280, 0x300, 0x310, 0x320, 0x350, 0x360, 0x370, 0x380, 0x390, 0x3e0]

const vector = FastCheck.oneof({ weight: 9, arbitrary: FastCheck.integer({ min: 0x10, max: 0xff }) }, { weight: 1, arbitrary: FastCheck.integer({ min: 0, max: 0xff }) })
const destination = FastCheck.oneof(FastCheck.integer({ min: 0, max: CPUS }), FastCheck.constantFrom(0xff, 0b011, 0b110), FastCheck.integer({ min: 0, max: 0xff }))
const bit = (n: number) => FastCheck.boolean().map((b) => (b ? 1 << n : 0))
/** A message-like low dword: vector, delivery mode, logical, level assert, level trigger, masked (or shorthand for an ICR). */
const messageLow = (modes: ReadonlyArray<number>, extra: FastCheck.Arbitrary<number>) =>
  FastCheck.tuple(vector, FastCheck.constantFrom(...modes), bit(11), bit(14), bit(15), extra).map(
    ([v, mode, logical, assert, level, more]) => (v | (mode << 8) | logical | assert | level | more) >>> 0
  )

export const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  {
    weight: 6,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("lapic" as const),
      cpu: FastCheck.integer({ min: 0, max: CPUS }),
      offset: FastCheck.oneof(
        { weight: 4, arbitrary: FastCheck.constantFrom(...BUSY_OFFSETS) },
        { weight: 4, arbitrary: FastCheck.constantFrom(...LAPIC_OFFSETS) },
        { weight: 1, arbitrary: FastCheck.integer({ min: 0, max: 0xfff }) }
      ),
      size,
      write: FastCheck.boolean(),
      value
    })
  },
  {
    weight: 3,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("ioapic" as const),
      offset: FastCheck.oneof(FastCheck.constantFrom(0x00, 0x10, 0x40, 0x04, 0x14, 0x01, 0xffc), FastCheck.integer({ min: 0, max: 0xfff })),
      size,
      write: FastCheck.boolean(),
      value
    })
  },
  {
    weight: 3,
    arbitrary: FastCheck.record({ kind: FastCheck.constant("program" as const), index: FastCheck.integer({ min: 0, max: 0x42 }), value })
  },
  {
    weight: 3,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("enable" as const),
      cpu: FastCheck.integer({ min: 0, max: CPUS - 1 }),
      on: FastCheck.oneof({ weight: 5, arbitrary: FastCheck.constant(true) }, { weight: 1, arbitrary: FastCheck.constant(false) })
    })
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("timer" as const),
      cpu: FastCheck.integer({ min: 0, max: CPUS - 1 }),
      lvt: FastCheck.tuple(vector, FastCheck.constantFrom(0, 1, 2, 3), bit(16)).map(([v, mode, masked]) => (v | (mode << 17) | masked) >>> 0),
      divide: FastCheck.integer({ min: 0, max: 0xf }),
      count: FastCheck.oneof(FastCheck.integer({ min: 0, max: 100_000 }), u32)
    })
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("route" as const),
      pin: FastCheck.integer({ min: 0, max: 23 }),
      low: messageLow([0, 0, 0, 1, 2, 3, 4, 5, 6, 7], FastCheck.oneof({ weight: 4, arbitrary: FastCheck.constant(0) }, { weight: 1, arbitrary: FastCheck.constant(1 << 16) })),
      destination
    })
  },
  {
    weight: 3,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("ipi" as const),
      cpu: FastCheck.integer({ min: 0, max: CPUS - 1 }),
      low: messageLow([0, 0, 1, 2, 3, 4, 5, 6, 7], FastCheck.integer({ min: 0, max: 3 }).map((shorthand) => shorthand << 18)),
      destination
    })
  },
  {
    weight: 6,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("line" as const),
      n: FastCheck.oneof({ weight: 3, arbitrary: FastCheck.constantFrom(0, 4, 9, 16, 17) }, { weight: 1, arbitrary: FastCheck.integer({ min: 0, max: 25 }) }),
      level: FastCheck.boolean()
    })
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("msi" as const),
      address: FastCheck.oneof(
        FastCheck.integer({ min: 0, max: 0xff }).map((dest) => 0xfee0_0000n | (BigInt(dest) << 12n)),
        FastCheck.bigInt({ min: 0n, max: 2n ** 64n - 1n })
      ),
      data: value
    })
  },
  {
    weight: 10,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("cpu" as const),
      what: FastCheck.constantFrom("has" as const, "ack" as const, "ack" as const, "nmi" as const, "startup" as const, "eoi" as const),
      id: FastCheck.oneof({ weight: 9, arbitrary: FastCheck.integer({ min: 0, max: CPUS - 1 }) }, { weight: 1, arbitrary: FastCheck.constant(CPUS) })
    })
  },
  {
    weight: 3,
    arbitrary: FastCheck.record({
      kind: FastCheck.constant("time" as const),
      ns: FastCheck.oneof(FastCheck.integer({ min: 0, max: 3_000_000 }), FastCheck.integer({ min: 0, max: 60_000_000_000 }))
    })
  },
  { weight: 1, arbitrary: FastCheck.constant({ kind: "snapshot" as const }) }
)

const entryFor = (codec: ChunkCodec.ChunkCodec<unknown>, id: string): ChunkEntry => ({
  id,
  kind: codec.kind,
  schema: codec.schemaId,
  version: codec.version,
  offset: 96,
  length: 0,
  sha256: "0".repeat(64)
})

/** What a snapshot does with one server's state: encode under its schema, JSON bytes, strict decode. */
export const throughChunk = (server: DeviceServer, state: unknown = server.save()): unknown => {
  const codec = ChunkCodec.fromDeviceServer(server)
  const id = `device/${server.id}`
  const chunk = Effect.runSync(ChunkCodec.encodeChunk(codec, id, state))
  return Effect.runSync(ChunkCodec.decodeChunk(codec, entryFor(codec, id), chunk.payload))
}

/** Applies one operation; returns what the guest or the CPU observed. `advance` moves the rig's clock. */
export const apply = (rig: Rig, o: Op, advance: (ns: number) => void): unknown => {
  switch (o.kind) {
    case "lapic":
      rig.vcpu.set(o.cpu)
      if (o.write) return rig.bus.mmioWrite(LAPIC_BASE + o.offset, o.size, o.size === 8 ? BigInt(o.value >>> 0) : o.value)
      return rig.bus.mmioRead(LAPIC_BASE + o.offset, o.size)
    case "ioapic":
      if (o.write) return rig.bus.mmioWrite(IOAPIC_BASE + o.offset, o.size, o.size === 8 ? BigInt(o.value >>> 0) : o.value)
      return rig.bus.mmioRead(IOAPIC_BASE + o.offset, o.size)
    case "program":
      return rig.ioapicWrite(o.index, o.value)
    case "enable":
      return rig.lapicWrite(o.cpu, 0xf0, o.on ? 0x1ff : 0xff)
    case "timer":
      rig.lapicWrite(o.cpu, 0x320, o.lvt)
      rig.lapicWrite(o.cpu, 0x3e0, o.divide)
      return rig.lapicWrite(o.cpu, 0x380, o.count)
    case "route":
      return rig.route(o.pin, o.low, o.destination)
    case "ipi":
      rig.lapicWrite(o.cpu, 0x310, o.destination << 24)
      return rig.lapicWrite(o.cpu, 0x300, o.low)
    case "line":
      return rig.lines.line(o.n).set(o.level)
    case "msi":
      return rig.msi.route().send(o.address, o.data)
    case "cpu":
      switch (o.what) {
        case "has":
          return rig.cpu.hasInterrupt(o.id)
        case "ack":
          return rig.cpu.acknowledge(o.id)
        case "nmi":
          return rig.cpu.takeNmi(o.id)
        case "startup":
          return rig.cpu.takeStartup(o.id)
        case "eoi":
          return rig.lapicWrite(o.id, 0xb0, 0)
      }
      return undefined
    case "time":
      return advance(o.ns)
    case "snapshot":
      for (const server of rig.servers) server.restore(throughChunk(server))
      return undefined
  }
}

/** Everything the guest can read, on every vCPU, without changing anything it could see. */
export const observe = (rig: Rig): unknown => ({
  pending: Array.from({ length: CPUS }, (_, id) => rig.cpu.hasInterrupt(id)),
  lapics: Array.from({ length: CPUS }, (_, cpu) => LAPIC_OFFSETS.map((offset) => rig.lapicRead(cpu, offset))),
  ioapic: Array.from({ length: 0x40 }, (_, index) => rig.ioapicRead(index))
})

/** What an OS does first: every LAPIC enabled with a flat logical ID, a few pins routed (edge and level), LINT0 masked on vCPU 0. */
export const BOOT: ReadonlyArray<Op> = [
  ...Array.from({ length: CPUS }, (_, cpu): ReadonlyArray<Op> => [
    { kind: "enable", cpu, on: true },
    { kind: "lapic", cpu, offset: 0xd0, size: 4, write: true, value: (1 << (24 + cpu)) >>> 0 }
  ]).flat(),
  { kind: "lapic", cpu: 0, offset: 0x350, size: 4, write: true, value: 0x1_0700 },
  { kind: "route", pin: 2, low: 0xd0, destination: 0 },
  { kind: "route", pin: 4, low: 0x34, destination: 1 },
  { kind: "route", pin: 9, low: 0x8000 | 0xb9, destination: 2 },
  { kind: "route", pin: 16, low: 0x8000 | 0x800 | 0x50, destination: 0b111 },
  { kind: "route", pin: 17, low: 0x8000 | 0x100 | 0xe1, destination: 0xff }
]

/** Op sequences, most of them after the boot prologue so that interrupts really flow. */
export const ops = (maxLength: number): FastCheck.Arbitrary<ReadonlyArray<Op>> =>
  FastCheck.oneof(
    { weight: 1, arbitrary: FastCheck.array(op, { maxLength, size: "max" }) },
    { weight: 3, arbitrary: FastCheck.array(op, { maxLength, size: "max" }).map((rest) => [...BOOT, ...rest]) }
  )
