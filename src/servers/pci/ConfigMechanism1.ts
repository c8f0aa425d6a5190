import { allOnes, type AccessSize, type PioHandler } from "../../bus/DeviceHandlers.js"
import type { PciTopology } from "./PciTopology.js"

/**
 * Configuration mechanism #1: a dword address latch at 0xCF8 and a data
 * window at 0xCFC-0xCFF. Only dword accesses to 0xCF8 reach the latch;
 * byte and word accesses there belong to other chipset registers (0xCF9 is
 * the reset control, its own device), so the latch claims one port and
 * ignores narrower accesses, as bhyve does.
 */
export const CONFIG_ADDRESS_PORT = 0xcf8
export const CONFIG_DATA_PORT = 0xcfc
export const CONFIG_DATA_LENGTH = 4

const ENABLE = 0x8000_0000
/** Enable, bus, device, function and dword-aligned register; reserved bits read zero. */
const LATCH_MASK = 0x80ff_fffc

export class ConfigAddressLatch {
  value = 0
}

export const addressPort = (latch: ConfigAddressLatch): PioHandler => ({
  read: (_offset, size) => (size === 4 ? latch.value : allOnes(size)),
  write: (_offset, size, value) => {
    if (size === 4) latch.value = (value & LATCH_MASK) >>> 0
  }
})

const decode = (latch: number, offset: number) => ({
  bus: (latch >>> 16) & 0xff,
  slot: (latch >>> 11) & 0x1f,
  fn: (latch >>> 8) & 0x7,
  reg: (latch & 0xfc) + offset
})

/** Accesses that leave the dword, or arrive with the latch disabled, see an empty bus. */
const usable = (latch: number, offset: number, size: AccessSize) =>
  (latch & ENABLE) !== 0 && size !== 8 && offset >= 0 && offset + size <= CONFIG_DATA_LENGTH

export const dataPort = (latch: ConfigAddressLatch, topology: PciTopology): PioHandler => ({
  read: (offset, size) => {
    if (!usable(latch.value, offset, size)) return allOnes(size)
    const a = decode(latch.value, offset)
    return topology.readConfig(a.bus, a.slot, a.fn, a.reg, size)
  },
  write: (offset, size, value) => {
    if (!usable(latch.value, offset, size)) return
    const a = decode(latch.value, offset)
    topology.writeConfig(a.bus, a.slot, a.fn, a.reg, size, value)
  }
})
