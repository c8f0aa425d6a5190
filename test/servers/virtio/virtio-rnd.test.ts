import { describe, expect, it } from "@effect/vitest"
import { fillRandom, MAX_BYTES_PER_REQUEST } from "../../../src/servers/virtio-rnd/VirtioRndDevice.js"
import { slot, withPci } from "../pci/PciTestMachine.js"
import { DATA } from "./GuestQueue.js"
import { VirtioDriver } from "./VirtioDriver.js"

const RINGS = 0x1000

const withRnd = (body: (d: VirtioDriver, bytes: Uint8Array) => void) =>
  withPci([slot(4, "virtio-rnd")], (bus, m) => body(new VirtioDriver(bus, m.ram, 4), m.ram.regions[0].bytes))

const nonZero = (b: Uint8Array) => b.some((x) => x !== 0)

describe("virtio-rnd", () => {
  it.effect("fills each device-writable buffer with random bytes and returns how many", () =>
    withRnd((d, bytes) => {
      const q = d.start(RINGS)
      q.add([{ addr: DATA, len: 64, write: true }, { addr: DATA + 0x100, len: 32, write: true }])
      d.notify()
      expect(q.takeUsed()).toEqual([{ id: 0, len: 96 }])
      expect(nonZero(bytes.subarray(DATA, DATA + 64))).toBe(true)
      expect(nonZero(bytes.subarray(DATA + 0x100, DATA + 0x120))).toBe(true)
      expect(nonZero(bytes.subarray(DATA + 64, DATA + 0x100))).toBe(false)
    }))

  it.effect("serves every chain made available before the notification", () =>
    withRnd((d, bytes) => {
      const q = d.start(RINGS)
      for (let i = 0; i < 3; i++) q.add([{ addr: DATA + 0x100 * i, len: 16, write: true }])
      d.notify()
      expect(q.takeUsed().map((u) => u.len)).toEqual([16, 16, 16])
      expect(Buffer.from(bytes.subarray(DATA, DATA + 16)).equals(Buffer.from(bytes.subarray(DATA + 0x100, DATA + 0x110)))).toBe(false)
    }))

  it.effect("fills buffers given through an indirect table", () =>
    withRnd((d, bytes) => {
      const q = d.start(RINGS)
      q.addIndirect(DATA + 0x8000, [{ addr: DATA, len: 8, write: true }, { addr: DATA + 8, len: 8, write: true }])
      d.notify()
      expect(q.takeUsed()).toEqual([{ id: 0, len: 16 }])
      expect(nonZero(bytes.subarray(DATA, DATA + 16))).toBe(true)
    }))

  it.effect("a chain with nothing to write comes back with length 0", () =>
    withRnd((d) => {
      const q = d.start(RINGS)
      q.add([{ addr: DATA, len: 16 }])
      d.notify()
      expect(q.takeUsed()).toEqual([{ id: 0, len: 0 }])
    }))

  it("gives at most 64 KiB per request, so a huge buffer cannot stall the vCPU", () => {
    const big = new Uint8Array(MAX_BYTES_PER_REQUEST * 2)
    expect(fillRandom([big], MAX_BYTES_PER_REQUEST)).toBe(MAX_BYTES_PER_REQUEST)
    expect(nonZero(big.subarray(MAX_BYTES_PER_REQUEST))).toBe(false)
  })
})
