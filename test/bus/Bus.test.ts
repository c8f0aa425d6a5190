import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Bus from "../../src/bus/Bus.js"
import type { PioHandler } from "../../src/bus/DeviceHandlers.js"

const quiet = (reports: Array<string> = []) => Bus.layer({ report: (m) => reports.push(m) })
const latch = (): PioHandler & { written: Array<[number, number]> } => {
  const written: Array<[number, number]> = []
  return { written, read: (offset) => 0x40 + offset, write: (offset, _size, value) => written.push([offset, value]) }
}

describe("the I/O bus", () => {
  it.scoped("routes an access to the server that claimed the range, with the offset inside it", () =>
    Effect.gen(function*() {
      const device = latch()
      yield* Bus.registerPio("dev", 0x3f8, 8, device)
      const bus = yield* Bus.Bus
      bus.pioWrite(0x3fb, 1, 0x80)
      expect(device.written).toEqual([[3, 0x80]])
      expect(bus.pioRead(0x3fd, 1)).toBe(0x45)
    }).pipe(Effect.provide(quiet())))

  it.scoped("refuses an overlapping claim, naming both claimants", () =>
    Effect.gen(function*() {
      yield* Bus.registerPio("com1", 0x3f8, 8, latch())
      const error = yield* Effect.flip(Bus.registerPio("intruder", 0x3fc, 2, latch()))
      expect(error._tag).toBe("BusConflict")
      expect(error.message).toBe("PIO range 0x3fc+0x2 claimed by intruder overlaps 0x3f8+0x8 owned by com1")
    }).pipe(Effect.provide(quiet())))

  it.scoped("refuses a range past the end of the port space", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Bus.registerPio("big", 0xfff0, 0x20, latch()))
      expect(error._tag).toBe("BadRange")
    }).pipe(Effect.provide(quiet())))

  it.scoped("reads all-ones where nobody claims, ignores the write, and reports each address once", () =>
    Effect.gen(function*() {
      const reports: Array<string> = []
      yield* Effect.gen(function*() {
        const bus = yield* Bus.Bus
        expect(bus.pioRead(0x80, 1)).toBe(0xff)
        expect(bus.pioRead(0x80, 2)).toBe(0xffff)
        expect(bus.pioRead(0x84, 4)).toBe(0xffffffff)
        bus.pioWrite(0x80, 1, 1)
        expect(bus.mmioRead(0xd000_0000, 8)).toBe(0xffff_ffff_ffff_ffffn)
        expect(bus.fault).toBeUndefined()
      }).pipe(Effect.provide(quiet(reports)))
      expect(reports).toHaveLength(3)
      expect(reports[0]).toContain("PIO 0x80")
    }))

  it.scoped("in strict mode, an unclaimed access becomes the fault that stops the VM", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      bus.pioWrite(0x61, 1, 0)
      expect(bus.fault?.message).toBe("guest write of 1 byte(s) at PIO 0x61: no device claims it")
    }).pipe(Effect.provide(Bus.layer({ strict: true }))))

  it.effect("releases a claim when its scope closes", () =>
    Effect.gen(function*() {
      const bus = yield* Bus.Bus
      yield* Effect.scoped(Bus.registerPio("temporary", 0x70, 2, latch()))
      yield* Effect.scoped(Bus.registerPio("successor", 0x70, 2, latch()))
      expect(bus.pio.list()).toHaveLength(0)
    }).pipe(Effect.provide(quiet())))

  it.scoped("routes MMIO by range with 8-byte values as bigints", () =>
    Effect.gen(function*() {
      const seen: Array<number | bigint> = []
      yield* Bus.registerMmio("mmio", 0xfebf_0000, 0x1000, { read: () => 0x1234_5678_9abc_def0n, write: (_o, _s, v) => seen.push(v) })
      const bus = yield* Bus.Bus
      expect(bus.mmioRead(0xfebf_0008, 8)).toBe(0x1234_5678_9abc_def0n)
      bus.mmioWrite(0xfebf_0010, 8, 7n)
      expect(seen).toEqual([7n])
    }).pipe(Effect.provide(quiet())))
})
