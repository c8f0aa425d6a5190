/**
 * What every boot mode checks and writes the same way: the low-memory boot
 * area, the command line, the E820 map, the firmware tables, the areas no
 * kernel or initrd may cover, and the hvm_start_info block with its module
 * list. Checked first (prepareBoot), written only once the mode's own
 * checks have passed too (writeBootData).
 */
import * as Effect from "effect/Effect"
import { type GuestRam, ramSlice } from "../kernel/MemoryLayout.js"
import { type BootModule, writeCmdline, writeMemmap, writeModlist, writeStartInfo } from "./BootData.js"
import { BIOS_END, BOOT_DATA_END, BOOT_DATA_START, CMDLINE_MAX, MEMMAP_MAX_ENTRIES, RESERVED_AREAS, type ReservedArea } from "./BootLayout.js"
import { E820_RESERVED, type E820Entry, e820Map } from "./E820.js"
import { type FirmwareImage, firmwareImage, writeFirmwareImage } from "./FirmwareTables.js"
import type { FirmwarePlatform } from "./FirmwarePlatform.js"
import { CmdlineTooLong, MemmapTooLong, RamTooSmall } from "./LoaderError.js"

const hex = (n: number) => `0x${n.toString(16)}`

export interface BootCommon {
  /** Guest RAM from address 0 up to the end of the boot area (or of the BIOS area, with firmware tables). */
  readonly lowMem: Uint8Array
  readonly firmware: FirmwareImage | undefined
  /** UTF-8 bytes, without the NUL. */
  readonly cmdline: Uint8Array
  readonly memmap: ReadonlyArray<E820Entry>
  /** The loader's own areas and the caller's reserved E820 entries: no kernel byte or initrd may go there. */
  readonly reserved: ReadonlyArray<ReservedArea>
}

export interface BootCommonOptions {
  readonly ram: GuestRam
  readonly cmdline: string
  readonly extraReserved?: ReadonlyArray<E820Entry>
  readonly firmware?: FirmwarePlatform
}

export const prepareBoot = (options: BootCommonOptions): Effect.Effect<BootCommon, RamTooSmall | CmdlineTooLong | MemmapTooLong> =>
  Effect.gen(function* () {
    const { ram } = options
    const lowEnd = options.firmware === undefined ? BOOT_DATA_END : BIOS_END
    const lowMem = ramSlice(ram, 0, lowEnd)
    if (lowMem === undefined) return yield* new RamTooSmall({ ramSize: ram.size, needed: lowEnd })
    const firmware = options.firmware === undefined ? undefined : firmwareImage(options.firmware)
    const cmdline = new TextEncoder().encode(options.cmdline)
    if (cmdline.length > CMDLINE_MAX) return yield* new CmdlineTooLong({ length: cmdline.length, max: CMDLINE_MAX })
    const extra = options.extraReserved ?? []
    const memmap = e820Map(ram.size, extra)
    if (memmap.length > MEMMAP_MAX_ENTRIES) return yield* new MemmapTooLong({ entries: memmap.length, max: MEMMAP_MAX_ENTRIES })
    const reserved = [
      ...RESERVED_AREAS,
      ...extra.filter((e) => e.type === E820_RESERVED)
        .map((e) => ({ name: `reserved E820 entry at ${hex(e.addr)}`, start: e.addr, end: e.addr + e.size }))
    ]
    return { lowMem, firmware, cmdline, memmap, reserved }
  })

/** Clears the boot area and writes the command line, memory map, firmware tables, module list and hvm_start_info. */
export const writeBootData = (common: BootCommon, modules: ReadonlyArray<BootModule> = []): void => {
  const { lowMem, firmware, memmap } = common
  lowMem.fill(0, BOOT_DATA_START, BOOT_DATA_END)
  writeCmdline(lowMem, common.cmdline)
  writeMemmap(lowMem, memmap)
  if (firmware !== undefined) writeFirmwareImage(lowMem, firmware)
  writeModlist(lowMem, modules)
  writeStartInfo(lowMem, memmap.length, firmware?.rsdpAddress, modules.length)
}
