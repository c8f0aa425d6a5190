import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Bus from "../../../src/bus/Bus.js"
import type { MmioHandler } from "../../../src/bus/DeviceHandlers.js"
import { BarAllocator } from "../../../src/servers/pci/BarAllocator.js"
import { ECAM_BASE } from "../../../src/servers/pci/Ecam.js"
import { PciBus } from "../../../src/servers/pci/PciBus.js"
import * as PciBusServer from "../../../src/servers/pci/PciBusServer.js"
import { PciFunction } from "../../../src/servers/pci/PciFunction.js"
import { pciWindows } from "../../../src/servers/pci/PciWindows.js"
import { barAddress, baseServices, cfgRead, cfgWrite, slot, withPci } from "./PciTestMachine.js"

const RND = 4

/** A handler that answers every read with a marker, so tests can see which BAR an access reached. */
const marker = (value: number): MmioHandler => ({ read: () => value, write: () => {} })

/** A function with an I/O BAR 0 (32 ports), a 32-bit BAR 1 (4 KiB) and a 64-bit BAR 2 (64 KiB), attached at slot 6. */
const withTestFunction = (body: (bus: Bus.BusRouter, fn: PciFunction) => void) => {
  const base = baseServices()
  const fn = new PciFunction({
    vendorId: 0x1234,
    deviceId: 0x5678,
    classCode: 0xff0000,
    bars: [{ kind: "io", size: 32 }, { kind: "mem32", size: 4096 }, { kind: "mem64", size: 65536, prefetchable: true }]
  })
  const layer = PciBusServer.layer({ memoryBytes: base.ram.size }).pipe(Layer.provideMerge(base.layer))
  return Effect.scoped(
    Effect.gen(function* () {
      const pci = yield* PciBus
      yield* pci.attach({ owner: "test", address: { bus: 0, slot: 6, function: 0 }, fn, bars: [marker(0xaa), marker(0xbb), marker(0xcc)] })
      body(yield* Bus.Bus, fn)
    }).pipe(Effect.provide(layer))
  )
}

describe("PCI BARs", () => {
  it.effect("are preprogrammed in the PCI hole with decoding on, so a guest that never enumerates finds them", () =>
    withPci([slot(RND, "virtio-rnd")], (bus) => {
      const msix = barAddress(bus, RND, 1)
      const virtio = barAddress(bus, RND, 4)
      for (const at of [msix, virtio]) {
        expect(at).toBeGreaterThanOrEqual(0xc000_0000)
        expect(at).toBeLessThan(ECAM_BASE)
      }
      expect(cfgRead(bus, RND, 0x04, 2) & 0x6).toBe(0x6) // memory decode and bus master
      expect(bus.mmio.find(virtio)?.owner).toBe("virtio-rnd.pci.0.4.0")
      expect(bus.mmio.find(msix)?.owner).toBe("virtio-rnd.pci.0.4.0")
    }))

  it.effect("each BAR is aligned to its own size", () =>
    withTestFunction((bus) => {
      expect(barAddress(bus, 6, 0) % 32).toBe(0)
      expect(barAddress(bus, 6, 0)).toBeGreaterThanOrEqual(0x2000)
      expect(barAddress(bus, 6, 1) % 4096).toBe(0)
      expect(barAddress(bus, 6, 2) % 65536).toBe(0)
    }))

  it.effect("writing all-ones to a 32-bit memory BAR reads back its size mask with the type bits", () =>
    withTestFunction((bus) => {
      cfgWrite(bus, 6, 0x14, 0xffffffff)
      expect(cfgRead(bus, 6, 0x14)).toBe(0xfffff000)
    }))

  it.effect("a 64-bit BAR sizes across both halves and keeps its 64-bit and prefetchable bits", () =>
    withTestFunction((bus) => {
      cfgWrite(bus, 6, 0x18, 0xffffffff)
      cfgWrite(bus, 6, 0x1c, 0xffffffff)
      expect(cfgRead(bus, 6, 0x18)).toBe(0xffff000c)
      expect(cfgRead(bus, 6, 0x1c)).toBe(0xffffffff)
    }))

  it.effect("an I/O BAR sizes within the 64 KiB port space and keeps bit 0 set", () =>
    withTestFunction((bus) => {
      cfgWrite(bus, 6, 0x10, 0xffffffff)
      expect(cfgRead(bus, 6, 0x10)).toBe(0x0000ffe1)
    }))

  it.effect("BARs the function does not have read zero and ignore writes", () =>
    withTestFunction((bus) => {
      cfgWrite(bus, 6, 0x24, 0xffffffff)
      expect(cfgRead(bus, 6, 0x24)).toBe(0)
      expect(cfgRead(bus, 6, 0x30)).toBe(0) // no expansion ROM
    }))

  it.effect("byte writes to a BAR are ignored, as bhyve does", () =>
    withTestFunction((bus) => {
      const before = cfgRead(bus, 6, 0x14)
      cfgWrite(bus, 6, 0x15, 0xff, 1)
      expect(cfgRead(bus, 6, 0x14)).toBe(before)
    }))

  it.effect("moving a memory BAR moves its range on the bus", () =>
    withTestFunction((bus) => {
      const old = barAddress(bus, 6, 1)
      cfgWrite(bus, 6, 0x14, 0xd000_0000)
      expect(bus.mmioRead(0xd000_0000, 4)).toBe(0xbb)
      expect(bus.mmio.find(old)).toBeUndefined()
    }))

  it.effect("moving a 64-bit BAR above 4 GiB takes effect with its high half", () =>
    withTestFunction((bus) => {
      cfgWrite(bus, 6, 0x18, 0x0001_0000)
      cfgWrite(bus, 6, 0x1c, 0x0000_0010)
      expect(bus.mmioRead(0x10_0001_0000, 4)).toBe(0xcc)
    }))

  it.effect("moving an I/O BAR moves its ports", () =>
    withTestFunction((bus) => {
      cfgWrite(bus, 6, 0x10, 0x3000)
      expect(bus.pioRead(0x3010, 4)).toBe(0xaa)
    }))

  it.effect("clearing memory decode in the command register releases the memory BARs; setting it claims them again", () =>
    withTestFunction((bus) => {
      const at = barAddress(bus, 6, 1)
      const command = cfgRead(bus, 6, 0x04, 2)
      cfgWrite(bus, 6, 0x04, command & ~0x2, 2)
      expect(bus.mmio.find(at)).toBeUndefined()
      expect(bus.pio.find(barAddress(bus, 6, 0))?.owner).toBe("test") // I/O decode untouched
      cfgWrite(bus, 6, 0x04, command, 2)
      expect(bus.mmioRead(at, 4)).toBe(0xbb)
    }))

  it.effect("clearing I/O decode releases the I/O BAR only", () =>
    withTestFunction((bus) => {
      const port = barAddress(bus, 6, 0)
      cfgWrite(bus, 6, 0x04, cfgRead(bus, 6, 0x04, 2) & ~0x1, 2)
      expect(bus.pio.find(port)).toBeUndefined()
      expect(bus.mmio.find(barAddress(bus, 6, 1))?.owner).toBe("test")
    }))

  it.effect("a BAR moved onto another device's range stays unmapped, reported once, and maps again when moved away", () => {
    const m = baseServices()
    const fn = new PciFunction({ vendorId: 1, deviceId: 2, classCode: 0, bars: [undefined, { kind: "mem32", size: 4096 }] })
    const layer = PciBusServer.layer({ memoryBytes: m.ram.size }).pipe(Layer.provideMerge(m.layer))
    return Effect.scoped(
      Effect.gen(function* () {
        const pci = yield* PciBus
        const bus = yield* Bus.Bus
        yield* Bus.registerMmio("other", 0xd000_0000, 0x1000, marker(0x11))
        yield* pci.attach({ owner: "mover", address: { bus: 0, slot: 2, function: 0 }, fn, bars: [undefined, marker(0x22)] })
        cfgWrite(bus, 2, 0x14, 0xd000_0000)
        cfgWrite(bus, 2, 0x14, 0xd000_0000)
        expect(bus.mmioRead(0xd000_0000, 4)).toBe(0x11)
        expect(m.reports.filter((r) => r.includes("mover: BAR 1"))).toHaveLength(1)
        cfgWrite(bus, 2, 0x14, 0xd100_0000)
        expect(bus.mmioRead(0xd100_0000, 4)).toBe(0x22)
      }).pipe(Effect.provide(layer))
    )
  })

  it.effect("releasing the machine releases config ports, ECAM and every BAR", () => {
    let bars: Array<number> = []
    return Effect.gen(function* () {
      const router = yield* withPci([slot(RND, "virtio-rnd")], (bus) => {
        bars = [barAddress(bus, RND, 1), barAddress(bus, RND, 4)]
        return bus
      })
      expect(router.pio.find(0xcf8)).toBeUndefined()
      expect(router.mmio.find(ECAM_BASE)).toBeUndefined()
      for (const at of bars) expect(router.mmio.find(at)).toBeUndefined()
    })
  })
})

describe("BAR allocation", () => {
  const windows = pciWindows(64 * 1024 * 1024)

  it("starts I/O at 0x2000 and 32-bit memory at 3 GiB, each BAR naturally aligned", () => {
    const a = new BarAllocator(windows)
    expect(a.allocate({ kind: "io", size: 64 })).toBe(0x2000)
    expect(a.allocate({ kind: "io", size: 256 })).toBe(0x2100)
    expect(a.allocate({ kind: "mem32", size: 4096 })).toBe(0xc000_0000)
    expect(a.allocate({ kind: "mem32", size: 0x10_0000 })).toBe(0xc010_0000)
  })

  it("puts small 64-bit BARs below 4 GiB and large ones in the window above RAM", () => {
    const a = new BarAllocator(pciWindows(6 * 1024 ** 3))
    expect(a.allocate({ kind: "mem64", size: 0x4000 })).toBe(0xc000_0000)
    const big = a.allocate({ kind: "mem64", size: 256 * 1024 * 1024 })
    expect(big).toBe(32 * 1024 ** 3) // the first 32 GiB boundary above high RAM (4 GiB + 3 GiB)
  })

  it("refuses a BAR once its window is full", () => {
    const a = new BarAllocator(windows)
    expect(a.allocate({ kind: "mem32", size: 0x1000_0000 })).toBe(0xc000_0000)
    expect(a.allocate({ kind: "mem32", size: 0x1000_0000 })).toBe(0xd000_0000)
    expect(a.allocate({ kind: "mem32", size: 16 })).toBeUndefined()
  })
})
