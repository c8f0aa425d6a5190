/**
 * Where the loader puts its boot data in low guest memory. Everything the
 * loader writes sits in one block [BOOT_DATA_START, BOOT_DATA_END), above the
 * real-mode IVT/BDA page and below 64 KiB, so kernels linked at 1 MiB (or in
 * the 0x10000..0x9FC00 hole) never collide with it.
 */

/** Real-mode IVT and BIOS data area: never handed to a kernel segment. */
export const IVT_END = 0x1000

export const BOOT_DATA_START = 0x4000

/** Linux's struct boot_params (the "zero page"), for a bzImage entered by the 64-bit boot protocol. */
export const ZERO_PAGE_ADDR = 0x4000
export const ZERO_PAGE_SIZE = 0x1000

/** GDT: null, code (0x8), data (0x10), TSS (0x18, 16 bytes in long mode). */
export const GDT_ADDR = 0x5000
export const GDT_ENTRIES = 5

/** struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h), version 1. */
export const START_INFO_ADDR = 0x6000
export const START_INFO_SIZE = 56

/** struct hvm_modlist_entry array (the initrd), in the start info's page after the struct. */
export const MODLIST_ADDR = START_INFO_ADDR + 0x40
export const MODLIST_ENTRY_SIZE = 32

/** struct hvm_memmap_table_entry array. */
export const MEMMAP_ADDR = 0x7000
export const MEMMAP_ENTRY_SIZE = 24
export const MEMMAP_MAX_ENTRIES = 128

/** NUL-terminated command line. */
export const CMDLINE_ADDR = 0x8000
export const CMDLINE_MAX = 4095

/** Long-mode identity map of the first 4 GiB: PML4, one PDPT, four PDs of 2 MiB pages. */
export const PML4_ADDR = 0x9000
export const PDPT_ADDR = 0xa000
export const PD_ADDR = 0xb000
export const PD_COUNT = 4
export const PAGE_TABLES_END = PD_ADDR + PD_COUNT * 0x1000

/** Initial stack for the ELF64 entry (PVH defines no stack). 16-byte aligned top. */
export const STACK_BASE = 0xf000
export const STACK_TOP = 0xfff0

export const BOOT_DATA_END = 0x10000

/** EBDA, VGA hole and BIOS ROM: reserved in the E820 map. */
export const EBDA_START = 0x9fc00
export const BIOS_END = 0x100000

/**
 * Firmware tables, inside the reserved BIOS area at bhyve's addresses: the
 * MP floating pointer and configuration table from 0xF0000 (guests scan
 * 0xF0000-0xFFFFF for "_MP_"), the ACPI tables from 0xF2400 (RSDP first,
 * also found by a scan of 0xE0000-0xFFFFF) up to BIOS_END.
 */
export const MPTABLE_ADDR = 0xf0000
export const ACPI_TABLES_ADDR = 0xf2400
export const FIRMWARE_TABLES_END = BIOS_END

export interface ReservedArea {
  readonly name: string
  readonly start: number
  readonly end: number
}

/** Areas no kernel segment may overlap. */
export const RESERVED_AREAS: ReadonlyArray<ReservedArea> = [
  { name: "real-mode IVT and BIOS data area", start: 0, end: IVT_END },
  { name: "Linux zero page", start: ZERO_PAGE_ADDR, end: ZERO_PAGE_ADDR + ZERO_PAGE_SIZE },
  { name: "boot GDT", start: GDT_ADDR, end: START_INFO_ADDR },
  { name: "hvm_start_info area", start: START_INFO_ADDR, end: MEMMAP_ADDR },
  { name: "memory map area", start: MEMMAP_ADDR, end: CMDLINE_ADDR },
  { name: "command line area", start: CMDLINE_ADDR, end: PML4_ADDR },
  { name: "boot page tables", start: PML4_ADDR, end: PAGE_TABLES_END },
  { name: "boot stack", start: STACK_BASE, end: BOOT_DATA_END },
  { name: "EBDA and BIOS area", start: EBDA_START, end: BIOS_END }
]
