/**
 * The flat segments both boot modes start with, and their GDT form. The GDT
 * written to guest RAM is encoded from the same Segment values loaded into the
 * hidden segment registers, so a kernel reloading a selector gets what it had.
 */
import type { Segment } from "../kernel/VcpuRegisters.js"
import { GDT_ADDR, GDT_ENTRIES } from "./BootLayout.js"

export const CODE_SELECTOR = 0x8
export const DATA_SELECTOR = 0x10
export const TSS_SELECTOR = 0x18

const flat = { base: 0n, limit: 0xffffffff, present: 1, dpl: 0, s: 1, g: 1, avl: 0, unusable: 0 }

/** Execute/read, accessed; 32-bit default operand size. */
export const flatCode32: Segment = { ...flat, selector: CODE_SELECTOR, type: 0xb, db: 1, l: 0 }
/** Execute/read, accessed; 64-bit (L=1 requires D=0). */
export const flatCode64: Segment = { ...flat, selector: CODE_SELECTOR, type: 0xb, db: 0, l: 1 }
/** Read/write, accessed. */
export const flatData: Segment = { ...flat, selector: DATA_SELECTOR, type: 0x3, db: 1, l: 0 }

/**
 * Busy TSS (type 11: busy 32-bit TSS in protected mode, busy 64-bit TSS in
 * long mode). VM entry requires a usable busy TSS in TR; the kernel loads its own.
 */
export const bootTss: Segment = {
  base: 0n, limit: 0x67, selector: TSS_SELECTOR, type: 0xb,
  present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0
}

/** No LDT: unusable, but with the LDT system type so strict entry checks are happy either way. */
export const noLdt: Segment = {
  base: 0n, limit: 0xffff, selector: 0, type: 0x2,
  present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1
}

/** The 8-byte descriptor for `seg` (Intel SDM vol. 3, 3.4.5). */
export const encodeDescriptor = (seg: Segment): bigint => {
  const limit = BigInt(seg.g ? seg.limit >>> 12 : seg.limit) & 0xfffffn
  const base = seg.base & 0xffffffffn
  const access = BigInt(seg.type | (seg.s << 4) | (seg.dpl << 5) | (seg.present << 7))
  const flags = BigInt(seg.avl | (seg.l << 1) | (seg.db << 2) | (seg.g << 3))
  return (limit & 0xffffn) | ((base & 0xffffffn) << 16n) | (access << 40n) |
    ((limit >> 16n) << 48n) | (flags << 52n) | ((base >> 24n) << 56n)
}

/**
 * Writes null, code, data and the TSS descriptor (16 bytes, upper half zero,
 * as long mode wants) at GDT_ADDR in `lowMem` (indexed by guest address).
 */
export const writeGdt = (lowMem: Uint8Array, code: Segment): { base: bigint; limit: number } => {
  const v = new DataView(lowMem.buffer, lowMem.byteOffset, lowMem.byteLength)
  const entries = [0n, encodeDescriptor(code), encodeDescriptor(flatData), encodeDescriptor(bootTss), 0n]
  entries.forEach((d, i) => v.setBigUint64(GDT_ADDR + i * 8, d, true))
  return { base: BigInt(GDT_ADDR), limit: GDT_ENTRIES * 8 - 1 }
}
