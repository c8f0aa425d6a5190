import * as Schema from "effect/Schema"
import { Bit, FixedBytes, U16, U32, U64 } from "../../snapshot/KernelStateSchemas.js"
import { STATE_RECORD_SIZE } from "./NativeSoft.js"

/**
 * One soft vCPU's state in a snapshot (chunk "vcpu/<i>", schema
 * "x86-soft-vcpu"): everything the engine needs to resume exactly, as named
 * fields, and the codec to and from the addon's fixed record
 * (native/soft/soft_state.h, namespace rec: the offsets below are the same).
 * A snapshot is hostile input: every field is range-checked here and the
 * control registers' combination is checked again natively before anything
 * is written.
 */

const Dpl = Schema.Int.pipe(Schema.between(0, 3))
const Nibble = Schema.Int.pipe(Schema.between(0, 15))

/** A segment register with its hidden part (base, limit, attributes), as the engine holds it. */
const Segment = Schema.Struct({
  selector: U16,
  base: U64,
  limit: U32,
  type: Nibble,
  s: Bit,
  dpl: Dpl,
  present: Bit,
  avl: Bit,
  l: Bit,
  db: Bit,
  g: Bit
}).annotations({ identifier: "SoftSegment" })
type Segment = typeof Segment.Type

const DescriptorTable = Schema.Struct({ base: U64, limit: U16 }).annotations({ identifier: "DescriptorTable" })

const Registers = Schema.Struct({
  rax: U64, rbx: U64, rcx: U64, rdx: U64, rsi: U64, rdi: U64, rsp: U64, rbp: U64,
  r8: U64, r9: U64, r10: U64, r11: U64, r12: U64, r13: U64, r14: U64, r15: U64,
  rip: U64, rflags: U64
}).annotations({ identifier: "SoftRegisters" })

const Fpu = Schema.Struct({
  fcw: U16, fsw: U16, ftw: U16, fop: U16,
  fip: U64, fdp: U64, fcs: U16, fds: U16,
  mxcsr: U16,
  /** ST(0)..ST(7), 80 bits each. */
  st: Schema.Array(FixedBytes(10, "st")).pipe(Schema.itemsCount(8)),
  /** XMM0..XMM15. */
  xmm: Schema.Array(FixedBytes(16, "xmm")).pipe(Schema.itemsCount(16))
}).annotations({ identifier: "SoftFpu" })

const Msrs = Schema.Struct({
  tsc: U64,
  // The CPU keeps a 16-bit selector.
  sysenterCs: U64.pipe(Schema.filter((b) => b <= 0xffffn || "IA32_SYSENTER_CS above 0xffff")),
  sysenterEsp: U64, sysenterEip: U64,
  star: U64, lstar: U64, cstar: U64, sfmask: U64,
  kernelGsBase: U64, tscAux: U64, pat: U64, miscEnable: U64
}).annotations({ identifier: "SoftMsrs" })

export const RUN_STATES = ["running", "halted", "wait-for-sipi"] as const

const CR0_ALLOWED = 0xe005003fn
const CR4_ALLOWED = 0x7ffn
const EFER_ALLOWED = 0xd01n
const PHYS_LIMIT = 1n << 40n

/** What no processor can be in: the same checks the addon makes (soft_state.cc checkControl). */
const controlProblem = (s: { cr0: bigint; cr3: bigint; cr4: bigint; cr8: bigint; efer: bigint; apicBase: bigint }): string | undefined => {
  if (s.cr0 & ~CR0_ALLOWED) return "CR0 has reserved bits set"
  if (s.cr4 & ~CR4_ALLOWED) return "CR4 has bits set this CPU does not support"
  if (s.efer & ~EFER_ALLOWED) return "EFER has bits set this CPU does not support"
  const pg = (s.cr0 & (1n << 31n)) !== 0n
  if (pg && !(s.cr0 & 1n)) return "CR0.PG without CR0.PE"
  const lma = (s.efer & (1n << 10n)) !== 0n, lme = (s.efer & (1n << 8n)) !== 0n
  if (lma && !(lme && pg && (s.cr4 & (1n << 5n)))) return "EFER.LMA without LME, CR0.PG and CR4.PAE"
  if (!lma && lme && pg) return "EFER.LME with paging on but LMA clear"
  if (s.cr3 >= PHYS_LIMIT) return "CR3 beyond the physical address width"
  if (s.cr8 > 15n) return "CR8 above 15"
  if (s.apicBase & ~((PHYS_LIMIT - 1n) & ~0xfffn | (1n << 8n) | (1n << 11n))) return "APIC base has reserved or x2APIC bits set"
  return undefined
}

export const SoftVcpuState = Schema.Struct({
  id: Schema.Int.pipe(Schema.between(0, 254)),
  regs: Registers,
  cs: Segment, ds: Segment, es: Segment, fs: Segment, gs: Segment, ss: Segment, tr: Segment, ldt: Segment,
  gdt: DescriptorTable, idt: DescriptorTable,
  cr0: U64, cr2: U64, cr3: U64, cr4: U64, cr8: U64, efer: U64, apicBase: U64,
  /** DR0..DR7. */
  dr: Schema.Array(U64).pipe(Schema.itemsCount(8)),
  fpu: Fpu,
  msrs: Msrs,
  runState: Schema.Literal(...RUN_STATES),
  /** An NMI handler runs: further NMIs wait for its iret. */
  nmiBlocked: Schema.Boolean,
  /** The instruction after sti / mov ss has not run yet: interrupts wait for it. */
  interruptShadow: Schema.Boolean,
  /** An NMI waits for the running NMI handler's iret. */
  nmiPending: Schema.Boolean
}).pipe(Schema.filter((s) => controlProblem(s) ?? true)).annotations({ identifier: "SoftVcpuState" })
export type SoftVcpuState = typeof SoftVcpuState.Type

export const SOFT_VCPU_STATE_VERSION = 1

// native/soft/soft_state.h, namespace rec.
const O = {
  MAGIC: 0, SIZE: 4, GPR: 8, RIP: 136, RFLAGS: 144, SEGS: 152,
  GDT_BASE: 344, GDT_LIMIT: 352, IDT_BASE: 360, IDT_LIMIT: 368,
  CR0: 376, CR2: 384, CR3: 392, CR4: 400, CR8: 408, EFER: 416, APIC_BASE: 424, DR: 432,
  FCW: 496, FSW: 498, FTW: 500, FOP: 502, FIP: 504, FDP: 512, FCS: 520, FDS: 522, MXCSR: 524,
  ST: 528, XMM: 656, MSRS: 912, RUN_STATE: 1008, EVENT_FLAGS: 1012
} as const
const MAGIC = 0x31435653
const GPRS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"] as const
// The record's segment order.
const SEGMENTS = ["es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"] as const
const MSRS = ["tsc", "sysenterCs", "sysenterEsp", "sysenterEip", "star", "lstar", "cstar", "sfmask", "kernelGsBase", "tscAux", "pat", "miscEnable"] as const
const NMI_BLOCKED = 1, SHADOW = 2, NMI_PENDING = 4

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

const decodeSegment = (v: DataView, o: number): Segment => {
  const flags = v.getUint32(o + 16, true)
  return {
    selector: v.getUint32(o + 12, true) & 0xffff,
    base: v.getBigUint64(o, true),
    limit: v.getUint32(o + 8, true),
    type: (flags >>> 8) & 15,
    s: (flags >>> 12) & 1,
    dpl: (flags >>> 13) & 3,
    present: (flags >>> 15) & 1,
    avl: (flags >>> 20) & 1,
    l: (flags >>> 21) & 1,
    db: (flags >>> 22) & 1,
    g: (flags >>> 23) & 1
  }
}

const encodeSegment = (v: DataView, o: number, s: Segment) => {
  v.setBigUint64(o, s.base, true)
  v.setUint32(o + 8, s.limit, true)
  v.setUint32(o + 12, s.selector, true)
  v.setUint32(o + 16, ((s.type << 8) | (s.s << 12) | (s.dpl << 13) | (s.present << 15) | (s.avl << 20) | (s.l << 21) | (s.db << 22) | (s.g << 23)) >>> 0, true)
}

const runState = (n: number): SoftVcpuState["runState"] => {
  const s = RUN_STATES[n]
  if (s === undefined) throw new Error(`soft vCPU run state ${n} unknown`)
  return s
}

/** The addon's record -> named fields. */
export const decodeRecord = (id: number, b: Uint8Array): SoftVcpuState => {
  const v = view(b)
  if (b.length !== STATE_RECORD_SIZE || v.getUint32(O.MAGIC, true) !== MAGIC) throw new Error("not a soft vCPU state record")
  const u64 = (o: number) => v.getBigUint64(o, true)
  const regs = Object.fromEntries(GPRS.map((n, i) => [n, u64(O.GPR + 8 * i)])) as Record<(typeof GPRS)[number], bigint>
  const segs = Object.fromEntries(SEGMENTS.map((n, i) => [n, decodeSegment(v, O.SEGS + 24 * i)])) as Record<(typeof SEGMENTS)[number], Segment>
  const msrs = Object.fromEntries(MSRS.map((n, i) => [n, u64(O.MSRS + 8 * i)])) as Record<(typeof MSRS)[number], bigint>
  const bytes = (o: number, n: number) => b.slice(o, o + n)
  const events = v.getUint32(O.EVENT_FLAGS, true)
  return {
    id,
    regs: { ...regs, rip: u64(O.RIP), rflags: u64(O.RFLAGS) },
    ...segs,
    gdt: { base: u64(O.GDT_BASE), limit: v.getUint32(O.GDT_LIMIT, true) },
    idt: { base: u64(O.IDT_BASE), limit: v.getUint32(O.IDT_LIMIT, true) },
    cr0: u64(O.CR0), cr2: u64(O.CR2), cr3: u64(O.CR3), cr4: u64(O.CR4), cr8: u64(O.CR8), efer: u64(O.EFER), apicBase: u64(O.APIC_BASE),
    dr: Array.from({ length: 8 }, (_, i) => u64(O.DR + 8 * i)),
    fpu: {
      fcw: v.getUint16(O.FCW, true), fsw: v.getUint16(O.FSW, true), ftw: v.getUint16(O.FTW, true), fop: v.getUint16(O.FOP, true),
      fip: u64(O.FIP), fdp: u64(O.FDP), fcs: v.getUint16(O.FCS, true), fds: v.getUint16(O.FDS, true),
      mxcsr: v.getUint32(O.MXCSR, true) & 0xffff,
      st: Array.from({ length: 8 }, (_, i) => bytes(O.ST + 16 * i, 10)),
      xmm: Array.from({ length: 16 }, (_, i) => bytes(O.XMM + 16 * i, 16))
    },
    msrs,
    runState: runState(v.getUint32(O.RUN_STATE, true)),
    nmiBlocked: (events & NMI_BLOCKED) !== 0,
    interruptShadow: (events & SHADOW) !== 0,
    nmiPending: (events & NMI_PENDING) !== 0
  }
}

/** Named fields -> the addon's record. */
export const encodeRecord = (s: SoftVcpuState): Uint8Array => {
  const b = new Uint8Array(STATE_RECORD_SIZE)
  const v = view(b)
  v.setUint32(O.MAGIC, MAGIC, true)
  v.setUint32(O.SIZE, STATE_RECORD_SIZE, true)
  const u64 = (o: number, x: bigint) => v.setBigUint64(o, BigInt.asUintN(64, x), true)
  GPRS.forEach((n, i) => u64(O.GPR + 8 * i, s.regs[n]))
  u64(O.RIP, s.regs.rip)
  u64(O.RFLAGS, s.regs.rflags)
  SEGMENTS.forEach((n, i) => encodeSegment(v, O.SEGS + 24 * i, s[n]))
  u64(O.GDT_BASE, s.gdt.base)
  v.setUint32(O.GDT_LIMIT, s.gdt.limit, true)
  u64(O.IDT_BASE, s.idt.base)
  v.setUint32(O.IDT_LIMIT, s.idt.limit, true)
  u64(O.CR0, s.cr0); u64(O.CR2, s.cr2); u64(O.CR3, s.cr3); u64(O.CR4, s.cr4); u64(O.CR8, s.cr8)
  u64(O.EFER, s.efer); u64(O.APIC_BASE, s.apicBase)
  s.dr.forEach((d, i) => u64(O.DR + 8 * i, d))
  v.setUint16(O.FCW, s.fpu.fcw, true); v.setUint16(O.FSW, s.fpu.fsw, true); v.setUint16(O.FTW, s.fpu.ftw, true)
  v.setUint16(O.FOP, s.fpu.fop, true)
  u64(O.FIP, s.fpu.fip); u64(O.FDP, s.fpu.fdp)
  v.setUint16(O.FCS, s.fpu.fcs, true); v.setUint16(O.FDS, s.fpu.fds, true)
  v.setUint32(O.MXCSR, s.fpu.mxcsr, true)
  s.fpu.st.forEach((x, i) => b.set(x, O.ST + 16 * i))
  s.fpu.xmm.forEach((x, i) => b.set(x, O.XMM + 16 * i))
  MSRS.forEach((n, i) => u64(O.MSRS + 8 * i, s.msrs[n]))
  v.setUint32(O.RUN_STATE, RUN_STATES.indexOf(s.runState), true)
  v.setUint32(O.EVENT_FLAGS, (s.nmiBlocked ? NMI_BLOCKED : 0) | (s.interruptShadow ? SHADOW : 0) | (s.nmiPending ? NMI_PENDING : 0), true)
  return b
}
