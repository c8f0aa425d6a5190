import { HIGHMEM_BASE, LOWMEM_LIMIT } from "../../kernel/MemoryLayout.js"
import { ECAM_BASE } from "./Ecam.js"

/**
 * The address windows BARs are assigned from, as bhyve lays them out:
 * I/O from 0x2000 to the end of port space; 32-bit MMIO from the top of low
 * RAM (3 GiB) up to the ECAM window; 64-bit MMIO in a 32 GiB window that
 * starts at the first 32 GiB boundary above high RAM.
 */
export interface Window {
  readonly base: number
  readonly limit: number
}

export interface PciWindows {
  readonly io: Window
  readonly mem32: Window
  readonly mem64: Window
}

export const IO_WINDOW_BASE = 0x2000
const MEM64_WINDOW_SIZE = 32 * 1024 ** 3

export const pciWindows = (memoryBytes: number): PciWindows => {
  const highRam = Math.max(0, memoryBytes - LOWMEM_LIMIT)
  const mem64Base = Math.ceil((HIGHMEM_BASE + highRam) / MEM64_WINDOW_SIZE) * MEM64_WINDOW_SIZE
  return {
    io: { base: IO_WINDOW_BASE, limit: 0x10000 },
    mem32: { base: LOWMEM_LIMIT, limit: ECAM_BASE },
    mem64: { base: mem64Base, limit: mem64Base + MEM64_WINDOW_SIZE }
  }
}
