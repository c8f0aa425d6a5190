import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../../src/bus/Bus.js"
import { ECAM_BASE, ECAM_RANGE, ECAM_SIZE } from "../../../src/servers/pci/Ecam.js"
import * as ResetServer from "../../../src/servers/reset/ResetServer.js"
import { layerMachineEvents } from "../../../src/servers/MachineEvents.js"
import { cfgRead, cfgWrite, ecamAddress, pciMachine, slot, withPci } from "./PciTestMachine.js"

const bridges = [slot(0, "hostbridge"), slot(31, "lpc")]

describe("PCI config mechanism #1 (0xCF8/0xCFC)", () => {
  it.effect("a dword read at 0xCFC returns vendor and device of the addressed function", () =>
    withPci(bridges, (bus) => {
      expect(cfgRead(bus, 0, 0x00)).toBe(0x1275_1275)
      expect(cfgRead(bus, 31, 0x00)).toBe(0x7000_8086)
    }))

  it.effect("byte and word reads at 0xCFC-0xCFF return their part of the dword", () =>
    withPci(bridges, (bus) => {
      expect(cfgRead(bus, 31, 0x0b, 1)).toBe(0x06) // base class: bridge
      expect(cfgRead(bus, 31, 0x0a, 1)).toBe(0x01) // subclass: ISA
      expect(cfgRead(bus, 31, 0x02, 2)).toBe(0x7000)
      expect(cfgRead(bus, 31, 0x08)).toBe(0x0601_0000)
    }))

  it.effect("an empty slot reads all-ones and swallows writes", () =>
    withPci(bridges, (bus) => {
      expect(cfgRead(bus, 5, 0x00)).toBe(0xffffffff)
      expect(cfgRead(bus, 5, 0x00, 2)).toBe(0xffff)
      cfgWrite(bus, 5, 0x04, 0x7)
      expect(cfgRead(bus, 5, 0x04)).toBe(0xffffffff)
    }))

  it.effect("with the enable bit clear, 0xCFC reads all-ones", () =>
    withPci(bridges, (bus) => {
      bus.pioWrite(0xcf8, 4, 0x0000_0000)
      expect(bus.pioRead(0xcfc, 4)).toBe(0xffffffff)
    }))

  it.effect("0xCF8 reads back the latched address with its reserved bits clear; narrower accesses there do not touch it", () =>
    withPci(bridges, (bus) => {
      bus.pioWrite(0xcf8, 4, 0xff00_fbff)
      expect(bus.pioRead(0xcf8, 4)).toBe(0x8000_fbfc)
      bus.pioWrite(0xcf8, 2, 0x1234)
      bus.pioWrite(0xcf8, 1, 0x12)
      expect(bus.pioRead(0xcf8, 4)).toBe(0x8000_fbfc)
      expect(bus.pioRead(0xcf8, 1)).toBe(0xff)
    }))

  it.effect("an access that is not naturally aligned reads all-ones", () =>
    withPci(bridges, (bus) => {
      expect(cfgRead(bus, 0, 0x01, 2)).toBe(0xffff)
      expect(cfgRead(bus, 0, 0x03, 2)).toBe(0xffff)
    }))

  it.effect("read-only registers ignore writes; the interrupt line register keeps what the guest writes", () =>
    withPci(bridges, (bus) => {
      cfgWrite(bus, 0, 0x00, 0xdead_beef)
      expect(cfgRead(bus, 0, 0x00)).toBe(0x1275_1275)
      cfgWrite(bus, 0, 0x3c, 0x0b, 1)
      expect(cfgRead(bus, 0, 0x3c, 1)).toBe(0x0b)
    }))

  it.effect("function 0 of a slot with several functions sets the multifunction bit; a single function does not", () =>
    withPci([slot(0, "hostbridge"), slot(3, "virtio-rnd", "", 0), slot(3, "virtio-rnd", "", 1)], (bus) => {
      expect(cfgRead(bus, 3, 0x0e, 1) & 0x80).toBe(0x80)
      expect(cfgRead(bus, 3, 0x0c) & 0x0080_0000).toBe(0x0080_0000)
      expect(cfgRead(bus, 0, 0x0e, 1) & 0x80).toBe(0)
    }))

  it.effect("port 0xCF9 stays free for the reset control register", () => {
    const m = pciMachine(bridges)
    const layer = ResetServer.layerResetControl.pipe(Layer.provideMerge(Layer.merge(m.layer, layerMachineEvents)))
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      expect(bus.pio.find(0xcf9)?.owner).toBe("reset-cf9")
      expect(bus.pio.find(0xcf8)?.owner).toBe("pci-config")
      expect(bus.pio.find(0xcfc)?.owner).toBe("pci-config")
    }).pipe(Effect.provide(layer))
  })
})

describe("PCI ECAM", () => {
  it("the window is 1 MiB at 0xE0000000, exported for the E820 map", () => {
    expect(ECAM_RANGE).toEqual({ base: 0xe000_0000, size: 0x10_0000 })
  })

  it.effect("reads the same config space as mechanism #1", () =>
    withPci(bridges, (bus) => {
      expect(bus.mmio.find(ECAM_BASE)?.owner).toBe("pci-ecam")
      expect(bus.mmio.find(ECAM_BASE + ECAM_SIZE)).toBeUndefined()
      for (const reg of [0x00, 0x04, 0x08, 0x0c, 0x2c, 0x3c]) expect(bus.mmioRead(ecamAddress(31, reg), 4)).toBe(cfgRead(bus, 31, reg))
      expect(bus.mmioRead(ecamAddress(31, 0x0a), 2)).toBe(0x0601)
    }))

  it.effect("a write through ECAM is seen through 0xCFC", () =>
    withPci(bridges, (bus) => {
      bus.mmioWrite(ecamAddress(0, 0x3c), 1, 0x42)
      expect(cfgRead(bus, 0, 0x3c, 1)).toBe(0x42)
    }))

  it.effect("reaches the extended space past 256 bytes, which reads zero (no extended capabilities)", () =>
    withPci(bridges, (bus) => {
      expect(bus.mmioRead(ecamAddress(0, 0x100), 4)).toBe(0)
      expect(bus.mmioRead(ecamAddress(0, 0xffc), 4)).toBe(0)
      expect(bus.mmioRead(ecamAddress(7, 0x100), 4)).toBe(0xffffffff)
    }))

  it.effect("an 8-byte read returns two config dwords, low first", () =>
    withPci(bridges, (bus) => {
      expect(bus.mmioRead(ecamAddress(31, 0x08), 8)).toBe((BigInt(cfgRead(bus, 31, 0x0c)) << 32n) | BigInt(cfgRead(bus, 31, 0x08)))
    }))
})
