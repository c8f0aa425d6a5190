/**
 * Places a guest kernel into guest RAM and describes the boot vCPU state.
 * Everything is validated before the first byte of RAM is written, so a
 * rejected kernel leaves RAM untouched.
 */
import * as Effect from "effect/Effect"
import { type GuestRam, ramSlice } from "../kernel/MemoryLayout.js"
import type { Regs, Sregs } from "../kernel/VcpuRegisters.js"
import { type BootCommon, prepareBoot, writeBootData } from "./BootCommon.js"
import { BIOS_END, START_INFO_ADDR, type ReservedArea } from "./BootLayout.js"
import type { BootCpu } from "./BootCpu.js"
import { loadBzImage } from "./BzImageLoader.js"
import type { E820Entry } from "./E820.js"
import { elf64Boot } from "./Elf64Boot.js"
import type { FirmwarePlatform } from "./FirmwarePlatform.js"
import { EM_X86_64, type ElfImage, type ElfSegment, parseElf } from "./ElfImage.js"
import { type InitrdFile, placeInitrd } from "./InitrdPlacement.js"
import {
  InitrdNotSupported, type LoaderError, NoEntry, SegmentOutsideRam, SegmentOverlapsReserved, UnsupportedElf
} from "./LoaderError.js"
import { pvhBoot } from "./PvhBoot.js"
import { hasSetupHeader } from "./SetupHeader.js"

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
  /** An initramfs: a PVH module for PVH kernels, boot_params.ramdisk_* for a bzImage; refused for other kernels. */
  readonly initrd?: InitrdFile
}

export interface LoadedRange {
  readonly start: number
  readonly end: number
}

export interface BootPlan {
  readonly mode: "pvh" | "elf64" | "bzimage"
  /** Guest physical address execution starts at (also regs.rip). */
  readonly entry: number
  readonly regs: Regs
  /** Keeps apicBase, interruptBitmap, cr2, cr8 from the vCPU's current sregs; sets everything else. */
  readonly applySregs: (current: Sregs) => Sregs
  readonly startInfoAddress: number
  /** Where the ACPI RSDP was written (also in hvm_start_info.rsdp_paddr), when there are tables. */
  readonly rsdpAddress?: number
  readonly memmap: ReadonlyArray<E820Entry>
  /** [paddr, paddr + memsz) of every non-empty PT_LOAD segment; for a bzImage, the protected-mode kernel as loaded. */
  readonly loadedRanges: ReadonlyArray<LoadedRange>
  /** Where the initrd was placed, when one was given. */
  readonly initrd?: LoadedRange
  /** Linux's boot_params, which %rsi points at (bzImage only). */
  readonly zeroPageAddress?: number
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

/** The initrd as a PVH module, as high in low RAM as it fits clear of the kernel; refused by the direct ELF64 entry. */
const placeElfInitrd = (options: LoadKernelOptions, mode: Mode["mode"], common: BootCommon, loaded: ReadonlyArray<LoadedRange>) => {
  const initrd = options.initrd
  if (initrd === undefined) return Effect.succeed(undefined)
  if (mode !== "pvh") {
    return Effect.fail(new InitrdNotSupported({
      path: initrd.path, kernelPath: options.path,
      reason: "a non-PVH ELF64 kernel has no initrd convention; boot a PVH kernel or a bzImage"
    }))
  }
  return placeInitrd(initrd, options.ram, { floor: BIOS_END, limit: FOUR_GIB, busy: [...common.reserved, ...loaded] })
}

const loadElf = (options: LoadKernelOptions): Effect.Effect<BootPlan, LoaderError> =>
  Effect.gen(function* () {
    const { path, image, ram } = options
    const elf = yield* parseElf(path, image)
    const { mode, entry } = yield* chooseMode(path, elf)
    const common = yield* prepareBoot(options)
    const segments = yield* checkSegments(path, elf, ram, common.reserved)
    if (!segments.some(({ seg }) => entry >= seg.paddr && entry < seg.paddr + seg.memsz)) {
      return yield* new NoEntry({ path, reason: `entry point ${hex(entry)} is not inside any loaded segment` })
    }
    const loadedRanges = segments.map(({ seg }) => ({ start: seg.paddr, end: seg.paddr + seg.memsz }))
    const initrd = yield* placeElfInitrd(options, mode, common, loadedRanges)

    // All checks passed: from here on, only writes.
    for (const { seg, target } of segments) {
      target.set(image.subarray(seg.offset, seg.offset + seg.filesz))
      target.fill(0, seg.filesz)
    }
    if (initrd !== undefined && options.initrd !== undefined) initrd.target.set(options.initrd.image)
    const range = initrd === undefined ? undefined : { start: initrd.start, end: initrd.end }
    writeBootData(common, range === undefined ? [] : [{ paddr: range.start, size: range.end - range.start }])
    const cpu: BootCpu = mode === "pvh" ? pvhBoot(common.lowMem, entry) : elf64Boot(common.lowMem, entry)

    return {
      mode,
      entry,
      regs: cpu.regs,
      applySregs: cpu.applySregs,
      startInfoAddress: START_INFO_ADDR,
      ...(common.firmware === undefined ? {} : { rsdpAddress: common.firmware.rsdpAddress }),
      memmap: common.memmap,
      loadedRanges,
      ...(range === undefined ? {} : { initrd: range })
    }
  })

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46]

/** ELF kernels (PVH or direct ELF64) by their magic, Linux bzImages by their setup header; anything else fails as NotElf. */
export const loadKernel = (options: LoadKernelOptions): Effect.Effect<BootPlan, LoaderError> => {
  const elfMagic = ELF_MAGIC.every((b, i) => options.image[i] === b)
  return !elfMagic && hasSetupHeader(options.image) ? loadBzImage(options) : loadElf(options)
}
