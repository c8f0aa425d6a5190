import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Bus from "../../../src/bus/Bus.js"
import { DeviceServers } from "../../../src/servers/DeviceServer.js"
import * as PciSlots from "../../../src/servers/pci/PciSlots.js"
import { baseServices, cfgRead, slot, withPci } from "./PciTestMachine.js"

const refusal = (slots: Parameters<typeof PciSlots.layer>[0]) => {
  const result = PciSlots.layer(slots, { memoryBytes: 1 << 26 })
  return Either.isLeft(result) ? result.left : undefined
}

describe("PCI slots from -s", () => {
  it("implements hostbridge, amd_hostbridge, lpc, virtio-rnd, virtio-blk, virtio-console and virtio-net", () => {
    expect([...PciSlots.implementedPciEmulations].sort()).toEqual([
      "amd_hostbridge", "hostbridge", "lpc", "virtio-blk", "virtio-console", "virtio-net", "virtio-rnd"
    ])
  })

  it("refuses an emulation it does not implement, naming it and the address", () => {
    const error = refusal([slot(3, "e1000")])
    expect(error?._tag).toBe("UnknownEmulation")
    expect(error?.message).toBe("PCI 0:3:0: emulation 'e1000' is not implemented by bhyve-ts")
  })

  it("refuses options an emulation does not take", () => {
    expect(refusal([slot(3, "virtio-rnd", "foo")])?.message).toBe("PCI 0:3:0 (virtio-rnd): takes no options (got 'foo')")
    expect(refusal([slot(31, "lpc", "com1,stdio")])?._tag).toBe("BadSlotConfig")
    expect(refusal([slot(0, "hostbridge", "vendor=0x123456")])?.message).toContain("vendor=0x123456 is not a 16-bit number")
  })

  it("refuses virtio-blk without a path", () => {
    expect(refusal([slot(3, "virtio-blk")])?.message).toContain("a disk image path is required")
  })

  it("refuses two devices at one address", () => {
    expect(refusal([slot(3, "virtio-rnd"), slot(3, "virtio-rnd")])?.message).toBe("PCI 0:3:0 (virtio-rnd): already taken by virtio-rnd")
  })

  it("refuses a second LPC bridge", () => {
    expect(refusal([slot(30, "lpc"), slot(31, "lpc")])?.message).toContain("only one LPC bridge is allowed")
  })

  it("refuses a bus other than 0", () => {
    expect(refusal([{ ...slot(3, "virtio-rnd"), bus: 1 }])?.message).toContain("only bus 0 exists")
  })

  it.effect("hostbridge takes bhyve's vendor= and devid= to present another identity", () =>
    withPci([slot(0, "hostbridge", "vendor=0x8086,devid=0x1237")], (bus) => {
      expect(cfgRead(bus, 0, 0x00)).toBe(0x1237_8086)
    }))

  it.effect("amd_hostbridge presents bhyve's AMD identity", () =>
    withPci([slot(0, "amd_hostbridge")], (bus) => {
      expect(cfgRead(bus, 0, 0x00)).toBe(0x7432_1022)
    }))

  it.effect("BAR addresses do not depend on the order the slots were given in", () =>
    Effect.gen(function* () {
      const bars = (slots: Parameters<typeof withPci>[0]) =>
        withPci(slots, (bus) => [3, 4].map((s) => [cfgRead(bus, s, 0x14), cfgRead(bus, s, 0x20)]))
      const forward = yield* bars([slot(3, "virtio-rnd"), slot(4, "virtio-rnd")])
      const backward = yield* bars([slot(4, "virtio-rnd"), slot(3, "virtio-rnd")])
      expect(backward).toEqual(forward)
    }))

  it.effect("each function announces itself as a device server named after its address", () => {
    const base = baseServices()
    const layer = Either.getOrThrow(PciSlots.layer([slot(0, "hostbridge"), slot(4, "virtio-rnd"), slot(31, "lpc")], { memoryBytes: base.ram.size }))
      .pipe(Layer.provideMerge(base.layer))
    return Effect.gen(function* () {
      const servers = yield* DeviceServers
      expect(servers.map((s) => [s.id, s.kind])).toEqual([
        ["pci", "pci-host"],
        ["hostbridge.pci.0.0.0", "pci-hostbridge"],
        ["virtio-rnd.pci.0.4.0", "virtio-rnd"],
        ["lpc.pci.0.31.0", "pci-lpc"]
      ])
      expect((yield* Bus.Bus).pio.find(0xcfc)?.owner).toBe("pci-config")
    }).pipe(Effect.provide(layer))
  })
})
