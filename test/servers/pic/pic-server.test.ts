import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Bus from "../../../src/bus/Bus.js"
import { DeviceServers, layerDeviceServers } from "../../../src/servers/DeviceServer.js"
import { Pic } from "../../../src/servers/pic/Pic.js"
import * as PicServer from "../../../src/servers/pic/PicServer.js"
import { PicState } from "../../../src/servers/pic/PicState.js"

/** A machine with just the 8259 pair on a bus. */
const layer = PicServer.layer.pipe(Layer.provideMerge(Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers)))

/** The guest's init_8259A, through the bus: vectors 0x30 (master) and 0x38 (slave). */
const initialize = (bus: Bus.BusRouter) => {
  for (const [port, value] of [
    [0x20, 0x11], [0x21, 0x30], [0x21, 0x04], [0x21, 0x01],
    [0xa0, 0x11], [0xa1, 0x38], [0xa1, 0x02], [0xa1, 0x01],
    [0x21, 0x00], [0xa1, 0x00]
  ] as const) bus.pioWrite(port, 1, value)
}

describe("8259A pair server", () => {
  it.effect("a guest's init through the bus, then an ISA line through the Pic service, gives INTR and the vector", () =>
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const pic = yield* Pic
      initialize(bus)
      pic.setIrq(14, true)
      expect(pic.hasInterrupt()).toBe(true)
      expect(pic.acknowledge()).toBe(0x38 + 6)
      bus.pioWrite(0xa0, 1, 0x0b)
      expect(bus.pioRead(0xa0, 1)).toBe(1 << 6)
    }).pipe(Effect.provide(layer))
  )

  it.effect("the ELCR answers at 0x4D0/0x4D1 and makes a line level-triggered", () =>
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const pic = yield* Pic
      initialize(bus)
      bus.pioWrite(0x4d0, 1, 0xff)
      bus.pioWrite(0x4d1, 1, 0xff)
      expect(bus.pioRead(0x4d0, 1)).toBe(0xf8)
      expect(bus.pioRead(0x4d1, 1)).toBe(0xde)
      pic.setIrq(5, true)
      expect(pic.acknowledge()).toBe(0x30 + 5)
      bus.pioWrite(0x20, 1, 0x20)
      expect(pic.hasInterrupt()).toBe(true)
    }).pipe(Effect.provide(layer))
  )

  it.effect("announces one device server, pic, whose state round-trips through its schema", () =>
    Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const pic = yield* Pic
      const servers = yield* DeviceServers
      const found = servers.filter((s) => s.id === "pic")
      expect(found.length).toBe(1)
      const server = found[0]
      expect(server.kind).toBe("i8259-pair")
      expect(server.stateVersion).toBe(1)
      initialize(bus)
      pic.setIrq(3, true)
      const saved = Schema.decodeUnknownSync(PicState)(JSON.parse(JSON.stringify(Schema.encodeUnknownSync(PicState)(server.save()))))
      pic.acknowledge()
      server.restore(saved)
      expect(pic.acknowledge()).toBe(0x30 + 3)
    }).pipe(Effect.provide(layer))
  )

  it.effect("releasing the layer frees the ports", () =>
    Effect.gen(function* () {
      const router = yield* Effect.scoped(Effect.flatMap(Bus.Bus, Effect.succeed).pipe(Effect.provide(layer)))
      expect(router.pio.find(0x20)).toBeUndefined()
      expect(router.pio.find(0xa1)).toBeUndefined()
      expect(router.pio.find(0x4d0)).toBeUndefined()
    })
  )
})
