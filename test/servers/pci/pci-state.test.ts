import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Bus from "../../../src/bus/Bus.js"
import { DeviceServers } from "../../../src/servers/DeviceServer.js"
import { makeRecordingMsiSink } from "../../../src/servers/pci/MsiSink.js"
import { MsixTable, msixLayout } from "../../../src/servers/pci/Msix.js"
import { PciBusState } from "../../../src/servers/pci/PciBusState.js"
import { PciFunction } from "../../../src/servers/pci/PciFunction.js"
import { PciFunctionState } from "../../../src/servers/pci/PciFunctionState.js"
import { barAddress, cfgRead, cfgWrite, pciMachine, slot } from "./PciTestMachine.js"

/** What a snapshot does with a state: encode, JSON text, parse, decode. */
const throughJson = <A, I>(schema: Schema.Schema<A, I>, value: A): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeSync(schema)(value))))

const spec = { vendorId: 0x1af4, deviceId: 0x1044, classCode: 0xff0000, bars: [{ kind: "mem32" as const, size: 4096 }] }

describe("PCI state", () => {
  it("a function's config space survives save, encode, JSON, decode and restore", () => {
    const a = new PciFunction(spec)
    a.programBar(0, 0xc000_0000)
    a.writeConfig(0x10, 4, 0xd000_0000)
    a.writeConfig(0x3c, 1, 0x0b)
    a.writeConfig(0x04, 2, 0x0407)
    const b = new PciFunction(spec)
    b.restore(throughJson(PciFunctionState, a.save()))
    expect(b.save()).toEqual(a.save())
    expect(b.windows()).toEqual([{ index: 0, space: "mmio", base: 0xd000_0000, length: 4096 }])
  })

  it("a restored state cannot change the function's identity or BAR types", () => {
    const a = new PciFunction(spec)
    const forged = Buffer.from(a.save().config, "hex")
    forged.writeUInt32LE(0xdeadbeef, 0x00)
    forged.writeUInt32LE(0xfffffff9, 0x10) // I/O bit and low address bits on a 4 KiB memory BAR
    const b = new PciFunction(spec)
    b.restore({ config: forged.toString("hex") })
    expect(b.readConfig(0x00, 4)).toBe(0x1044_1af4)
    expect(b.readConfig(0x10, 4)).toBe(0xfffff000)
  })

  it("a config space of the wrong length does not decode", () => {
    expect(Schema.is(PciFunctionState)({ config: "00" })).toBe(false)
  })

  it.effect("restoring a device puts its BARs back on the bus where the guest had moved them", () => {
    const m = pciMachine([slot(4, "virtio-rnd")])
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const rnd = (yield* DeviceServers).find((s) => s.id === "virtio-rnd.pci.0.4.0")
      const original = barAddress(bus, 4, 4)
      cfgWrite(bus, 4, 0x20, 0xd800_0000)
      const saved = rnd?.save()
      cfgWrite(bus, 4, 0x20, original)
      rnd?.restore(saved)
      expect(barAddress(bus, 4, 4)).toBe(0xd800_0000)
      expect(bus.mmio.find(0xd800_0000)?.owner).toBe("virtio-rnd.pci.0.4.0")
      expect(bus.mmio.find(original)).toBeUndefined()
    }).pipe(Effect.provide(m.layer))
  })

  it.effect("the 0xCF8 latch is saved: a guest paused between 0xCF8 and 0xCFC reads the right register after restore", () => {
    const m = pciMachine([slot(0, "hostbridge")])
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const host = (yield* DeviceServers).find((s) => s.id === "pci")
      bus.pioWrite(0xcf8, 4, 0x8000_0000)
      const saved = throughJson(PciBusState, Schema.decodeUnknownSync(PciBusState)(host?.save()))
      bus.pioWrite(0xcf8, 4, 0)
      host?.restore(saved)
      expect(bus.pioRead(0xcfc, 4)).toBe(cfgRead(bus, 0, 0))
    }).pipe(Effect.provide(m.layer))
  })
})

describe("PCI config space under random guest writes", () => {
  it("never throws, keeps its identity, and always saves a state that round-trips (fixed seed)", () => {
    const make = () => {
      const table = new MsixTable(msixLayout(3, 1), makeRecordingMsiSink())
      const fn = new PciFunction({
        ...spec,
        intx: true,
        bars: [{ kind: "io", size: 16 }, { kind: "mem32", size: table.layout.barSize }, { kind: "mem64", size: 1 << 14 }],
        capabilities: [table.capability()]
      })
      table.bindControl(() => ({ enabled: fn.msixEnabled(), functionMasked: fn.msixFunctionMasked() }))
      return fn
    }
    const write = FastCheck.record({
      offset: FastCheck.integer({ min: 0, max: 255 }),
      size: FastCheck.constantFrom<1 | 2 | 4>(1, 2, 4),
      value: FastCheck.oneof(FastCheck.integer({ min: 0, max: 0xffffffff }), FastCheck.constant(0xffffffff))
    })
    FastCheck.assert(
      FastCheck.property(FastCheck.array(write, { maxLength: 80 }), (writes) => {
        const a = make()
        for (const w of writes) if (w.offset % w.size === 0) a.writeConfig(w.offset, w.size, w.value)
        expect(a.readConfig(0, 4)).toBe(0x1044_1af4)
        const b = make()
        b.restore(throughJson(PciFunctionState, a.save()))
        expect(b.save()).toEqual(a.save())
        expect(b.windows()).toEqual(a.windows())
      }),
      { seed: 7031, numRuns: 300 }
    )
  })
})
