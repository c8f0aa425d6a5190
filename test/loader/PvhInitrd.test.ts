import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { MODLIST_ADDR, START_INFO_ADDR, ZERO_PAGE_ADDR } from "../../src/loader/BootLayout.js"
import { type LoadKernelOptions, loadKernel } from "../../src/loader/KernelLoader.js"
import { linuxGuest, skipReason } from "../support/LinuxGuest.js"
import { writeElf, xenEntryNote } from "./elfWriter.js"
import { DATA_ADDR, DATA_MEMSZ, MIB, elf64Kernel, makeRam, pattern, pvhKernel } from "./fixtures.js"

const INITRD = pattern(0x1801, 7)
const guest = await linuxGuest()

const options = (over: Partial<LoadKernelOptions> = {}): LoadKernelOptions => ({
  path: "k.elf", image: pvhKernel(), ram: makeRam(), cmdline: "", initrd: { path: "initrd.img", image: INITRD }, ...over
})

/** Byte equality by memcmp: expect's deep equality takes seconds on megabytes. */
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
const mem = (o: LoadKernelOptions) => o.ram.regions[0].bytes
const view = (o: LoadKernelOptions) => new DataView(mem(o).buffer)

/** hvm_start_info's module fields and its first hvm_modlist_entry, read back from RAM. */
const modules = (o: LoadKernelOptions) => {
  const v = view(o)
  const list = Number(v.getBigUint64(START_INFO_ADDR + 16, true))
  return {
    count: v.getUint32(START_INFO_ADDR + 12, true),
    list,
    first: {
      paddr: Number(v.getBigUint64(list, true)),
      size: Number(v.getBigUint64(list + 8, true)),
      cmdline: Number(v.getBigUint64(list + 16, true)),
      reserved: Number(v.getBigUint64(list + 24, true))
    }
  }
}

describe("PVH: the initrd as a module", () => {
  it.effect("lists one module in hvm_start_info, at the module list address", () =>
    Effect.gen(function* () {
      const o = options()
      yield* loadKernel(o)
      const m = modules(o)
      expect({ count: m.count, list: m.list }).toEqual({ count: 1, list: MODLIST_ADDR })
      expect({ size: m.first.size, cmdline: m.first.cmdline, reserved: m.first.reserved }).toEqual({ size: INITRD.length, cmdline: 0, reserved: 0 })
    }))

  it.effect("copies the initrd to the module's paddr, page-aligned at the top of RAM", () =>
    Effect.gen(function* () {
      const o = options()
      const plan = yield* loadKernel(o)
      const { paddr } = modules(o).first
      expect(paddr).toBe((16 * MIB - INITRD.length) & ~0xfff)
      expect(plan.initrd).toEqual({ start: paddr, end: paddr + INITRD.length })
      expect(mem(o).subarray(paddr, paddr + INITRD.length)).toEqual(INITRD)
    }))

  it.effect("moves the initrd below a kernel segment at the top of RAM", () =>
    Effect.gen(function* () {
      const top = 15 * MIB
      const image = writeElf({ elfClass: 32, entry: 0, notes: [xenEntryNote(top)], segments: [{ paddr: top, data: pattern(0x100, 1), memsz: MIB }] })
      const o = options({ image })
      yield* loadKernel(o)
      expect(modules(o).first.paddr + INITRD.length).toBeLessThanOrEqual(top)
    }))

  it.effect("moves the initrd below a reserved E820 entry at the top of RAM", () =>
    Effect.gen(function* () {
      const hole = { addr: 15 * MIB, size: MIB, type: 2 } as const
      const o = options({ extraReserved: [hole] })
      yield* loadKernel(o)
      expect(modules(o).first.paddr).toBe((15 * MIB - INITRD.length) & ~0xfff)
    }))

  it.effect("keeps the initrd off the loaded segments and the boot area", () =>
    Effect.gen(function* () {
      const o = options({ initrd: { path: "big.img", image: new Uint8Array(13 * MIB) } })
      const plan = yield* loadKernel(o)
      const r = plan.initrd!
      expect(r.start).toBeGreaterThanOrEqual(DATA_ADDR + DATA_MEMSZ)
      expect(plan.loadedRanges.every((s) => s.end <= r.start || s.start >= r.end)).toBe(true)
    }))

  it.effect("refuses an initrd that fits nowhere", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ initrd: { path: "big.img", image: new Uint8Array(15 * MIB) } })))
      expect(e).toMatchObject({ _tag: "InitrdTooBig", path: "big.img", size: 15 * MIB, limit: 16 * MIB })
      expect(e.message).toContain("initrd big.img is 15728640 bytes; the largest free range of guest RAM below 0x1000000")
    }))

  it.effect("refuses an initrd for a kernel entered by the direct ELF64 convention", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(loadKernel(options({ path: "k64.elf", image: elf64Kernel() })))
      expect(e).toMatchObject({ _tag: "InitrdNotSupported", path: "initrd.img", kernelPath: "k64.elf" })
      expect(e.message).toBe("initrd initrd.img cannot be passed to kernel k64.elf: a non-PVH ELF64 kernel has no initrd convention; boot a PVH kernel or a bzImage")
    }))
})

describe(`Debian's kernel and the guest initramfs${skipReason(guest)}`, () => {
  const real = (kernel: "vmlinux" | "bzImage"): LoadKernelOptions | undefined => {
    if (!guest.available) return undefined
    const a = guest.artifacts
    return {
      path: a[kernel], image: new Uint8Array(readFileSync(a[kernel])), ram: makeRam(256 * MIB),
      cmdline: "console=ttyS0 bhyvets.run=poweroff", firmware: { cpus: 1 },
      initrd: { path: a.initramfs, image: new Uint8Array(readFileSync(a.initramfs)) }
    }
  }

  it.effect.skipIf(!guest.available)("vmlinux boots the PVH way with the initramfs as its module", () =>
    Effect.gen(function* () {
      const o = real("vmlinux")!
      const plan = yield* loadKernel(o)
      const m = modules(o)
      expect(plan.mode).toBe("pvh")
      expect(m.count).toBe(1)
      expect(sameBytes(mem(o).subarray(m.first.paddr, m.first.paddr + m.first.size), o.initrd!.image)).toBe(true)
      expect(plan.loadedRanges.every((s) => s.end <= m.first.paddr)).toBe(true)
    }))

  it.effect.skipIf(!guest.available)("bzImage boots by the 64-bit protocol with the initramfs as its ramdisk", () =>
    Effect.gen(function* () {
      const o = real("bzImage")!
      const plan = yield* loadKernel(o)
      const zp = new DataView(mem(o).buffer, ZERO_PAGE_ADDR, 0x1000)
      expect(plan.mode).toBe("bzimage")
      expect(plan.entry).toBe(0x100_0000 + 0x200)
      const start = zp.getUint32(0x218, true)
      expect(sameBytes(mem(o).subarray(start, start + zp.getUint32(0x21c, true)), o.initrd!.image)).toBe(true)
      expect(start).toBeGreaterThanOrEqual(0x100_0000 + zp.getUint32(0x260, true))
    }))
})
