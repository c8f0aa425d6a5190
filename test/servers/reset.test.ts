import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Bus from "../../src/bus/Bus.js"
import { DeviceServers, layerDeviceServers } from "../../src/servers/DeviceServer.js"
import { layerMachineEvents, MachineEvents } from "../../src/servers/MachineEvents.js"
import { I8042Device } from "../../src/servers/reset/I8042Device.js"
import { I8042State } from "../../src/servers/reset/I8042State.js"
import { ResetControlDevice } from "../../src/servers/reset/ResetControlDevice.js"
import { ResetControlState } from "../../src/servers/reset/ResetControlState.js"
import * as ResetServer from "../../src/servers/reset/ResetServer.js"

const withReset = <A>(body: (bus: Bus.BusRouter, events: MachineEvents["Type"]) => A) =>
  Effect.gen(function* () {
    return body(yield* Bus.Bus, yield* MachineEvents)
  }).pipe(
    Effect.provide(
      ResetServer.layer.pipe(
        Layer.provideMerge(Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers, layerMachineEvents))
      )
    )
  )

describe("reset control register (0xCF9)", () => {
  it.effect("writing RST_CPU requests a reset", () =>
    withReset((bus, events) => {
      bus.pioWrite(0xcf9, 1, 0x06)
      expect(events.pending()).toEqual({ reason: "reset", source: "reset-cf9" })
    }))

  it.effect("other bits are only kept", () =>
    withReset((bus, events) => {
      bus.pioWrite(0xcf9, 1, 0x0a)
      expect(events.pending()).toBeUndefined()
      expect(bus.pioRead(0xcf9, 1)).toBe(0x0a)
    }))

  it("RST_CPU itself is not kept", () => {
    const rcr = new ResetControlDevice()
    expect(rcr.write(0x0e)).toBe("reset")
    expect(rcr.read()).toBe(0x0a)
    expect(Schema.is(ResetControlState)(rcr.save())).toBe(true)
  })
})

describe("i8042 keyboard controller", () => {
  it.effect("command 0xFE on port 0x64 requests a reset", () =>
    withReset((bus, events) => {
      bus.pioWrite(0x64, 1, 0xfe)
      expect(events.pending()).toEqual({ reason: "reset", source: "i8042" })
    }))

  it.effect("the status port shows an empty controller with the system flag", () =>
    withReset((bus) => {
      expect(bus.pioRead(0x64, 1)).toBe(0x1c)
    }))

  it.effect("self-test answers 0x55 on the data port", () =>
    withReset((bus) => {
      bus.pioWrite(0x64, 1, 0xaa)
      expect(bus.pioRead(0x64, 1) & 0x01).toBe(0x01)
      expect(bus.pioRead(0x60, 1)).toBe(0x55)
      expect(bus.pioRead(0x64, 1) & 0x01).toBe(0)
    }))

  it("the command byte is read with 0x20 and written with 0x60", () => {
    const kbc = new I8042Device()
    kbc.writeCommand(0x60)
    kbc.writeData(0x61)
    kbc.writeCommand(0x20)
    expect(kbc.readData()).toBe(0x61)
  })

  it("clearing the reset line through the output port requests a reset", () => {
    const kbc = new I8042Device()
    kbc.writeCommand(0xd1)
    expect(kbc.writeData(0xfe)).toBe("reset")
  })

  it("other commands and keyboard bytes are accepted and ignored", () => {
    const kbc = new I8042Device()
    for (const c of [0xa9, 0xd4, 0xff, 0xc0]) expect(kbc.writeCommand(c)).toBeUndefined()
    expect(kbc.writeData(0xff)).toBeUndefined()
    expect(kbc.readStatus() & 0x01).toBe(0)
  })

  it("its state round-trips through JSON", () => {
    const kbc = new I8042Device()
    kbc.writeCommand(0xd1)
    const saved = kbc.save()
    const json = JSON.parse(JSON.stringify(Schema.encodeSync(I8042State)(saved)))
    expect(I8042Device.fromState(Schema.decodeUnknownSync(I8042State)(json)).save()).toEqual(saved)
  })
})

describe("reset server", () => {
  it.effect("announces two device servers", () =>
    Effect.gen(function* () {
      const servers = yield* DeviceServers
      expect(servers.map((s) => s.id)).toEqual(["reset-cf9", "i8042"])
    }).pipe(
      Effect.provide(
        ResetServer.layer.pipe(
          Layer.provideMerge(Layer.mergeAll(Bus.layer({ report: () => {} }), layerDeviceServers, layerMachineEvents))
        )
      )
    ))

  it.effect("ignores word accesses and reads them as all-ones", () =>
    withReset((bus, events) => {
      bus.pioWrite(0x64, 2, 0xfe)
      bus.pioWrite(0xcf9, 2, 0x06)
      expect(events.pending()).toBeUndefined()
      expect(bus.pioRead(0x64, 2)).toBe(0xffff)
    }))
})
