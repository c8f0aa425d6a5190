import { describe, expect, it } from "@effect/vitest"
import { ChainFault, walkChain } from "../../../src/servers/virtio/DescriptorChain.js"
import { type Chain, SplitVirtqueue } from "../../../src/servers/virtio/SplitVirtqueue.js"
import { testRam } from "../pci/PciTestMachine.js"
import { DATA, queueInRam, RAM } from "./GuestQueue.js"

const isChain = (r: Chain | ChainFault | undefined): r is Chain => r !== undefined && !(r instanceof ChainFault)

describe("split virtqueue: chains", () => {
  it("a chain's readable and writable buffers are views of guest RAM, in order", () => {
    const { q, guest, ram, bytes } = queueInRam()
    bytes.set([1, 2, 3, 4], DATA)
    guest.add([{ addr: DATA, len: 4 }, { addr: DATA + 0x100, len: 8, write: true }, { addr: DATA + 0x200, len: 1, write: true }])
    const chain = q.pop(ram, false)
    if (!isChain(chain)) throw new Error(String(chain))
    expect(chain.head).toBe(0)
    expect([...chain.readable[0]]).toEqual([1, 2, 3, 4])
    expect(chain.writable.map((v) => v.length)).toEqual([8, 1])
    expect([chain.readableLength, chain.writableLength]).toEqual([4, 9])
    chain.writable[0][0] = 0x5a
    expect(bytes[DATA + 0x100]).toBe(0x5a)
  })

  it("nothing available pops nothing", () => {
    const { q, ram } = queueInRam()
    expect(q.pop(ram, false)).toBeUndefined()
  })

  it("an indirect descriptor's table supplies the chain when INDIRECT_DESC was negotiated", () => {
    const { q, guest, ram } = queueInRam()
    guest.addIndirect(DATA + 0x1000, [{ addr: DATA, len: 16 }, { addr: DATA + 0x100, len: 512, write: true }, { addr: DATA + 0x300, len: 1, write: true }])
    const chain = q.pop(ram, true)
    if (!isChain(chain)) throw new Error(String(chain))
    expect([chain.readable.length, chain.writable.length, chain.writableLength]).toEqual([1, 2, 513])
  })

  it("an indirect descriptor without INDIRECT_DESC negotiated is a fault", () => {
    const { q, guest, ram } = queueInRam()
    guest.addIndirect(DATA + 0x1000, [{ addr: DATA, len: 16 }])
    expect(q.pop(ram, false)).toEqual(new ChainFault("queue 0: indirect descriptor without VIRTIO_F_INDIRECT_DESC"))
  })

  it("a device-readable buffer after a device-writable one is a fault", () => {
    const { q, guest, ram } = queueInRam()
    guest.add([{ addr: DATA, len: 4, write: true }, { addr: DATA + 16, len: 4 }])
    expect((q.pop(ram, false) as ChainFault).reason).toContain("device-readable buffer after a device-writable one")
  })

  it("available chains come out in ring order, across the 16-bit index wrap", () => {
    const { q, guest, ram } = queueInRam(4)
    guest.setAvailIdx(0xfffe)
    q.lastAvailIdx = q.usedIdx = q.signalledUsedIdx = 0xfffe
    const heads = [0, 1, 2].map(() => guest.add([{ addr: DATA, len: 1, write: true }]))
    const popped = [0, 1, 2].map(() => q.pop(ram, false)).filter(isChain).map((c) => c.head)
    expect(popped).toEqual(heads)
    expect(q.lastAvailIdx).toBe(1)
  })
})

describe("split virtqueue: used ring and notification suppression", () => {
  it("a returned chain lands in the used ring (id and length) before the index that publishes it", () => {
    const { q, guest } = queueInRam()
    q.push(5, 123)
    expect(guest.usedIdx).toBe(1)
    expect(guest.takeUsed()).toEqual([{ id: 5, len: 123 }])
  })

  it("without EVENT_IDX, a returned chain interrupts unless the driver set NO_INTERRUPT", () => {
    const { q, guest } = queueInRam()
    q.push(0, 1)
    expect(q.needsInterrupt(false)).toBe(true)
    guest.setNoInterrupt(true)
    q.push(1, 1)
    expect(q.needsInterrupt(false)).toBe(false)
  })

  it("nothing returned since the last decision means no interrupt", () => {
    const { q } = queueInRam()
    expect(q.needsInterrupt(false)).toBe(false)
    expect(q.needsInterrupt(true)).toBe(false)
  })

  it("with EVENT_IDX, the driver is interrupted only when the used index passes its used_event", () => {
    const { q, guest } = queueInRam()
    guest.setUsedEvent(2) // "interrupt me once entry 2 is used"
    q.push(0, 1)
    expect(q.needsInterrupt(true)).toBe(false) // used idx 1
    q.push(1, 1)
    expect(q.needsInterrupt(true)).toBe(false) // used idx 2
    q.push(2, 1)
    expect(q.needsInterrupt(true)).toBe(true) // used idx 3: entry 2 is used
    q.push(3, 1)
    expect(q.needsInterrupt(true)).toBe(false) // already told; used_event not moved
  })

  it("with EVENT_IDX, several chains returned at once interrupt once when they cross used_event", () => {
    const { q, guest } = queueInRam()
    guest.setUsedEvent(1)
    for (let i = 0; i < 4; i++) q.push(i, 1)
    expect(q.needsInterrupt(true)).toBe(true)
  })

  it("with EVENT_IDX, NO_INTERRUPT is not what counts", () => {
    const { q, guest } = queueInRam()
    guest.setNoInterrupt(true)
    guest.setUsedEvent(0)
    q.push(0, 1)
    expect(q.needsInterrupt(true)).toBe(true)
  })

  it("the device publishes avail_event: notify me when you make the next chain available", () => {
    const { q, guest, ram } = queueInRam()
    guest.add([{ addr: DATA, len: 1, write: true }])
    guest.add([{ addr: DATA, len: 1, write: true }])
    q.pop(ram, false)
    q.pop(ram, false)
    q.publishAvailEvent()
    expect(guest.availEvent).toBe(2)
  })
})

describe("split virtqueue: ring placement", () => {
  it("refuses rings outside RAM, naming the ring", () => {
    const ram = testRam(RAM)
    const q = new SplitVirtqueue(0, 16)
    q.descAddr = BigInt(RAM - 16)
    expect(q.attach(ram)).toBe(`queue 0: descriptor table at 0x${(RAM - 16).toString(16)}+256 is outside RAM`)
  })

  it("refuses a misaligned descriptor table", () => {
    const q = new SplitVirtqueue(0, 16)
    q.descAddr = 0x1008n
    expect(q.attach(testRam(RAM))).toContain("not 16-byte aligned")
  })

  it("refuses addresses past 2^52 without losing precision on them", () => {
    const q = new SplitVirtqueue(0, 16)
    q.descAddr = 0xffff_ffff_ffff_f000n
    expect(q.attach(testRam(RAM))).toContain("0xfffffffffffff000+256 is outside RAM")
  })

  it("accepts sizes that are powers of two up to the maximum", () => {
    const q = new SplitVirtqueue(0, 256)
    expect([1, 2, 128, 256].every((n) => q.acceptsSize(n))).toBe(true)
    expect([0, 3, 100, 512].some((n) => q.acceptsSize(n))).toBe(false)
  })
})

describe("descriptor chain walk", () => {
  it("a zero-length descriptor is an empty buffer wherever it points", () => {
    const { guest, ram, bytes } = queueInRam()
    guest.writeDesc(guest.descAddr, 0, 0xffff_ffff_0000, 0, 2, 0)
    const r = walkChain(ram, new DataView(bytes.buffer, guest.descAddr, 256), 16, 0, false)
    expect(r).toEqual({ readable: [], writable: [new Uint8Array(0)], readableLength: 0, writableLength: 0 })
  })
})
