/**
 * Typed views of struct kvm_regs and struct kvm_sregs (linux/kvm.h, x86).
 * The native layer hands over raw struct bytes; layouts are decoded here.
 */
export interface Regs {
  rax: bigint; rbx: bigint; rcx: bigint; rdx: bigint
  rsi: bigint; rdi: bigint; rsp: bigint; rbp: bigint
  r8: bigint; r9: bigint; r10: bigint; r11: bigint
  r12: bigint; r13: bigint; r14: bigint; r15: bigint
  rip: bigint; rflags: bigint
}

export const REGS_NAMES = [
  "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"
] as const satisfies ReadonlyArray<keyof Regs>

export const REGS_SIZE = 144

export interface Segment {
  base: bigint
  limit: number
  selector: number
  type: number
  present: number
  dpl: number
  db: number
  s: number
  l: number
  g: number
  avl: number
  unusable: number
}

export interface DescriptorTable {
  base: bigint
  limit: number
}

export interface Sregs {
  cs: Segment; ds: Segment; es: Segment; fs: Segment; gs: Segment; ss: Segment
  tr: Segment; ldt: Segment
  gdt: DescriptorTable; idt: DescriptorTable
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint
  efer: bigint; apicBase: bigint
  /** struct kvm_sregs.interrupt_bitmap: pending external interrupt, 256 bits. */
  interruptBitmap: [bigint, bigint, bigint, bigint]
}

export const SREGS_SIZE = 312
const SEGMENTS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export const decodeRegs = (bytes: Uint8Array): Regs => {
  const v = view(bytes)
  const r = {} as Regs
  REGS_NAMES.forEach((name, i) => { r[name] = v.getBigUint64(i * 8, true) })
  return r
}

export const encodeRegs = (regs: Regs): Uint8Array => {
  const out = new Uint8Array(REGS_SIZE)
  const v = view(out)
  REGS_NAMES.forEach((name, i) => v.setBigUint64(i * 8, BigInt.asUintN(64, regs[name]), true))
  return out
}

const decodeSegment = (v: DataView, o: number): Segment => ({
  base: v.getBigUint64(o, true),
  limit: v.getUint32(o + 8, true),
  selector: v.getUint16(o + 12, true),
  type: v.getUint8(o + 14),
  present: v.getUint8(o + 15),
  dpl: v.getUint8(o + 16),
  db: v.getUint8(o + 17),
  s: v.getUint8(o + 18),
  l: v.getUint8(o + 19),
  g: v.getUint8(o + 20),
  avl: v.getUint8(o + 21),
  unusable: v.getUint8(o + 22)
})

const encodeSegment = (v: DataView, o: number, s: Segment) => {
  v.setBigUint64(o, BigInt.asUintN(64, s.base), true)
  v.setUint32(o + 8, s.limit >>> 0, true)
  v.setUint16(o + 12, s.selector, true)
  v.setUint8(o + 14, s.type)
  v.setUint8(o + 15, s.present)
  v.setUint8(o + 16, s.dpl)
  v.setUint8(o + 17, s.db)
  v.setUint8(o + 18, s.s)
  v.setUint8(o + 19, s.l)
  v.setUint8(o + 20, s.g)
  v.setUint8(o + 21, s.avl)
  v.setUint8(o + 22, s.unusable)
}

export const decodeSregs = (bytes: Uint8Array): Sregs => {
  const v = view(bytes)
  const seg = (i: number) => decodeSegment(v, i * 24)
  const u64 = (o: number) => v.getBigUint64(o, true)
  return {
    cs: seg(0), ds: seg(1), es: seg(2), fs: seg(3), gs: seg(4), ss: seg(5), tr: seg(6), ldt: seg(7),
    gdt: { base: u64(192), limit: v.getUint16(200, true) },
    idt: { base: u64(208), limit: v.getUint16(216, true) },
    cr0: u64(224), cr2: u64(232), cr3: u64(240), cr4: u64(248), cr8: u64(256),
    efer: u64(264), apicBase: u64(272),
    interruptBitmap: [u64(280), u64(288), u64(296), u64(304)]
  }
}

export const encodeSregs = (s: Sregs): Uint8Array => {
  const out = new Uint8Array(SREGS_SIZE)
  const v = view(out)
  SEGMENTS.forEach((name, i) => encodeSegment(v, i * 24, s[name]))
  const u64 = (o: number, x: bigint) => v.setBigUint64(o, BigInt.asUintN(64, x), true)
  u64(192, s.gdt.base); v.setUint16(200, s.gdt.limit, true)
  u64(208, s.idt.base); v.setUint16(216, s.idt.limit, true)
  u64(224, s.cr0); u64(232, s.cr2); u64(240, s.cr3); u64(248, s.cr4); u64(256, s.cr8)
  u64(264, s.efer); u64(272, s.apicBase)
  s.interruptBitmap.forEach((w, i) => u64(280 + i * 8, w))
  return out
}
