/** Small test kernels and guest RAM for the loader tests. */
import type { GuestRam } from "../../src/kernel/MemoryLayout.js"
import type { Sregs } from "../../src/kernel/VcpuRegisters.js"
import { writeElf, xenEntryNote } from "./elfWriter.js"

export const MIB = 0x10_0000

/** Guest RAM backed by a plain buffer: one region from address 0. */
export const makeRam = (size = 16 * MIB): GuestRam => ({
  size,
  regions: [{ slot: 0, gpa: 0, size, bytes: new Uint8Array(size) }]
})

/** Recognisable, non-zero bytes. */
export const pattern = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, i) => ((i * 7 + seed) % 255) + 1)

export const TEXT = pattern(0x300, 1)
export const DATA = pattern(0x80, 2)
export const TEXT_ADDR = MIB
export const DATA_ADDR = 2 * MIB
export const DATA_MEMSZ = 0x2000
export const PVH_ENTRY = TEXT_ADDR + 0x40

/** ELF32 PVH kernel: text at 1 MiB, data + bss at 2 MiB, Xen note entry inside the text. */
export const pvhKernel = (descSize: 4 | 8 = 4) => writeElf({
  elfClass: 32,
  entry: 0xdead,
  notes: [{ name: "GNU", type: 3, desc: pattern(20, 9) }, xenEntryNote(PVH_ENTRY, descSize)],
  segments: [{ paddr: TEXT_ADDR, data: TEXT }, { paddr: DATA_ADDR, data: DATA, memsz: DATA_MEMSZ }]
})

export const ELF64_ENTRY = TEXT_ADDR + 0x10

/** ELF64 x86-64 kernel without any note: booted straight into long mode. */
export const elf64Kernel = () => writeElf({
  elfClass: 64,
  entry: ELF64_ENTRY,
  segments: [{ paddr: TEXT_ADDR, data: TEXT }, { paddr: DATA_ADDR, data: DATA, memsz: DATA_MEMSZ }]
})

/** Special registers as KVM might hand them over, with values the loader must keep or replace. */
export const currentSregs = (): Sregs => {
  const junk = { base: 0xffff0000n, limit: 0xffff, selector: 0xf000, type: 3, present: 1, dpl: 3, db: 0, s: 1, l: 0, g: 0, avl: 1, unusable: 0 }
  return {
    cs: { ...junk }, ds: { ...junk }, es: { ...junk }, fs: { ...junk }, gs: { ...junk }, ss: { ...junk },
    tr: { ...junk }, ldt: { ...junk },
    gdt: { base: 0x1234n, limit: 0xffff }, idt: { base: 0x5678n, limit: 0xffff },
    cr0: 0x60000010n, cr2: 0xdead000n, cr3: 0x99000n, cr4: 0x40n, cr8: 7n,
    efer: 0x1n, apicBase: 0xfee00900n,
    interruptBitmap: [1n, 2n, 3n, 4n]
  }
}

/** Decodes an 8-byte GDT descriptor into kvm_segment terms (without selector/unusable). */
export const decodeDescriptor = (d: bigint) => {
  const n = (shift: bigint, mask: bigint) => Number((d >> shift) & mask)
  const access = n(40n, 0xffn)
  const flags = n(52n, 0xfn)
  const rawLimit = n(0n, 0xffffn) | (n(48n, 0xfn) << 16)
  const g = (flags >> 3) & 1
  return {
    base: BigInt(n(16n, 0xffffffn) | (n(56n, 0xffn) << 24)) & 0xffffffffn,
    limit: (g ? ((rawLimit << 12) | 0xfff) : rawLimit) >>> 0,
    type: access & 0xf, s: (access >> 4) & 1, dpl: (access >> 5) & 3, present: access >> 7,
    avl: flags & 1, l: (flags >> 1) & 1, db: (flags >> 2) & 1, g
  }
}
