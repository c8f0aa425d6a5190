import { describe, expect, it } from "@effect/vitest"
import { e820Map } from "../../src/loader/E820.js"

const GIB = 0x4000_0000

describe("e820Map", () => {
  it("splits low RAM around the EBDA/BIOS area", () => {
    expect(e820Map(64 * 0x10_0000)).toEqual([
      { addr: 0, size: 0x9fc00, type: 1 },
      { addr: 0x9fc00, size: 0x60400, type: 2 },
      { addr: 0x100000, size: 63 * 0x10_0000, type: 1 }
    ])
  })

  it("puts memory beyond 3 GiB above 4 GiB", () => {
    expect(e820Map(5 * GIB).slice(2)).toEqual([
      { addr: 0x100000, size: 3 * GIB - 0x100000, type: 1 },
      { addr: 4 * GIB, size: 2 * GIB, type: 1 }
    ])
  })

  it("has no high entry at exactly 3 GiB", () => {
    expect(e820Map(3 * GIB)).toHaveLength(3)
  })

  it("sorts extra reserved entries in by address", () => {
    const ecam = { addr: 0xe000_0000, size: 0x1000_0000, type: 2 } as const
    const map = e820Map(4 * GIB, [ecam])
    expect(map.map((e) => e.addr)).toEqual([0, 0x9fc00, 0x100000, 0xe000_0000, 4 * GIB])
    expect(map[3]).toEqual(ecam)
  })
})
