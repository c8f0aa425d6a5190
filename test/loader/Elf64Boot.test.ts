import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { GDT_ADDR, STACK_BASE, STACK_TOP, START_INFO_ADDR } from "../../src/loader/BootLayout.js"
import { loadKernel } from "../../src/loader/KernelLoader.js"
import type { GuestRam } from "../../src/kernel/MemoryLayout.js"
import { writeElf } from "./elfWriter.js"
import { ELF64_ENTRY, TEXT, TEXT_ADDR, currentSregs, decodeDescriptor, elf64Kernel, makeRam } from "./fixtures.js"

const boot = Effect.gen(function* () {
  const ram = makeRam()
  const plan = yield* loadKernel({ path: "k64.elf", image: elf64Kernel(), ram, cmdline: "" })
  return { plan, ram, sregs: plan.applySregs(currentSregs()) }
})

const ADDR = 0x000f_ffff_ffff_f000n

/** A 4-level walk as the MMU does it; undefined when a level is not present. */
const translate = (ram: GuestRam, cr3: bigint, va: bigint): bigint | undefined => {
  const v = new DataView(ram.regions[0].bytes.buffer)
  const entry = (table: bigint, index: bigint) => v.getBigUint64(Number(table + index * 8n), true)
  const pml4e = entry(cr3, (va >> 39n) & 511n)
  if (!(pml4e & 1n)) return undefined
  const pdpte = entry(pml4e & ADDR, (va >> 30n) & 511n)
  if (!(pdpte & 1n) || pdpte & 0x80n) return undefined
  const pde = entry(pdpte & ADDR, (va >> 21n) & 511n)
  if (!(pde & 1n) || !(pde & 0x80n) || !(pde & 2n)) return undefined
  return (pde & ADDR & ~0x1f_ffffn) | (va & 0x1f_ffffn)
}

describe("ELF64 direct boot", () => {
  it.effect("chooses long mode for an x86-64 ELF64 kernel without a PVH note", () =>
    Effect.gen(function* () {
      const { plan } = yield* boot
      expect(plan.mode).toBe("elf64")
      expect(plan.entry).toBe(ELF64_ENTRY)
    }))

  it.effect("starts at e_entry with %rsi = hvm_start_info and a stack in the boot area", () =>
    Effect.gen(function* () {
      const { plan } = yield* boot
      const { rip, rsi, rsp, rflags, ...rest } = plan.regs
      expect({ rip, rsi, rsp, rflags }).toEqual({ rip: BigInt(ELF64_ENTRY), rsi: BigInt(START_INFO_ADDR), rsp: BigInt(STACK_TOP), rflags: 0x2n })
      expect(STACK_TOP > STACK_BASE && STACK_TOP % 16 === 0).toBe(true)
      expect(Object.values(rest).every((r) => r === 0n)).toBe(true)
    }))

  it.effect("enables long mode: paging, PAE, LME|LMA", () =>
    Effect.gen(function* () {
      const { sregs } = yield* boot
      expect({ cr0: sregs.cr0, cr4: sregs.cr4, efer: sregs.efer }).toEqual({ cr0: 0x80050033n, cr4: 0x20n, efer: 0x500n })
    }))

  it.effect("uses a 64-bit code segment at selector 0x8 and flat data at 0x10", () =>
    Effect.gen(function* () {
      const { sregs } = yield* boot
      expect(sregs.cs).toMatchObject({ selector: 0x8, type: 0xb, l: 1, db: 0, s: 1, present: 1, g: 1, dpl: 0 })
      for (const seg of [sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss]) {
        expect(seg).toMatchObject({ selector: 0x10, type: 3, s: 1, present: 1, db: 1, l: 0, g: 1 })
      }
      expect(sregs.tr).toMatchObject({ selector: 0x18, type: 0xb, s: 0, present: 1 })
    }))

  it.effect("identity-maps every address of the first 4 GiB with writable 2 MiB pages", () =>
    Effect.gen(function* () {
      const { ram, sregs } = yield* boot
      for (let page = 0n; page < 2048n; page++) {
        const va = page * 0x20_0000n + ((page * 0x1235n) & 0x1f_ffffn)
        expect(translate(ram, sregs.cr3, va)).toBe(va)
      }
      expect(translate(ram, sregs.cr3, 0xffff_ffffn)).toBe(0xffff_ffffn)
    }))

  it.effect("maps nothing at or above 4 GiB", () =>
    Effect.gen(function* () {
      const { ram, sregs } = yield* boot
      expect(translate(ram, sregs.cr3, 0x1_0000_0000n)).toBeUndefined()
      expect(translate(ram, sregs.cr3, 0x80_0000_0000n)).toBeUndefined()
    }))

  it.effect("writes a GDT whose 64-bit code and data descriptors match the loaded segments", () =>
    Effect.gen(function* () {
      const { ram, sregs } = yield* boot
      expect(sregs.gdt.base).toBe(BigInt(GDT_ADDR))
      const v = new DataView(ram.regions[0].bytes.buffer)
      const strip = ({ selector: _s, unusable: _u, ...rest }: typeof sregs.cs) => rest
      expect(decodeDescriptor(v.getBigUint64(GDT_ADDR + 0x8, true))).toEqual(strip(sregs.cs))
      expect(decodeDescriptor(v.getBigUint64(GDT_ADDR + 0x10, true))).toEqual(strip(sregs.ds))
      // The long-mode TSS descriptor is 16 bytes; its upper half (base 63:32) is zero.
      expect(v.getBigUint64(GDT_ADDR + 0x20, true)).toBe(0n)
    }))

  it.effect("rejects an ELF64 entry outside the identity map", () =>
    Effect.gen(function* () {
      const image = writeElf({ elfClass: 64, entry: 0xffffffff81000000n, segments: [{ paddr: TEXT_ADDR, data: TEXT }] })
      const e = yield* Effect.flip(loadKernel({ path: "k64.elf", image, ram: makeRam(), cmdline: "" }))
      expect(e._tag).toBe("NoEntry")
      expect(e.message).toContain("0xffffffff81000000")
    }))

  it.effect("rejects an ELF64 i386 kernel without a PVH note", () =>
    Effect.gen(function* () {
      const image = writeElf({ elfClass: 64, machine: 3, entry: TEXT_ADDR, segments: [{ paddr: TEXT_ADDR, data: TEXT }] })
      const e = yield* Effect.flip(loadKernel({ path: "k64.elf", image, ram: makeRam(), cmdline: "" }))
      expect(e).toMatchObject({ _tag: "UnsupportedElf", detail: "machine", value: 3 })
    }))
})
