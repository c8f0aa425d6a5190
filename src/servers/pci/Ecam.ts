import type { AccessSize, MmioHandler } from "../../bus/DeviceHandlers.js"
import type { PciTopology } from "./PciTopology.js"
import { bitsOf, low32 } from "./AccessValue.js"

/**
 * PCIe enhanced configuration access: config space mapped into memory,
 * 4 KiB per function, 1 MiB per bus. bhyve puts it at 0xE0000000 (256 MiB
 * for 256 buses); we have only bus 0, so the window is 1 MiB. The loader
 * marks it reserved in the E820 map (and an MCFG table would point at it).
 */
export const ECAM_BASE = 0xe000_0000
export const ECAM_BUSES = 1
export const ECAM_SIZE = ECAM_BUSES << 20

/** The reserved range for the E820 map. */
export const ECAM_RANGE = { base: ECAM_BASE, size: ECAM_SIZE } as const

const decode = (offset: number) => ({
  bus: offset >>> 20,
  slot: (offset >>> 15) & 0x1f,
  fn: (offset >>> 12) & 0x7,
  reg: offset & 0xfff
})

/** 8-byte accesses are split into two dword config accesses, low first. */
export const make = (topology: PciTopology): MmioHandler => ({
  read: (offset: number, size: AccessSize) => {
    const a = decode(offset)
    if (size !== 8) return topology.readConfig(a.bus, a.slot, a.fn, a.reg, size)
    if (a.reg % 8 !== 0) return 0xffffffffffffffffn
    const low = topology.readConfig(a.bus, a.slot, a.fn, a.reg, 4)
    const high = topology.readConfig(a.bus, a.slot, a.fn, a.reg + 4, 4)
    return (BigInt(high) << 32n) | BigInt(low)
  },
  write: (offset: number, size: AccessSize, value: number | bigint) => {
    const a = decode(offset)
    if (size !== 8) {
      topology.writeConfig(a.bus, a.slot, a.fn, a.reg, size, low32(value))
      return
    }
    if (a.reg % 8 !== 0) return
    const v = bitsOf(value)
    topology.writeConfig(a.bus, a.slot, a.fn, a.reg, 4, Number(v & 0xffffffffn))
    topology.writeConfig(a.bus, a.slot, a.fn, a.reg + 4, 4, Number((v >> 32n) & 0xffffffffn))
  }
})
