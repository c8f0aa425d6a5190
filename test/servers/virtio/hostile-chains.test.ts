import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { ramSlice } from "../../../src/kernel/MemoryLayout.js"
import { ChainFault, MAX_INDIRECT_DESCRIPTORS } from "../../../src/servers/virtio/DescriptorChain.js"
import { testRam } from "../pci/PciTestMachine.js"
import { DATA, queueInRam, RAM } from "./GuestQueue.js"

const NEXT = 1
const WRITE = 2
const INDIRECT = 4

/** The reason the next pop gives, or the chain's lengths when it is no fault at all. */
const popReason = (setup: ReturnType<typeof queueInRam>, indirect = true): string => {
  const r = setup.q.pop(setup.ram, indirect)
  return r instanceof ChainFault ? r.reason : r === undefined ? "nothing" : `chain ${r.readableLength}/${r.writableLength}`
}

describe("hostile descriptor chains are faults, never exceptions", () => {
  it("a chain that loops back on itself", () => {
    const s = queueInRam(8)
    s.guest.writeDesc(s.guest.descAddr, 0, DATA, 4, NEXT, 1)
    s.guest.writeDesc(s.guest.descAddr, 1, DATA, 4, NEXT, 0)
    s.guest.publish(0)
    expect(popReason(s)).toBe("queue 0: chain longer than the queue size 8 (a loop?)")
  })

  it("a descriptor that points outside RAM", () => {
    const s = queueInRam()
    s.guest.add([{ addr: RAM - 8, len: 16 }])
    expect(popReason(s)).toBe(`queue 0: buffer at 0x${(RAM - 8).toString(16)}+16 is outside RAM`)
  })

  it("a next index outside the table", () => {
    const s = queueInRam(8)
    s.guest.writeDesc(s.guest.descAddr, 0, DATA, 4, NEXT, 200)
    s.guest.publish(0)
    expect(popReason(s)).toBe("queue 0: descriptor 200 is outside its table of 8")
  })

  it("an absurd length (4 GiB of buffers) even where RAM would hold each one", () => {
    const big = testRam(RAM)
    const s = queueInRam(8, big)
    for (let i = 0; i < 4; i++) s.guest.writeDesc(s.guest.descAddr, i, 0, 0xffff_ffff, WRITE | (i < 3 ? NEXT : 0), i + 1)
    s.guest.publish(0)
    expect(popReason(s)).toMatch(/outside RAM|4 GiB or more/)
  })

  it("a head index outside the queue", () => {
    const s = queueInRam(8)
    s.guest.publish(9)
    expect(popReason(s)).toBe("queue 0: head 9 is outside the queue of 8")
  })

  it("an available index that runs further ahead than the queue is long", () => {
    const s = queueInRam(8)
    s.guest.setAvailIdx(20)
    s.q.lastAvailIdx = 0
    expect(popReason(s)).toBe("queue 0: available idx 20 is 20 ahead of the device on a queue of 8")
  })

  it("an indirect descriptor inside an indirect table", () => {
    const s = queueInRam()
    const table = DATA + 0x1000
    s.guest.writeDesc(table, 0, table, 16, INDIRECT, 0)
    s.guest.writeDesc(s.guest.descAddr, 0, table, 16, INDIRECT, 0)
    s.guest.publish(0)
    expect(popReason(s)).toBe("queue 0: indirect descriptor inside an indirect table")
  })

  it("an indirect descriptor that also says NEXT", () => {
    const s = queueInRam()
    s.guest.writeDesc(s.guest.descAddr, 0, DATA, 16, INDIRECT | NEXT, 1)
    s.guest.publish(0)
    expect(popReason(s)).toBe("queue 0: descriptor has both INDIRECT and NEXT")
  })

  it("an indirect table whose length is not a multiple of 16, or is empty, or is huge", () => {
    for (const [len, reason] of [
      [24, "indirect table length 24 is not a non-zero multiple of 16"],
      [0, "indirect table length 0 is not a non-zero multiple of 16"],
      [16 * (MAX_INDIRECT_DESCRIPTORS + 1), `indirect table of ${MAX_INDIRECT_DESCRIPTORS + 1} descriptors (at most ${MAX_INDIRECT_DESCRIPTORS})`]
    ] as const) {
      const s = queueInRam()
      s.guest.writeDesc(s.guest.descAddr, 0, DATA, len, INDIRECT, 0)
      s.guest.publish(0)
      expect(popReason(s)).toBe(`queue 0: ${reason}`)
    }
  })

  it("a loop inside an indirect table", () => {
    const s = queueInRam()
    const table = DATA + 0x1000
    s.guest.writeDesc(table, 0, DATA, 4, NEXT, 1)
    s.guest.writeDesc(table, 1, DATA, 4, NEXT, 0)
    s.guest.writeDesc(s.guest.descAddr, 0, table, 32, INDIRECT, 0)
    s.guest.publish(0)
    expect(popReason(s)).toBe("queue 0: indirect chain loops or runs past its 2 descriptors")
  })

  it("an indirect table outside RAM", () => {
    const s = queueInRam()
    s.guest.writeDesc(s.guest.descAddr, 0, RAM - 16, 32, INDIRECT, 0)
    s.guest.publish(0)
    expect(popReason(s)).toContain("indirect table at")
  })

  it("random descriptor tables and rings (fixed seed): pop always ends, never throws, and every buffer it returns lies in RAM", () => {
    const size = 16
    const descriptor = FastCheck.record({
      addr: FastCheck.oneof(FastCheck.integer({ min: 0, max: RAM + 4096 }), FastCheck.constantFrom(0, DATA, RAM - 1, 2 ** 40, 2 ** 63)),
      len: FastCheck.oneof(FastCheck.integer({ min: 0, max: 4096 }), FastCheck.constantFrom(0, 16, 0xffff_ffff, RAM)),
      flags: FastCheck.integer({ min: 0, max: 7 }),
      next: FastCheck.oneof(FastCheck.integer({ min: 0, max: size + 2 }), FastCheck.integer({ min: 0, max: 0xffff }))
    })
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(descriptor, { minLength: size, maxLength: size }),
        FastCheck.array(FastCheck.integer({ min: 0, max: size + 4 }), { maxLength: 24 }),
        FastCheck.integer({ min: 0, max: 0xffff }),
        FastCheck.boolean(),
        (table, heads, start, indirect) => {
          const s = queueInRam(size)
          // Some descriptors point at the table itself, so indirect tables are made of descriptors too.
          table.forEach((d, i) => s.guest.writeDesc(s.guest.descAddr, i, d.addr === 0 ? s.guest.descAddr : d.addr, d.len, d.flags, d.next))
          s.guest.setAvailIdx(start)
          s.q.lastAvailIdx = start
          for (const h of heads) s.guest.publish(h)
          for (let n = 0; n <= heads.length; n++) {
            const r = s.q.pop(s.ram, indirect)
            if (r === undefined) break
            if (r instanceof ChainFault) {
              expect(r.reason.length).toBeGreaterThan(0)
              continue
            }
            for (const v of [...r.readable, ...r.writable].filter((b) => b.length > 0)) {
              expect(v.buffer).toBe(s.bytes.buffer)
              expect(v.byteOffset + v.length).toBeLessThanOrEqual(RAM)
              expect(ramSlice(s.ram, v.byteOffset, v.length)).toBeDefined()
            }
            expect(r.readableLength).toBe(r.readable.reduce((a, v) => a + v.length, 0))
            expect(r.writableLength).toBe(r.writable.reduce((a, v) => a + v.length, 0))
            expect(r.readable.length + r.writable.length).toBeLessThanOrEqual(size + MAX_INDIRECT_DESCRIPTORS)
          }
        }
      ),
      { seed: 20261125, numRuns: 500 }
    )
  })
})
