/**
 * The PVH boot information block: struct hvm_start_info (version 1), its
 * memory map and the command line, written into the low-memory boot area.
 * Both boot modes hand the guest the same block.
 */
import {
  CMDLINE_ADDR, MEMMAP_ADDR, MEMMAP_ENTRY_SIZE, MODLIST_ADDR, MODLIST_ENTRY_SIZE, START_INFO_ADDR
} from "./BootLayout.js"
import type { E820Entry } from "./E820.js"

export const HVM_START_MAGIC = 0x336ec578
export const HVM_START_VERSION = 1

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

/** Writes `cmdline` (already-encoded bytes) and its NUL at CMDLINE_ADDR. */
export const writeCmdline = (lowMem: Uint8Array, cmdline: Uint8Array): void => {
  lowMem.set(cmdline, CMDLINE_ADDR)
  lowMem[CMDLINE_ADDR + cmdline.length] = 0
}

/** Writes hvm_memmap_table_entry {u64 addr, u64 size, u32 type, u32 reserved} records. */
export const writeMemmap = (lowMem: Uint8Array, entries: ReadonlyArray<E820Entry>): void => {
  const v = view(lowMem)
  entries.forEach((e, i) => {
    const o = MEMMAP_ADDR + i * MEMMAP_ENTRY_SIZE
    v.setBigUint64(o, BigInt(e.addr), true)
    v.setBigUint64(o + 8, BigInt(e.size), true)
    v.setUint32(o + 16, e.type, true)
    v.setUint32(o + 20, 0, true)
  })
}

/** A PVH module: guest-physical [paddr, paddr + size). */
export interface BootModule {
  readonly paddr: number
  readonly size: number
}

/** Writes hvm_modlist_entry {u64 paddr, u64 size, u64 cmdline_paddr, u64 reserved} records; no module has a command line. */
export const writeModlist = (lowMem: Uint8Array, modules: ReadonlyArray<BootModule>): void => {
  const v = view(lowMem)
  modules.forEach((m, i) => {
    const o = MODLIST_ADDR + i * MODLIST_ENTRY_SIZE
    v.setBigUint64(o, BigInt(m.paddr), true)
    v.setBigUint64(o + 8, BigInt(m.size), true)
    v.setBigUint64(o + 16, 0n, true)
    v.setBigUint64(o + 24, 0n, true)
  })
}

/**
 * Writes struct hvm_start_info; `rsdpAddress` 0 when there are no ACPI
 * tables; `modules` entries already written by writeModlist (none: modlist_paddr 0).
 */
export const writeStartInfo = (lowMem: Uint8Array, memmapEntries: number, rsdpAddress = 0, modules = 0): void => {
  const v = view(lowMem)
  const o = START_INFO_ADDR
  v.setUint32(o + 0, HVM_START_MAGIC, true)
  v.setUint32(o + 4, HVM_START_VERSION, true)
  v.setUint32(o + 8, 0, true) // flags
  v.setUint32(o + 12, modules, true) // nr_modules
  v.setBigUint64(o + 16, modules === 0 ? 0n : BigInt(MODLIST_ADDR), true) // modlist_paddr
  v.setBigUint64(o + 24, BigInt(CMDLINE_ADDR), true)
  v.setBigUint64(o + 32, BigInt(rsdpAddress), true) // rsdp_paddr
  v.setBigUint64(o + 40, BigInt(MEMMAP_ADDR), true)
  v.setUint32(o + 48, memmapEntries, true)
  v.setUint32(o + 52, 0, true) // reserved
}
