import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { CMDLINE_ADDR, MEMMAP_ADDR, START_INFO_ADDR } from "../../src/loader/BootLayout.js"
import { e820Map } from "../../src/loader/E820.js"
import { type LoadKernelOptions, loadKernel } from "../../src/loader/KernelLoader.js"
import { writeElf, xenEntryNote } from "./elfWriter.js"
import { DATA, DATA_ADDR, DATA_MEMSZ, MIB, PVH_ENTRY, TEXT, TEXT_ADDR, makeRam, pattern, pvhKernel } from "./fixtures.js"

const options = (over: Partial<LoadKernelOptions> = {}): LoadKernelOptions => ({
  path: "k.elf", image: pvhKernel(), ram: makeRam(), cmdline: "console=ttyS0", ...over
})

const mem = (o: LoadKernelOptions) => o.ram.regions[0].bytes
const view = (o: LoadKernelOptions) => new DataView(mem(o).buffer)

/** A PVH kernel whose single segment is placed at `paddr`. */
const kernelAt = (paddr: number, length = 0x100) =>
  writeElf({ elfClass: 32, entry: 0, notes: [xenEntryNote(paddr)], segments: [{ paddr, data: pattern(length, 5) }] })

describe("loadKernel: placing the image", () => {
  it.effect("copies each segment's file bytes to its physical address", () =>
    Effect.gen(function* () {
      const o = options()
      yield* loadKernel(o)
      expect(mem(o).subarray(TEXT_ADDR, TEXT_ADDR + TEXT.length)).toEqual(TEXT)
      expect(mem(o).subarray(DATA_ADDR, DATA_ADDR + DATA.length)).toEqual(DATA)
    }))

  it.effect("zero-fills from p_filesz to p_memsz (bss), even over old RAM contents", () =>
    Effect.gen(function* () {
      const o = options()
      mem(o).fill(0xcc, DATA_ADDR, DATA_ADDR + DATA_MEMSZ + 16)
      yield* loadKernel(o)
      expect(mem(o).subarray(DATA_ADDR + DATA.length, DATA_ADDR + DATA_MEMSZ).every((b) => b === 0)).toBe(true)
      expect(mem(o)[DATA_ADDR + DATA_MEMSZ]).toBe(0xcc)
    }))

  it.effect("reports the loaded ranges", () =>
    Effect.gen(function* () {
      const plan = yield* loadKernel(options())
      expect(plan.loadedRanges).toEqual([
        { start: TEXT_ADDR, end: TEXT_ADDR + TEXT.length },
        { start: DATA_ADDR, end: DATA_ADDR + DATA_MEMSZ }
      ])
    }))
})

describe("loadKernel: boot information", () => {
  it.effect("writes hvm_start_info at the address it returns", () =>
    Effect.gen(function* () {
      const o = options()
      const plan = yield* loadKernel(o)
      const v = view(o)
      const s = plan.startInfoAddress
      expect(s).toBe(START_INFO_ADDR)
      expect(v.getUint32(s, true)).toBe(0x336ec578)
      expect(v.getUint32(s + 4, true)).toBe(1)
      expect(v.getUint32(s + 8, true)).toBe(0)
      expect(v.getUint32(s + 12, true)).toBe(0)
      expect(v.getBigUint64(s + 16, true)).toBe(0n)
      expect(v.getBigUint64(s + 24, true)).toBe(BigInt(CMDLINE_ADDR))
      expect(v.getBigUint64(s + 32, true)).toBe(0n)
      expect(v.getBigUint64(s + 40, true)).toBe(BigInt(MEMMAP_ADDR))
      expect(v.getUint32(s + 48, true)).toBe(plan.memmap.length)
      expect(v.getUint32(s + 52, true)).toBe(0)
    }))

  it.effect("writes the command line NUL-terminated at cmdline_paddr", () =>
    Effect.gen(function* () {
      const o = options({ cmdline: "console=ttyS0 root=/dev/vda é" })
      yield* loadKernel(o)
      const bytes = new TextEncoder().encode(o.cmdline)
      expect(mem(o).subarray(CMDLINE_ADDR, CMDLINE_ADDR + bytes.length)).toEqual(bytes)
      expect(mem(o)[CMDLINE_ADDR + bytes.length]).toBe(0)
    }))

  it.effect("writes the E820 map, with the caller's reserved entries, as hvm_memmap_table_entry records", () =>
    Effect.gen(function* () {
      const ecam = { addr: 0xe000_0000, size: 0x1000_0000, type: 2 } as const
      const o = options({ extraReserved: [ecam] })
      const plan = yield* loadKernel(o)
      expect(plan.memmap).toEqual(e820Map(16 * MIB, [ecam]))
      const v = view(o)
      const inRam = plan.memmap.map((_, i) => {
        const at = MEMMAP_ADDR + i * 24
        return {
          addr: Number(v.getBigUint64(at, true)),
          size: Number(v.getBigUint64(at + 8, true)),
          type: v.getUint32(at + 16, true),
          reserved: v.getUint32(at + 20, true)
        }
      })
      expect(inRam).toEqual(plan.memmap.map((e) => ({ ...e, reserved: 0 })))
    }))
})

describe("loadKernel: rejected kernels", () => {
  it.effect("a segment beyond the end of RAM", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ image: kernelAt(16 * MIB - 0x80) })))
      expect(e).toMatchObject({ _tag: "SegmentOutsideRam", index: 1, start: 16 * MIB - 0x80, end: 16 * MIB + 0x80, ramSize: 16 * MIB })
    }))

  it.effect("a segment over the hvm_start_info area", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ image: kernelAt(START_INFO_ADDR + 0x10) })))
      expect(e).toMatchObject({ _tag: "SegmentOverlapsReserved", reservedName: "hvm_start_info area", reservedStart: 0x6000, reservedEnd: 0x7000 })
    }))

  it.effect("a segment over the EBDA/BIOS area", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ image: kernelAt(0x9f000, 0x1000) })))
      expect(e).toMatchObject({ _tag: "SegmentOverlapsReserved", reservedName: "EBDA and BIOS area" })
    }))

  it.effect("a segment over a reserved entry the caller passed", () =>
    Effect.gen(function* () {
      const hole = { addr: 0x80_0000, size: 0x1000, type: 2 } as const
      const e = yield* Effect.flip(loadKernel(options({ image: kernelAt(0x80_0800), extraReserved: [hole] })))
      expect(e).toMatchObject({ _tag: "SegmentOverlapsReserved", reservedStart: 0x80_0000, reservedEnd: 0x80_1000 })
    }))

  it.effect("an ELF32 kernel without the PVH note", () =>
    Effect.gen(function* () {
      const image = writeElf({ elfClass: 32, entry: TEXT_ADDR, segments: [{ paddr: TEXT_ADDR, data: TEXT }] })
      const e = yield* Effect.flip(loadKernel(options({ image })))
      expect(e._tag).toBe("NoEntry")
      expect(e.message).toContain("no XEN_ELFNOTE_PHYS32_ENTRY note")
    }))

  it.effect("an entry point outside every loaded segment", () =>
    Effect.gen(function* () {
      const image = writeElf({ elfClass: 32, entry: 0, notes: [xenEntryNote(0x50_0000)], segments: [{ paddr: TEXT_ADDR, data: TEXT }] })
      expect((yield* Effect.flip(loadKernel(options({ image }))))._tag).toBe("NoEntry")
    }))

  it.effect("a command line longer than 4095 bytes", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ cmdline: "x".repeat(4096) })))
      expect(e).toMatchObject({ _tag: "CmdlineTooLong", length: 4096, max: 4095 })
    }))

  it.effect("accepts a command line of exactly 4095 bytes", () =>
    Effect.gen(function* () {
      const o = options({ cmdline: "y".repeat(4095) })
      yield* loadKernel(o)
      expect(mem(o)[CMDLINE_ADDR + 4095]).toBe(0)
    }))

  it.effect("RAM too small for the boot data area", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ ram: makeRam(0x8000) })))
      expect(e).toMatchObject({ _tag: "RamTooSmall", ramSize: 0x8000 })
    }))

  it.effect("a rejected kernel leaves RAM untouched", () =>
    Effect.gen(function* () {
      const image = writeElf({
        elfClass: 32, entry: 0, notes: [xenEntryNote(TEXT_ADDR)],
        segments: [{ paddr: TEXT_ADDR, data: TEXT }, { paddr: 64 * MIB, data: DATA }]
      })
      const o = options({ image })
      yield* Effect.flip(loadKernel(o))
      expect(mem(o).every((b) => b === 0)).toBe(true)
    }))

  it.effect("every error has a readable message naming the kernel", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ image: kernelAt(START_INFO_ADDR) })))
      expect(e.message).toBe("kernel k.elf: segment 1 [0x6000, 0x6100) overlaps the hvm_start_info area [0x6000, 0x7000)")
    }))
})

describe("loadKernel: mode", () => {
  it.effect("boots a kernel with the Xen note the PVH way, at the note's entry", () =>
    Effect.gen(function* () {
      const plan = yield* loadKernel(options())
      expect(plan.mode).toBe("pvh")
      expect(plan.entry).toBe(PVH_ENTRY)
    }))
})
