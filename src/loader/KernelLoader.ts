/**
 * Places a guest kernel into guest RAM and describes the boot vCPU state.
 * Everything is validated before the first byte of RAM is written, so a
 * rejected kernel leaves RAM untouched.
 */
import * as Effect from "effect/Effect"
import { type GuestRam, ramSlice } from "../kernel/MemoryLayout.js"
import type { Regs, Sregs } from "../kernel/VcpuRegisters.js"
import { writeCmdline, writeMemmap, writeStartInfo } from "./BootData.js"
import { BIOS_END, BOOT_DATA_END, BOOT_DATA_START, CMDLINE_MAX, MEMMAP_MAX_ENTRIES, RESERVED_AREAS, START_INFO_ADDR, type ReservedArea } from "./BootLayout.js"
import type { BootCpu } from "./BootCpu.js"
import { E820_RESERVED, type E820Entry, e820Map } from "./E820.js"
import { elf64Boot } from "./Elf64Boot.js"
import { firmwareImage, writeFirmwareImage } from "./FirmwareTables.js"
import type { FirmwarePlatform } from "./FirmwarePlatform.js"
import { EM_X86_64, type ElfImage, type ElfSegment, parseElf } from "./ElfImage.js"
import {
  CmdlineTooLong, type LoaderError, MemmapTooLong, NoEntry, RamTooSmall,
  SegmentOutsideRam, SegmentOverlapsReserved, UnsupportedElf
} from "./LoaderError.js"
import { pvhBoot } from "./PvhBoot.js"

export interface LoadKernelOptions {
  /** For error messages only; the caller reads the file. */
  readonly path: string
  readonly image: Uint8Array
  readonly ram: GuestRam
  readonly cmdline: string
  /** More reserved E820 entries (e.g. PCI ECAM); kernel segments must not overlap them either. */
  readonly extraReserved?: ReadonlyArray<E820Entry>
  /** The machine the MP and ACPI tables describe; without it no tables are written and rsdp_paddr is 0. */
  readonly firmware?: FirmwarePlatform
}

export interface LoadedRange {
  readonly start: number
  readonly end: number
}

export interface BootPlan {
  readonly mode: "pvh" | "elf64"
  /** Guest physical address execution starts at (also regs.rip). */
  readonly entry: number
  readonly regs: Regs
  /** Keeps apicBase, interruptBitmap, cr2, cr8 from the vCPU's current sregs; sets everything else. */
  readonly applySregs: (current: Sregs) => Sregs
  readonly startInfoAddress: number
  /** Where the ACPI RSDP was written (also in hvm_start_info.rsdp_paddr), when there are tables. */
  readonly rsdpAddress?: number
  readonly memmap: ReadonlyArray<E820Entry>
  /** [paddr, paddr + memsz) of every non-empty PT_LOAD segment. */
  readonly loadedRanges: ReadonlyArray<LoadedRange>
}

const hex = (n: number | bigint) => `0x${n.toString(16)}`
const FOUR_GIB = 0x1_0000_0000

type Mode = { readonly mode: "pvh" | "elf64"; readonly entry: number }

/** PVH when the Xen note is present; direct long mode for other x86-64 ELF64; nothing else boots. */
const chooseMode = (path: string, elf: ElfImage): Effect.Effect<Mode, LoaderError> => {
  if (elf.pvhEntry !== undefined) return Effect.succeed({ mode: "pvh", entry: elf.pvhEntry })
  if (elf.elfClass === 32) {
    return Effect.fail(new NoEntry({ path, reason: "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note" }))
  }
  if (elf.machine !== EM_X86_64) return Effect.fail(new UnsupportedElf({ path, detail: "machine", value: elf.machine }))
  if (elf.entry >= BigInt(FOUR_GIB)) {
    return Effect.fail(new NoEntry({ path, reason: `ELF64 entry ${hex(elf.entry)} is outside the identity-mapped first 4 GiB` }))
  }
  return Effect.succeed({ mode: "elf64", entry: Number(elf.entry) })
}

/** Every non-empty PT_LOAD must fit one RAM region and stay clear of the reserved areas. */
const checkSegments = (path: string, elf: ElfImage, ram: GuestRam, reserved: ReadonlyArray<ReservedArea>) =>
  Effect.forEach(elf.loadSegments.filter((s) => s.memsz > 0), (seg): Effect.Effect<
    { readonly seg: ElfSegment; readonly target: Uint8Array },
    SegmentOutsideRam | SegmentOverlapsReserved
  > => {
    const start = seg.paddr
    const end = seg.paddr + seg.memsz
    const target = ramSlice(ram, start, seg.memsz)
    if (target === undefined) {
      return Effect.fail(new SegmentOutsideRam({ path, index: seg.index, start, end, ramSize: ram.size }))
    }
    const hit = reserved.find((r) => start < r.end && r.start < end)
    if (hit !== undefined) {
      return Effect.fail(new SegmentOverlapsReserved({
        path, index: seg.index, start, end, reservedName: hit.name, reservedStart: hit.start, reservedEnd: hit.end
      }))
    }
    return Effect.succeed({ seg, target })
  })

export const loadKernel = (options: LoadKernelOptions): Effect.Effect<BootPlan, LoaderError> =>
  Effect.gen(function* () {
    const { path, image, ram } = options
    const elf = yield* parseElf(path, image)
    const { mode, entry } = yield* chooseMode(path, elf)

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
    const segments = yield* checkSegments(path, elf, ram, reserved)
    if (!segments.some(({ seg }) => entry >= seg.paddr && entry < seg.paddr + seg.memsz)) {
      return yield* new NoEntry({ path, reason: `entry point ${hex(entry)} is not inside any loaded segment` })
    }

    // All checks passed: from here on, only writes.
    lowMem.fill(0, BOOT_DATA_START, BOOT_DATA_END)
    for (const { seg, target } of segments) {
      target.set(image.subarray(seg.offset, seg.offset + seg.filesz))
      target.fill(0, seg.filesz)
    }
    writeCmdline(lowMem, cmdline)
    writeMemmap(lowMem, memmap)
    if (firmware !== undefined) writeFirmwareImage(lowMem, firmware)
    writeStartInfo(lowMem, memmap.length, firmware?.rsdpAddress)
    const cpu: BootCpu = mode === "pvh" ? pvhBoot(lowMem, entry) : elf64Boot(lowMem, entry)

    return {
      mode,
      entry,
      regs: cpu.regs,
      applySregs: cpu.applySregs,
      startInfoAddress: START_INFO_ADDR,
      ...(firmware === undefined ? {} : { rsdpAddress: firmware.rsdpAddress }),
      memmap,
      loadedRanges: segments.map(({ seg }) => ({ start: seg.paddr, end: seg.paddr + seg.memsz }))
    }
  })
