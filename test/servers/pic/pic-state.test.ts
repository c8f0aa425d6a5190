import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Schema from "effect/Schema"
import type { AccessSize } from "../../../src/bus/DeviceHandlers.js"
import * as PicBusAdapter from "../../../src/servers/pic/PicBusAdapter.js"
import { type ChipName, PicDevice } from "../../../src/servers/pic/PicDevice.js"
import { PicState } from "../../../src/servers/pic/PicState.js"
import { initialized } from "./PicTestKit.js"

const SEED = 20261127

type Op =
  | { readonly kind: "write"; readonly chip: ChipName; readonly offset: number; readonly value: number }
  | { readonly kind: "read"; readonly chip: ChipName; readonly offset: number }
  | { readonly kind: "elcr"; readonly chip: ChipName; readonly value: number }
  | { readonly kind: "irq"; readonly irq: number; readonly level: boolean }
  | { readonly kind: "inta" }

const chipName = FastCheck.constantFrom<ChipName>("master", "slave")
const byte = FastCheck.integer({ min: 0, max: 255 })
/** Command bytes a driver writes, mixed with random ones: random bytes alone rarely reach OCW2/OCW3 or finish an init. */
const command = FastCheck.oneof(byte, FastCheck.constantFrom(0x11, 0x19, 0x13, 0x20, 0x60, 0x63, 0xa0, 0xc3, 0xe2, 0x0a, 0x0b, 0x0c, 0x48, 0x68))
const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  FastCheck.record({ kind: FastCheck.constant("write" as const), chip: chipName, offset: FastCheck.constant(0), value: command }),
  FastCheck.record({ kind: FastCheck.constant("write" as const), chip: chipName, offset: FastCheck.constant(1), value: byte }),
  FastCheck.record({ kind: FastCheck.constant("read" as const), chip: chipName, offset: FastCheck.integer({ min: 0, max: 1 }) }),
  FastCheck.record({ kind: FastCheck.constant("elcr" as const), chip: chipName, value: byte }),
  FastCheck.record({ kind: FastCheck.constant("irq" as const), irq: FastCheck.integer({ min: 0, max: 15 }), level: FastCheck.boolean() }),
  FastCheck.record({ kind: FastCheck.constant("inta" as const) })
)

/** Applies an operation; returns what the guest or the CPU observed. */
const apply = (pic: PicDevice, o: Op): number | boolean | undefined => {
  switch (o.kind) {
    case "write":
      pic.writePort(o.chip, o.offset, o.value)
      return undefined
    case "read":
      return pic.readPort(o.chip, o.offset)
    case "elcr":
      pic.writeElcr(o.chip, o.value)
      return pic.readElcr(o.chip)
    case "irq":
      pic.setIrq(o.irq, o.level)
      return undefined
    case "inta":
      return pic.acknowledge()
  }
}

/** What a snapshot does with the state: encode, JSON text, parse, decode. */
const throughJson = (state: PicState): PicState =>
  Schema.decodeUnknownSync(PicState)(JSON.parse(JSON.stringify(Schema.encodeSync(PicState)(state))))

const rejects = (patch: (s: { master: Record<string, unknown>; slave: Record<string, unknown> }) => void): boolean => {
  const state = JSON.parse(JSON.stringify(initialized().save()))
  patch(state)
  return !Schema.is(PicState)(state)
}

describe("8259A pair state", () => {
  it("a fresh pair's state and an initialized pair's state are valid", () => {
    expect(Schema.is(PicState)(new PicDevice().save())).toBe(true)
    expect(Schema.is(PicState)(initialized().save())).toBe(true)
  })

  it("a restored pair behaves exactly as the original from then on", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(op, { maxLength: 60 }), FastCheck.array(op, { maxLength: 60 }), (before, after) => {
        const original = initialized()
        for (const o of before) apply(original, o)
        const restored = PicDevice.fromState(throughJson(original.save()))
        expect(restored.save()).toEqual(original.save())
        for (const o of after) {
          expect(apply(restored, o)).toEqual(apply(original, o))
          expect(restored.hasInterrupt()).toBe(original.hasInterrupt())
        }
      }),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("rejects an irq_base that is not a multiple of 8", () => {
    expect(rejects((s) => (s.master.irqBase = 0x21))).toBe(true)
  })

  it("rejects a priority rotation outside 0-7", () => {
    expect(rejects((s) => (s.slave.priorityAdd = 8))).toBe(true)
    expect(rejects((s) => (s.slave.priorityAdd = -1))).toBe(true)
  })

  it("rejects flags that are not booleans", () => {
    expect(rejects((s) => (s.master.autoEoi = 2))).toBe(true)
    expect(rejects((s) => (s.master.poll = "yes"))).toBe(true)
  })

  it("rejects register values beyond a byte, or fractional", () => {
    expect(rejects((s) => (s.master.isr = 0x100))).toBe(true)
    expect(rejects((s) => (s.slave.imr = 1.5))).toBe(true)
  })

  it("rejects ELCR bits for IRQs that are always edge-triggered", () => {
    expect(rejects((s) => (s.master.elcr = 0x01))).toBe(true)
    expect(rejects((s) => (s.slave.elcr = 0x20))).toBe(true) // IRQ 13
    expect(rejects((s) => (s.slave.elcr = 0xde))).toBe(false)
  })

  it("rejects an init sequence state the chip cannot be in", () => {
    expect(rejects((s) => (s.master.initState = 4))).toBe(true)
    expect(rejects((s) => ((s.master.initState = 3), (s.master.init4 = false)))).toBe(true)
    expect(rejects((s) => ((s.slave.initState = 2), (s.slave.singleMode = true)))).toBe(true)
  })
})

describe("8259A bus adapters", () => {
  const sizes: ReadonlyArray<AccessSize> = [1, 2, 4, 8]
  const access = FastCheck.record({
    range: FastCheck.constantFrom("master" as const, "slave" as const, "elcr" as const),
    write: FastCheck.boolean(),
    offset: FastCheck.oneof(
      { weight: 4, arbitrary: FastCheck.integer({ min: 0, max: 1 }) },
      { weight: 1, arbitrary: FastCheck.oneof(FastCheck.integer({ min: -4, max: 6 }), FastCheck.double()) }
    ),
    size: FastCheck.oneof({ weight: 4, arbitrary: FastCheck.constant(1 as const) }, { weight: 1, arbitrary: FastCheck.constantFrom(...sizes) }),
    value: FastCheck.oneof(command, FastCheck.integer(), FastCheck.double())
  })
  const event = FastCheck.oneof(
    { weight: 6, arbitrary: access.map((a) => ({ kind: "access" as const, ...a })) },
    { weight: 2, arbitrary: FastCheck.record({ kind: FastCheck.constant("irq" as const), irq: FastCheck.oneof(FastCheck.integer({ min: -2, max: 17 }), FastCheck.double()), level: FastCheck.boolean() }) },
    { weight: 1, arbitrary: FastCheck.record({ kind: FastCheck.constant("inta" as const) }) }
  )

  it("random port accesses, lines and INTA cycles never throw, read bytes, and leave a valid state", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(event, { maxLength: 200 }), (events) => {
        const pic = new PicDevice()
        const handlers = { master: PicBusAdapter.chip(pic, "master"), slave: PicBusAdapter.chip(pic, "slave"), elcr: PicBusAdapter.elcr(pic) }
        for (const e of events) {
          if (e.kind === "irq") pic.setIrq(e.irq, e.level)
          else if (e.kind === "inta") {
            const vector = pic.acknowledge()
            expect(Number.isInteger(vector) && vector >= 0 && vector <= 255).toBe(true)
          } else if (e.write) handlers[e.range].write(e.offset, e.size, e.value)
          else {
            const v = handlers[e.range].read(e.offset, e.size)
            expect(Number.isInteger(v) && v >= 0 && v < 2 ** (8 * Math.min(e.size, 4))).toBe(true)
          }
        }
        expect(Schema.is(PicState)(pic.save())).toBe(true)
      }),
      { seed: SEED, numRuns: 500 }
    )
  })

  it("wider or misplaced accesses read all-ones and change nothing", () => {
    const pic = initialized()
    const master = PicBusAdapter.chip(pic, "master")
    const elcr = PicBusAdapter.elcr(pic)
    const before = pic.save()
    master.write(0, 2, 0x11)
    master.write(2, 1, 0xff)
    elcr.write(0, 2, 0xffff)
    expect(master.read(0, 2)).toBe(0xffff)
    expect(master.read(2, 1)).toBe(0xff)
    expect(elcr.read(1, 4)).toBe(0xffffffff)
    expect(pic.save()).toEqual(before)
  })
})
