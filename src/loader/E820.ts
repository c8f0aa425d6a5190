/**
 * The physical memory map handed to the guest (E820 types), matching how
 * MemoryLayout places RAM: low RAM up to 3 GiB, the rest from 4 GiB.
 */
import { HIGHMEM_BASE, LOWMEM_LIMIT } from "../kernel/MemoryLayout.js"
import { BIOS_END, EBDA_START } from "./BootLayout.js"

export const E820_RAM = 1
export const E820_RESERVED = 2

export interface E820Entry {
  readonly addr: number
  readonly size: number
  readonly type: typeof E820_RAM | typeof E820_RESERVED
}

/**
 * RAM [0, EBDA), the EBDA/BIOS area reserved, RAM [1 MiB, low end), RAM above
 * 4 GiB when there is more than 3 GiB, plus `extraReserved` (e.g. PCI ECAM),
 * sorted by address.
 */
export const e820Map = (ramSize: number, extraReserved: ReadonlyArray<E820Entry> = []): ReadonlyArray<E820Entry> => {
  const lowEnd = Math.min(ramSize, LOWMEM_LIMIT)
  const high = ramSize - lowEnd
  const entries: Array<E820Entry> = [
    { addr: 0, size: Math.min(lowEnd, EBDA_START), type: E820_RAM },
    { addr: EBDA_START, size: BIOS_END - EBDA_START, type: E820_RESERVED }
  ]
  if (lowEnd > BIOS_END) entries.push({ addr: BIOS_END, size: lowEnd - BIOS_END, type: E820_RAM })
  if (high > 0) entries.push({ addr: HIGHMEM_BASE, size: high, type: E820_RAM })
  return [...entries.filter((e) => e.size > 0), ...extraReserved].sort((a, b) => a.addr - b.addr || a.size - b.size)
}
