/**
 * Identity page tables for the first 4 GiB with 2 MiB pages, for entering a
 * 64-bit kernel directly in long mode: PML4[0] -> PDPT, PDPT[0..3] -> four PDs
 * of 512 large pages each.
 */
import { PD_ADDR, PD_COUNT, PDPT_ADDR, PML4_ADDR } from "./BootLayout.js"

export const PTE_PRESENT = 0x1
export const PTE_WRITABLE = 0x2
export const PTE_LARGE = 0x80

const TABLE = PTE_PRESENT | PTE_WRITABLE
const PAGE_2M = 0x20_0000
const GIB = 0x4000_0000

/** Writes the tables into `lowMem` (indexed by guest address; the area must be zeroed) and returns CR3. */
export const writeIdentityPageTables = (lowMem: Uint8Array): number => {
  const v = new DataView(lowMem.buffer, lowMem.byteOffset, lowMem.byteLength)
  // Entries are u64; every address here is below 4 GiB, so the high halves stay zero.
  v.setUint32(PML4_ADDR, PDPT_ADDR | TABLE, true)
  for (let pd = 0; pd < PD_COUNT; pd++) {
    const pdAddr = PD_ADDR + pd * 0x1000
    v.setUint32(PDPT_ADDR + pd * 8, pdAddr | TABLE, true)
    for (let i = 0; i < 512; i++) {
      v.setUint32(pdAddr + i * 8, (pd * GIB + i * PAGE_2M + (TABLE | PTE_LARGE)) >>> 0, true)
    }
  }
  return PML4_ADDR
}
