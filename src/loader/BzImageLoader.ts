/**
 * Boots a Linux bzImage directly by the x86 64-bit boot protocol, as
 * Firecracker and Cloud Hypervisor do: the protected-mode kernel at its
 * preferred address (or 1 MiB), the zero page with the image's setup header,
 * and long mode at load address + 0x200 with %rsi = the zero page.
 */
import * as Effect from "effect/Effect"
import { type GuestRam, ramSlice } from "../kernel/MemoryLayout.js"
import { type BootCommon, prepareBoot, writeBootData } from "./BootCommon.js"
import { BIOS_END, CMDLINE_ADDR, START_INFO_ADDR, ZERO_PAGE_ADDR, type ReservedArea } from "./BootLayout.js"
import { elf64Boot } from "./Elf64Boot.js"
import { placeInitrd } from "./InitrdPlacement.js"
import type { BootPlan, LoadKernelOptions } from "./KernelLoader.js"
import { BzImageTooBig, CmdlineTooLong, type LoaderError } from "./LoaderError.js"
import { parseSetupHeader, require64BitEntry, type SetupHeader, XLF_CAN_BE_LOADED_ABOVE_4G } from "./SetupHeader.js"
import { writeZeroPage } from "./ZeroPage.js"

/** startup_64 sits 0x200 bytes into the protected-mode kernel. */
export const ENTRY_64_OFFSET = 0x200

export interface KernelFootprint {
  readonly loadAddress: number
  /** [start, end): the loaded image and the range it decompresses into, which nothing else may share. */
  readonly start: number
  readonly end: number
}

export interface KernelPlacement extends KernelFootprint {
  /** Guest RAM for the protected-mode kernel at loadAddress. */
  readonly target: Uint8Array
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a

/**
 * The memory a kernel loaded at `load` uses: the image itself, and init_size
 * bytes from where it decompresses to (its aligned load address, but never
 * below pref_address, which is LOAD_PHYSICAL_ADDR; a kernel that is not
 * relocatable always runs at pref_address).
 */
export const kernelFootprint = (header: SetupHeader, load: number): KernelFootprint => {
  const runAt = header.relocatable ? Math.max(alignUp(load, header.kernelAlignment), header.prefAddress) : header.prefAddress
  return { loadAddress: load, start: Math.min(load, runAt), end: Math.max(load + header.kernelSize, runAt + header.initSize) }
}

/** pref_address when the footprint fits there, else 1 MiB; the first failure is the one reported. */
export const placeKernel = (
  path: string,
  header: SetupHeader,
  ram: GuestRam,
  reserved: ReadonlyArray<ReservedArea>
): Effect.Effect<KernelPlacement, BzImageTooBig> => {
  const candidates = [...new Set([header.prefAddress, BIOS_END])].filter((a) => a >= BIOS_END)
  const failures: Array<BzImageTooBig> = []
  for (const load of candidates) {
    const p = kernelFootprint(header, load)
    const hit = reserved.find((r) => p.start < r.end && r.start < p.end)
    const conflict = ramSlice(ram, p.start, p.end - p.start) === undefined ? "guest RAM" : hit?.name
    // Inside the footprint, so inside RAM when the footprint is.
    const target = ramSlice(ram, load, header.kernelSize)
    if (conflict === undefined && target !== undefined) return Effect.succeed({ ...p, target })
    failures.push(new BzImageTooBig({ path, start: p.start, end: p.end, ramSize: ram.size, conflict: conflict ?? "guest RAM" }))
  }
  return Effect.fail(failures[0])
}

const placeInitrdFor = (options: LoadKernelOptions, header: SetupHeader, common: BootCommon, kernel: KernelPlacement) =>
  options.initrd === undefined ? Effect.succeed(undefined) : placeInitrd(options.initrd, options.ram, {
    floor: BIOS_END,
    // initrd_addr_max is inclusive; above-4G kernels take any low RAM.
    limit: (header.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G) !== 0 ? Number.MAX_SAFE_INTEGER : header.initrdAddrMax + 1,
    busy: [...common.reserved, { start: kernel.start, end: kernel.end }]
  })

export const loadBzImage = (options: LoadKernelOptions): Effect.Effect<BootPlan, LoaderError> =>
  Effect.gen(function* () {
    const { path, image, ram } = options
    const header = yield* parseSetupHeader(path, image)
    yield* require64BitEntry(path, header)
    const common = yield* prepareBoot(options)
    if (common.cmdline.length > header.cmdlineSize) {
      return yield* new CmdlineTooLong({ length: common.cmdline.length, max: header.cmdlineSize })
    }
    const kernel = yield* placeKernel(path, header, ram, common.reserved)
    const initrd = yield* placeInitrdFor(options, header, common, kernel)

    // All checks passed: from here on, only writes.
    kernel.target.set(image.subarray(header.kernelOffset, header.kernelOffset + header.kernelSize))
    if (initrd !== undefined && options.initrd !== undefined) initrd.target.set(options.initrd.image)
    writeBootData(common)
    const range = initrd === undefined ? undefined : { start: initrd.start, end: initrd.end }
    writeZeroPage(common.lowMem, image, header, {
      cmdlineAddress: CMDLINE_ADDR,
      initrd: range,
      memmap: common.memmap,
      rsdpAddress: common.firmware?.rsdpAddress
    })
    const entry = kernel.loadAddress + ENTRY_64_OFFSET
    const cpu = elf64Boot(common.lowMem, entry, ZERO_PAGE_ADDR)
    return {
      mode: "bzimage",
      entry,
      regs: cpu.regs,
      applySregs: cpu.applySregs,
      startInfoAddress: START_INFO_ADDR,
      zeroPageAddress: ZERO_PAGE_ADDR,
      ...(common.firmware === undefined ? {} : { rsdpAddress: common.firmware.rsdpAddress }),
      memmap: common.memmap,
      loadedRanges: [{ start: kernel.loadAddress, end: kernel.loadAddress + header.kernelSize }],
      ...(range === undefined ? {} : { initrd: range })
    }
  })
