/**
 * Linux's struct boot_params (arch/x86/include/uapi/asm/bootparam.h), the
 * "zero page" a 64-bit bzImage entry receives in %rsi: the image's own setup
 * header copied in, then what the boot loader fills: loader type, load
 * flags, command line, initrd, E820 map and the ACPI RSDP.
 */
import { ZERO_PAGE_ADDR, ZERO_PAGE_SIZE } from "./BootLayout.js"
import type { E820Entry } from "./E820.js"
import { SETUP_HEADER_START, type SetupHeader } from "./SetupHeader.js"

/** boot_params offsets. */
export const BP_ACPI_RSDP_ADDR = 0x070
export const BP_EXT_RAMDISK_IMAGE = 0x0c0
export const BP_EXT_RAMDISK_SIZE = 0x0c4
export const BP_EXT_CMD_LINE_PTR = 0x0c8
export const BP_E820_ENTRIES = 0x1e8
export const BP_TYPE_OF_LOADER = 0x210
export const BP_LOADFLAGS = 0x211
export const BP_RAMDISK_IMAGE = 0x218
export const BP_RAMDISK_SIZE = 0x21c
export const BP_HEAP_END_PTR = 0x224
export const BP_CMD_LINE_PTR = 0x228
export const BP_E820_TABLE = 0x2d0
export const E820_ENTRY_SIZE = 20
/** E820_MAX_ENTRIES_ZEROPAGE. */
export const ZERO_PAGE_E820_MAX = 128

/** "Undefined" boot loader: no assigned id (boot.rst). */
export const LOADER_TYPE_UNDEFINED = 0xff
export const LOADED_HIGH = 0x01
export const CAN_USE_HEAP = 0x80
/** End of the setup heap relative to the real-mode code, the value boot loaders conventionally give. */
export const HEAP_END = 0xfe00

export interface ZeroPageFields {
  readonly cmdlineAddress: number
  readonly initrd?: { readonly start: number; readonly end: number }
  readonly memmap: ReadonlyArray<E820Entry>
  /** 0 or absent when there are no ACPI tables. */
  readonly rsdpAddress?: number
}

const lo32 = (n: number) => n % 0x1_0000_0000
const hi32 = (n: number) => Math.floor(n / 0x1_0000_0000)

/**
 * Writes boot_params at ZERO_PAGE_ADDR in `lowMem` (guest RAM from address 0).
 * The memory map must hold at most ZERO_PAGE_E820_MAX entries.
 */
export const writeZeroPage = (lowMem: Uint8Array, image: Uint8Array, header: SetupHeader, fields: ZeroPageFields): void => {
  const page = lowMem.subarray(ZERO_PAGE_ADDR, ZERO_PAGE_ADDR + ZERO_PAGE_SIZE)
  page.fill(0)
  page.set(image.subarray(SETUP_HEADER_START, header.headerEnd), SETUP_HEADER_START)
  const v = new DataView(page.buffer, page.byteOffset, page.byteLength)

  v.setUint8(BP_TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED)
  v.setUint8(BP_LOADFLAGS, header.loadflags | LOADED_HIGH | CAN_USE_HEAP)
  v.setUint16(BP_HEAP_END_PTR, HEAP_END, true)
  v.setUint32(BP_CMD_LINE_PTR, lo32(fields.cmdlineAddress), true)
  v.setUint32(BP_EXT_CMD_LINE_PTR, hi32(fields.cmdlineAddress), true)

  const initrdStart = fields.initrd?.start ?? 0
  const initrdSize = fields.initrd === undefined ? 0 : fields.initrd.end - fields.initrd.start
  v.setUint32(BP_RAMDISK_IMAGE, lo32(initrdStart), true)
  v.setUint32(BP_RAMDISK_SIZE, lo32(initrdSize), true)
  v.setUint32(BP_EXT_RAMDISK_IMAGE, hi32(initrdStart), true)
  v.setUint32(BP_EXT_RAMDISK_SIZE, hi32(initrdSize), true)

  v.setBigUint64(BP_ACPI_RSDP_ADDR, BigInt(fields.rsdpAddress ?? 0), true)
  v.setUint8(BP_E820_ENTRIES, fields.memmap.length)
  fields.memmap.forEach((e, i) => {
    const o = BP_E820_TABLE + i * E820_ENTRY_SIZE
    v.setBigUint64(o, BigInt(e.addr), true)
    v.setBigUint64(o + 8, BigInt(e.size), true)
    v.setUint32(o + 16, e.type, true)
  })
}
