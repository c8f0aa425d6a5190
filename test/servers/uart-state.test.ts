import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Schema from "effect/Schema"
import type { AccessSize } from "../../src/bus/DeviceHandlers.js"
import * as UartBusAdapter from "../../src/servers/uart/UartBusAdapter.js"
import { UartDevice } from "../../src/servers/uart/UartDevice.js"
import { UartState } from "../../src/servers/uart/UartState.js"

type Op =
  | { readonly kind: "write"; readonly offset: number; readonly value: number }
  | { readonly kind: "read"; readonly offset: number }
  | { readonly kind: "input"; readonly bytes: ReadonlyArray<number> }

const byte = FastCheck.integer({ min: 0, max: 255 })
const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  FastCheck.record({ kind: FastCheck.constant("write" as const), offset: FastCheck.integer({ min: 0, max: 7 }), value: byte }),
  FastCheck.record({ kind: FastCheck.constant("read" as const), offset: FastCheck.integer({ min: 0, max: 7 }) }),
  FastCheck.record({ kind: FastCheck.constant("input" as const), bytes: FastCheck.array(byte, { maxLength: 20 }) })
)

/** Applies an operation; returns what the guest or host observed. */
const apply = (uart: UartDevice, o: Op): number | undefined => {
  switch (o.kind) {
    case "write":
      return uart.writeRegister(o.offset, o.value)
    case "read":
      return uart.readRegister(o.offset)
    case "input":
      return o.bytes.reduce((n, b) => n + (uart.receiveByte(b) ? 1 : 0), 0)
  }
}

/** What a snapshot does with the state: encode, JSON text, parse, decode. */
const throughJson = (state: UartState): UartState =>
  Schema.decodeUnknownSync(UartState)(JSON.parse(JSON.stringify(Schema.encodeSync(UartState)(state))))

describe("16550A UART state", () => {
  it("a fresh device's state is valid", () => {
    expect(Schema.is(UartState)(new UartDevice().save())).toBe(true)
  })

  it("save, encode, JSON, decode, restore gives back the same state", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(op, { maxLength: 60 }), (ops) => {
        const uart = new UartDevice()
        for (const o of ops) apply(uart, o)
        const saved = uart.save()
        expect(UartDevice.fromState(throughJson(saved)).save()).toEqual(saved)
      })
    )
  })

  it("a restored device behaves exactly as the original from then on", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(op, { maxLength: 40 }), FastCheck.array(op, { maxLength: 40 }), (before, after) => {
        const original = new UartDevice()
        for (const o of before) apply(original, o)
        const restored = UartDevice.fromState(throughJson(original.save()))
        for (const o of after) {
          expect(apply(restored, o)).toEqual(apply(original, o))
          expect(restored.interruptPending()).toBe(original.interruptPending())
        }
      })
    )
  })

  it("rejects a state whose receiver holds more than 16450 mode allows", () => {
    const state = { ...new UartDevice().save(), rxFifo: [1, 2] }
    expect(Schema.is(UartState)(state)).toBe(false)
  })

  it("rejects bytes out of range", () => {
    expect(Schema.is(UartState)({ ...new UartDevice().save(), scr: 256 })).toBe(false)
  })
})

describe("16550A UART bus adapter", () => {
  const sizes: ReadonlyArray<AccessSize> = [1, 2, 4, 8]
  const access = FastCheck.record({
    write: FastCheck.boolean(),
    offset: FastCheck.oneof(FastCheck.integer({ min: -4, max: 12 }), FastCheck.double()),
    size: FastCheck.constantFrom(...sizes),
    value: FastCheck.oneof(FastCheck.integer(), FastCheck.double())
  })

  it("random accesses never throw and always leave a valid state", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(access, { maxLength: 100 }), (accesses) => {
        const uart = new UartDevice()
        const handler = UartBusAdapter.make(uart, () => {}, () => {})
        for (const a of accesses) {
          if (a.write) handler.write(a.offset, a.size, a.value)
          else {
            const v = handler.read(a.offset, a.size)
            expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true)
          }
        }
        expect(Schema.is(UartState)(uart.save())).toBe(true)
      })
    )
  })

  it("wider or misplaced accesses read all-ones and change nothing", () => {
    const uart = new UartDevice()
    const handler = UartBusAdapter.make(uart, () => {}, () => {})
    const before = uart.save()
    handler.write(7, 2, 0x1234)
    handler.write(8, 1, 0x12)
    expect(handler.read(0, 2)).toBe(0xffff)
    expect(handler.read(0, 4)).toBe(0xffffffff)
    expect(handler.read(9, 1)).toBe(0xff)
    expect(uart.save()).toEqual(before)
  })

  it("a byte write to offset 0 is transmitted", () => {
    const sent: Array<number> = []
    const handler = UartBusAdapter.make(new UartDevice(), (b) => sent.push(b), () => {})
    handler.write(0, 1, 0x41)
    expect(sent).toEqual([0x41])
  })
})
