import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { GDT_ADDR, START_INFO_ADDR } from "../../src/loader/BootLayout.js"
import { loadKernel } from "../../src/loader/KernelLoader.js"
import { PVH_ENTRY, currentSregs, decodeDescriptor, makeRam, pvhKernel } from "./fixtures.js"

const boot = Effect.gen(function* () {
  const ram = makeRam()
  const plan = yield* loadKernel({ path: "pvh.elf", image: pvhKernel(), ram, cmdline: "" })
  return { plan, ram, sregs: plan.applySregs(currentSregs()) }
})

const flatData = { base: 0n, limit: 0xffffffff, selector: 0x10, type: 3, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 }

describe("PVH boot state", () => {
  it.effect("starts at the note's entry with %ebx = hvm_start_info and everything else zero", () =>
    Effect.gen(function* () {
      const { plan } = yield* boot
      const { rip, rbx, rflags, ...rest } = plan.regs
      expect({ rip, rbx, rflags }).toEqual({ rip: BigInt(PVH_ENTRY), rbx: BigInt(START_INFO_ADDR), rflags: 0x2n })
      expect(Object.values(rest).every((r) => r === 0n)).toBe(true)
    }))

  it.effect("uses a flat 32-bit code segment at selector 0x8", () =>
    Effect.gen(function* () {
      const { sregs } = yield* boot
      expect(sregs.cs).toEqual({ base: 0n, limit: 0xffffffff, selector: 0x8, type: 0xb, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 })
    }))

  it.effect("uses flat data segments at selector 0x10 for ds, es, fs, gs and ss", () =>
    Effect.gen(function* () {
      const { sregs } = yield* boot
      for (const seg of [sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss]) expect(seg).toEqual(flatData)
    }))

  it.effect("loads a busy TSS into tr and leaves the LDT unusable", () =>
    Effect.gen(function* () {
      const { sregs } = yield* boot
      expect(sregs.tr).toMatchObject({ selector: 0x18, base: 0n, limit: 0x67, type: 0xb, s: 0, present: 1, unusable: 0 })
      expect(sregs.ldt).toMatchObject({ type: 2, present: 1, unusable: 1 })
    }))

  it.effect("enters protected mode with paging off", () =>
    Effect.gen(function* () {
      const { sregs } = yield* boot
      expect({ cr0: sregs.cr0, cr3: sregs.cr3, cr4: sregs.cr4, efer: sregs.efer }).toEqual({ cr0: 0x11n, cr3: 0n, cr4: 0n, efer: 0n })
    }))

  it.effect("keeps apicBase, the interrupt bitmap, cr2 and cr8 from the current sregs", () =>
    Effect.gen(function* () {
      const { sregs } = yield* boot
      const cur = currentSregs()
      expect({ apicBase: sregs.apicBase, interruptBitmap: sregs.interruptBitmap, cr2: sregs.cr2, cr8: sregs.cr8 })
        .toEqual({ apicBase: cur.apicBase, interruptBitmap: cur.interruptBitmap, cr2: cur.cr2, cr8: cur.cr8 })
    }))

  it.effect("writes a GDT in RAM whose descriptors match the loaded segments", () =>
    Effect.gen(function* () {
      const { ram, sregs } = yield* boot
      expect(sregs.gdt).toEqual({ base: BigInt(GDT_ADDR), limit: 39 })
      const v = new DataView(ram.regions[0].bytes.buffer)
      const desc = (sel: number) => decodeDescriptor(v.getBigUint64(GDT_ADDR + sel, true))
      const strip = ({ selector: _s, unusable: _u, ...rest }: typeof sregs.cs) => rest
      expect(v.getBigUint64(GDT_ADDR, true)).toBe(0n)
      expect(desc(0x8)).toEqual(strip(sregs.cs))
      expect(desc(0x10)).toEqual(strip(sregs.ds))
      expect(desc(0x18)).toEqual(strip(sregs.tr))
    }))
})
