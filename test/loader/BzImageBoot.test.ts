import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { CMDLINE_ADDR, ZERO_PAGE_ADDR } from "../../src/loader/BootLayout.js"
import { e820Map } from "../../src/loader/E820.js"
import { type LoadKernelOptions, loadKernel } from "../../src/loader/KernelLoader.js"
import { BZ_INIT_SIZE, BZ_KERNEL, BZ_KERNEL_OFFSET, BZ_PREF, MIB, writeBzImage } from "./bzImageWriter.js"
import { currentSregs, makeRam, pattern } from "./fixtures.js"

const INITRD = pattern(0x2345, 3)
const RAM = 64 * MIB

const options = (over: Partial<LoadKernelOptions> = {}): LoadKernelOptions => ({
  path: "k.bz", image: writeBzImage(), ram: makeRam(RAM), cmdline: "console=ttyS0 bhyvets.run=poweroff",
  initrd: { path: "initrd.img", image: INITRD }, ...over
})

const mem = (o: LoadKernelOptions) => o.ram.regions[0].bytes
const zp = (o: LoadKernelOptions) => new DataView(mem(o).buffer, ZERO_PAGE_ADDR, 0x1000)
const cString = (bytes: Uint8Array, at: number) => new TextDecoder().decode(bytes.subarray(at, bytes.indexOf(0, at)))

describe("bzImage: the zero page", () => {
  it.effect("holds the image's own setup header", () =>
    Effect.gen(function* () {
      const o = options()
      yield* loadKernel(o)
      const header = o.image.subarray(0x1f1, 0x26c)
      const copied = mem(o).subarray(ZERO_PAGE_ADDR + 0x1f1, ZERO_PAGE_ADDR + 0x26c)
      // Identical but for the fields the loader fills in (type_of_loader, loadflags, ramdisk, heap_end_ptr, cmd_line_ptr).
      const filled = new Set([0x210, 0x211, ...range(0x218, 0x220), 0x224, 0x225, ...range(0x228, 0x22c)].map((o) => o - 0x1f1))
      expect([...copied].filter((_, i) => !filled.has(i))).toEqual([...header].filter((_, i) => !filled.has(i)))
      expect(zp(o).getUint32(0x202, true)).toBe(0x53726448)
    }))

  it.effect("names an undefined loader (0xff) and sets LOADED_HIGH and CAN_USE_HEAP", () =>
    Effect.gen(function* () {
      const o = options()
      yield* loadKernel(o)
      expect(zp(o).getUint8(0x210)).toBe(0xff)
      expect(zp(o).getUint8(0x211)).toBe(0x81)
    }))

  it.effect("points cmd_line_ptr at the NUL-terminated command line", () =>
    Effect.gen(function* () {
      const o = options()
      yield* loadKernel(o)
      const ptr = zp(o).getUint32(0x228, true)
      expect(ptr).toBe(CMDLINE_ADDR)
      expect(zp(o).getUint32(0x0c8, true)).toBe(0)
      expect(cString(mem(o), ptr)).toBe("console=ttyS0 bhyvets.run=poweroff")
    }))

  it.effect("gives ramdisk_image and ramdisk_size of the initrd copied into RAM", () =>
    Effect.gen(function* () {
      const o = options()
      const plan = yield* loadKernel(o)
      const image = zp(o).getUint32(0x218, true)
      const size = zp(o).getUint32(0x21c, true)
      expect({ start: image, end: image + size }).toEqual(plan.initrd)
      expect(size).toBe(INITRD.length)
      expect(mem(o).subarray(image, image + size)).toEqual(INITRD)
      expect([zp(o).getUint32(0x0c0, true), zp(o).getUint32(0x0c4, true)]).toEqual([0, 0])
    }))

  it.effect("leaves the ramdisk fields zero without an initrd", () =>
    Effect.gen(function* () {
      const o = options({ initrd: undefined })
      const plan = yield* loadKernel(o)
      expect(plan.initrd).toBeUndefined()
      expect([zp(o).getUint32(0x218, true), zp(o).getUint32(0x21c, true)]).toEqual([0, 0])
    }))

  it.effect("carries the same E820 map as the PVH memory map, at 0x2d0 with its count at 0x1e8", () =>
    Effect.gen(function* () {
      const ecam = { addr: 0xe000_0000, size: 0x1000_0000, type: 2 } as const
      const o = options({ extraReserved: [ecam] })
      const plan = yield* loadKernel(o)
      expect(plan.memmap).toEqual(e820Map(RAM, [ecam]))
      const v = zp(o)
      const table = Array.from({ length: v.getUint8(0x1e8) }, (_, i) => ({
        addr: Number(v.getBigUint64(0x2d0 + i * 20, true)),
        size: Number(v.getBigUint64(0x2d0 + i * 20 + 8, true)),
        type: v.getUint32(0x2d0 + i * 20 + 16, true)
      }))
      expect(table).toEqual(plan.memmap)
    }))

  it.effect("gives acpi_rsdp_addr where the firmware tables put the RSDP", () =>
    Effect.gen(function* () {
      const o = options({ firmware: { cpus: 2 } })
      const plan = yield* loadKernel(o)
      expect(plan.rsdpAddress).toBeDefined()
      expect(Number(zp(o).getBigUint64(0x070, true))).toBe(plan.rsdpAddress)
      expect(new TextDecoder().decode(mem(o).subarray(plan.rsdpAddress!, plan.rsdpAddress! + 8))).toBe("RSD PTR ")
    }))
})

describe("bzImage: placement and entry", () => {
  it.effect("loads the protected-mode kernel at pref_address", () =>
    Effect.gen(function* () {
      const o = options()
      const plan = yield* loadKernel(o)
      expect(plan.mode).toBe("bzimage")
      expect(plan.loadedRanges).toEqual([{ start: BZ_PREF, end: BZ_PREF + BZ_KERNEL.length }])
      expect(mem(o).subarray(BZ_PREF, BZ_PREF + BZ_KERNEL.length)).toEqual(o.image.subarray(BZ_KERNEL_OFFSET))
    }))

  it.effect("loads at 1 MiB when pref_address is below it", () =>
    Effect.gen(function* () {
      const plan = yield* loadKernel(options({ image: writeBzImage({ prefAddress: 0x1000 }) }))
      expect(plan.entry).toBe(MIB + 0x200)
    }))

  it.effect("enters the 64-bit entry (load address + 0x200) in long mode with %rsi = the zero page", () =>
    Effect.gen(function* () {
      const plan = yield* loadKernel(options())
      const sregs = plan.applySregs(currentSregs())
      expect(plan.entry).toBe(BZ_PREF + 0x200)
      expect(plan.zeroPageAddress).toBe(ZERO_PAGE_ADDR)
      expect({ rip: plan.regs.rip, rsi: plan.regs.rsi, rflags: plan.regs.rflags })
        .toEqual({ rip: BigInt(BZ_PREF + 0x200), rsi: BigInt(ZERO_PAGE_ADDR), rflags: 0x2n })
      expect({ cr0: sregs.cr0, cr4: sregs.cr4, efer: sregs.efer, l: sregs.cs.l, db: sregs.cs.db })
        .toEqual({ cr0: 0x80050033n, cr4: 0x20n, efer: 0x500n, l: 1, db: 0 })
    }))

  it.effect("puts the initrd page-aligned at the top of low RAM, clear of the kernel's init_size", () =>
    Effect.gen(function* () {
      const plan = yield* loadKernel(options())
      expect(plan.initrd!.start % 0x1000).toBe(0)
      expect(plan.initrd!.start).toBe((RAM - INITRD.length) & ~0xfff)
      expect(plan.initrd!.start).toBeGreaterThanOrEqual(BZ_PREF + BZ_INIT_SIZE)
    }))

  it.effect("keeps the initrd below initrd_addr_max when the kernel cannot take it above 4 GiB", () =>
    Effect.gen(function* () {
      const plan = yield* loadKernel(options({ image: writeBzImage({ xloadflags: 0x1, initrdAddrMax: 48 * MIB - 1 }) }))
      expect(plan.initrd!.end).toBeLessThanOrEqual(48 * MIB)
      expect(plan.initrd!.start).toBe((48 * MIB - INITRD.length) & ~0xfff)
    }))
})

describe("bzImage: refused", () => {
  it.effect("a kernel whose init_size does not fit guest RAM", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ ram: makeRam(20 * MIB) })))
      expect(e).toMatchObject({ _tag: "BzImageTooBig", start: BZ_PREF, end: BZ_PREF + BZ_INIT_SIZE, conflict: "guest RAM" })
      expect(e.message).toBe("kernel k.bz needs [0x1000000, 0x1800000) to decompress and run, which is not inside guest RAM (20971520 bytes)")
    }))

  it.effect("a kernel whose init_size range overlaps a reserved E820 entry", () =>
    Effect.gen(function* () {
      const hole = { addr: 20 * MIB, size: 0x1000, type: 2 } as const
      const e = yield* Effect.flip(loadKernel(options({ extraReserved: [hole] })))
      expect(e).toMatchObject({ _tag: "BzImageTooBig", conflict: "reserved E820 entry at 0x1400000" })
    }))

  it.effect("an initrd larger than any free range, leaving RAM untouched", () =>
    Effect.gen(function* () {
      const o = options({ initrd: { path: "big.img", image: new Uint8Array(41 * MIB) } })
      const e = yield* Effect.flip(loadKernel(o))
      expect(e).toMatchObject({ _tag: "InitrdTooBig", path: "big.img", size: 41 * MIB, largestFree: RAM - BZ_PREF - BZ_INIT_SIZE })
      expect(Buffer.from(mem(o).buffer).equals(Buffer.alloc(RAM))).toBe(true)
    }))

  it.effect("an empty initrd", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ initrd: { path: "empty.img", image: new Uint8Array(0) } })))
      expect(e).toMatchObject({ _tag: "InitrdEmpty", path: "empty.img" })
      expect(e.message).toBe("initrd empty.img is an empty file")
    }))

  it.effect("a command line longer than the kernel's cmdline_size", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ image: writeBzImage({ cmdlineSize: 16 }), cmdline: "x".repeat(17) })))
      expect(e).toMatchObject({ _tag: "CmdlineTooLong", length: 17, max: 16 })
    }))

  it.effect("a bzImage before boot protocol 2.12", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ image: writeBzImage({ version: 0x0206 }) })))
      expect(e).toMatchObject({ _tag: "BzImageTooOld", path: "k.bz", version: 0x0206 })
    }))

  it.effect("a file that is neither ELF nor a bzImage, saying both", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ image: new TextEncoder().encode("#!/bin/sh\n".repeat(100)) })))
      expect(e.message).toBe(`kernel k.bz is not an ELF file (no \\x7fELF magic) and not a Linux bzImage (no "HdrS" at 0x202)`)
    }))
})

function range(from: number, to: number) {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
