import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { STRUCT_SIZE } from "./KvmIoctls.js"
import type { KvmError } from "../KvmError.js"
import type { VmHandle } from "./Vm.js"
import * as ChunkCodec from "../../snapshot/format/ChunkCodec.js"
import { FixedBytes } from "../../snapshot/KernelStateSchemas.js"

/*
 * Semantic checks on the irqchip blobs. A snapshot is hostile input, and
 * KVM_SET_IRQCHIP copies these structs into the kernel as they are: the
 * checksums only prove the bytes are the ones written, not that a KVM ever
 * produced them. Each rule below states an invariant KVM's own emulation
 * keeps (arch/x86/kvm/i8259.c, ioapic.c) whatever the guest writes, or, for
 * the redirection entries, an architectural "reserved" the restore should
 * not install. These only narrow what is accepted: the chunk's bytes and
 * its format are unchanged, so VM_STATE_VERSION stays 1. Because Schema
 * filters run on encode too, a save of a state breaking them fails at
 * "collect" naming the field, instead of writing a snapshot that cannot
 * be restored.
 *
 * Layouts (verified against <linux/kvm.h> with a C program, see
 * test/snapshot/badinput/irqchip-state.test.ts):
 *   struct kvm_irqchip (520): chip_id u32 @0, pad u32 @4, union chip @8 (512)
 *   struct kvm_pic_state (16 bytes, all u8): last_irr, irr, imr, isr,
 *     priority_add, irq_base, read_reg_select, poll, special_mask,
 *     init_state, auto_eoi, rotate_on_auto_eoi, special_fully_nested_mode,
 *     init4, elcr, elcr_mask
 *   struct kvm_ioapic_state (216): base_address u64 @0, ioregsel u32 @8,
 *     id u32 @12, irr u32 @16, pad u32 @20, redirtbl[24] u64 @24
 */

/** Where the chip union starts in struct kvm_irqchip. */
export const IRQCHIP_UNION_OFFSET = 8
export const IRQCHIP_ID = { PIC_MASTER: 0, PIC_SLAVE: 1, IOAPIC: 2 } as const
type ChipName = keyof typeof IRQCHIP_ID

/** KVM's IOAPIC never moves (there is no relocation); KVM_SET_IRQCHIP would move its MMIO decode to whatever this says. */
export const IOAPIC_BASE_ADDRESS = 0xfec0_0000n
export const IOAPIC_PINS = 24

/** IOAPIC redirection entry delivery modes (82093AA datasheet, 3.2.4). */
export const DELIVERY_MODE = { FIXED: 0, LOWEST_PRIORITY: 1, SMI: 2, NMI: 4, INIT: 5, EXTINT: 7 } as const
const RESERVED_DELIVERY_MODES: ReadonlyArray<number> = [3, 6]

export interface RedirectionEntry {
  readonly vector: number
  readonly deliveryMode: number
  /** 0 physical, 1 logical. */
  readonly destMode: number
  readonly deliveryStatus: number
  readonly polarity: number
  readonly remoteIrr: number
  /** 0 edge, 1 level. */
  readonly triggerMode: number
  readonly masked: boolean
  readonly destination: number
}

export const decodeRedirectionEntry = (bits: bigint): RedirectionEntry => {
  const low = Number(bits & 0xffff_ffffn)
  return {
    vector: low & 0xff,
    deliveryMode: (low >>> 8) & 7,
    destMode: (low >>> 11) & 1,
    deliveryStatus: (low >>> 12) & 1,
    polarity: (low >>> 13) & 1,
    remoteIrr: (low >>> 14) & 1,
    triggerMode: (low >>> 15) & 1,
    masked: ((low >>> 16) & 1) === 1,
    destination: Number(bits >> 56n)
  }
}

export interface IoapicState {
  readonly chipId: number
  readonly baseAddress: bigint
  readonly ioregsel: number
  readonly id: number
  readonly irr: number
  readonly redirectionTable: ReadonlyArray<bigint>
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** The IOAPIC part of a (520-byte) struct kvm_irqchip. */
export const decodeIoapicState = (irqchip: Uint8Array): IoapicState => {
  const v = view(irqchip)
  const at = IRQCHIP_UNION_OFFSET
  return {
    chipId: v.getUint32(0, true),
    baseAddress: v.getBigUint64(at, true),
    ioregsel: v.getUint32(at + 8, true),
    id: v.getUint32(at + 12, true),
    irr: v.getUint32(at + 16, true),
    redirectionTable: Array.from({ length: IOAPIC_PINS }, (_, i) => v.getBigUint64(at + 24 + 8 * i, true))
  }
}

const hex = (n: number | bigint) => `0x${n.toString(16)}`

/** Why KVM should not be handed this IOAPIC state; empty when it may. */
export const ioapicIssues = (irqchip: Uint8Array): Array<string> => {
  const s = decodeIoapicState(irqchip)
  const issues: Array<string> = []
  if (s.chipId !== IRQCHIP_ID.IOAPIC) issues.push(`chip_id is ${s.chipId}, expected ${IRQCHIP_ID.IOAPIC} (IOAPIC)`)
  if (s.baseAddress !== IOAPIC_BASE_ADDRESS) issues.push(`IOAPIC base address is ${hex(s.baseAddress)}, KVM's is always ${hex(IOAPIC_BASE_ADDRESS)}`)
  if (s.id > 0xf) issues.push(`IOAPIC id ${s.id} does not fit its 4 bits`)
  if (s.irr >= 2 ** IOAPIC_PINS) issues.push(`IOAPIC irr ${hex(s.irr)} has bits above pin ${IOAPIC_PINS - 1}`)
  s.redirectionTable.forEach((bits, pin) => {
    const e = decodeRedirectionEntry(bits)
    // A masked entry is never delivered, and KVM keeps whatever the guest wrote there: only live entries are judged.
    if (e.masked) return
    const what = `IOAPIC redirection entry ${pin} (${hex(bits)})`
    if (RESERVED_DELIVERY_MODES.includes(e.deliveryMode)) {
      issues.push(`${what}: delivery mode ${e.deliveryMode} is reserved`)
    } else if ((e.deliveryMode === DELIVERY_MODE.FIXED || e.deliveryMode === DELIVERY_MODE.LOWEST_PRIORITY) && e.vector < 16) {
      // Vectors 0-15 are illegal for a LAPIC to accept (SDM 10.5.3, "Received Illegal Vector").
      issues.push(`${what}: vector ${e.vector} is below 16, illegal for fixed and lowest-priority delivery`)
    }
  })
  return issues
}

export interface PicState {
  readonly lastIrr: number
  readonly irr: number
  readonly imr: number
  readonly isr: number
  readonly priorityAdd: number
  readonly irqBase: number
  readonly readRegSelect: number
  readonly poll: number
  readonly specialMask: number
  readonly initState: number
  readonly autoEoi: number
  readonly rotateOnAutoEoi: number
  readonly specialFullyNestedMode: number
  readonly init4: number
  readonly elcr: number
  readonly elcrMask: number
}

export const decodePicState = (irqchip: Uint8Array): PicState => {
  const b = (i: number) => irqchip[IRQCHIP_UNION_OFFSET + i]
  return {
    lastIrr: b(0), irr: b(1), imr: b(2), isr: b(3), priorityAdd: b(4), irqBase: b(5), readRegSelect: b(6), poll: b(7),
    specialMask: b(8), initState: b(9), autoEoi: b(10), rotateOnAutoEoi: b(11), specialFullyNestedMode: b(12), init4: b(13),
    elcr: b(14), elcrMask: b(15)
  }
}

/** The ELCR bits each 8259 implements, as kvm_create_pic sets them (IRQ 0-2 and 8, 13 are always edge). */
export const PIC_ELCR_MASK = { PIC_MASTER: 0xf8, PIC_SLAVE: 0xde } as const

/** Why KVM should not be handed this 8259 state; empty when it may. */
export const picIssues = (irqchip: Uint8Array, chip: Exclude<ChipName, "IOAPIC">): Array<string> => {
  const chipId = view(irqchip).getUint32(0, true)
  const p = decodePicState(irqchip)
  const issues: Array<string> = []
  if (chipId !== IRQCHIP_ID[chip]) issues.push(`chip_id is ${chipId}, expected ${IRQCHIP_ID[chip]} (${chip})`)
  const flags = {
    read_reg_select: p.readRegSelect, poll: p.poll, special_mask: p.specialMask, auto_eoi: p.autoEoi,
    rotate_on_auto_eoi: p.rotateOnAutoEoi, special_fully_nested_mode: p.specialFullyNestedMode, init4: p.init4
  }
  for (const [name, value] of Object.entries(flags)) if (value > 1) issues.push(`8259 ${name} is ${value}, a flag (0 or 1)`)
  if (p.priorityAdd > 7) issues.push(`8259 priority_add is ${p.priorityAdd}, expected 0..7`)
  if ((p.irqBase & 7) !== 0) issues.push(`8259 irq_base ${hex(p.irqBase)} is not a multiple of 8 (ICW2 keeps bits 3-7)`)
  if (p.initState > 3) issues.push(`8259 init_state is ${p.initState}, expected 0..3`)
  if (p.elcrMask !== PIC_ELCR_MASK[chip]) issues.push(`8259 elcr_mask is ${hex(p.elcrMask)}, KVM's is ${hex(PIC_ELCR_MASK[chip])}`)
  if ((p.elcr & ~p.elcrMask & 0xff) !== 0) issues.push(`8259 elcr ${hex(p.elcr)} sets bits outside elcr_mask ${hex(p.elcrMask)}`)
  return issues
}

const Irqchip = FixedBytes(STRUCT_SIZE.irqchip, "kvm_irqchip")

/**
 * The VM-wide state KVM emulates in-kernel: both 8259s, the IOAPIC, the
 * 8254 and the KVM clock. Struct kvm_irqchip carries its chip id in its
 * first word; the restore sets it from the field name, not from the bytes
 * (and decoding checks that the two agree).
 */
export const VmState = Schema.Struct({
  picMaster: Irqchip.pipe(Schema.filter((b) => picIssues(b, "PIC_MASTER"))),
  picSlave: Irqchip.pipe(Schema.filter((b) => picIssues(b, "PIC_SLAVE"))),
  ioapic: Irqchip.pipe(Schema.filter(ioapicIssues)),
  pit: FixedBytes(STRUCT_SIZE.pitState2, "kvm_pit_state2"),
  clock: FixedBytes(STRUCT_SIZE.clockData, "kvm_clock_data")
}).annotations({ identifier: "VmState" })
export type VmState = typeof VmState.Type

/** Still 1: the semantic checks above reject more v1 chunks but change nothing that is stored. */
export const VM_STATE_VERSION = 1
export const vmCodec = ChunkCodec.make({ kind: "vm", schemaId: "x86-kvm-vm", version: VM_STATE_VERSION, schema: VmState })

export const collectVm = (vm: VmHandle): Effect.Effect<VmState, KvmError> =>
  Effect.all({
    picMaster: vm.getIrqchip("PIC_MASTER"),
    picSlave: vm.getIrqchip("PIC_SLAVE"),
    ioapic: vm.getIrqchip("IOAPIC"),
    pit: vm.getPit2,
    clock: vm.getClock
  })

/** KVM_SET_CLOCK takes only the clock value (flags 0): the guest's kvmclock resumes where it was saved. */
const clockValueOnly = (saved: Uint8Array): Uint8Array => {
  const bytes = new Uint8Array(STRUCT_SIZE.clockData)
  bytes.set(saved.subarray(0, 8))
  return bytes
}

export const restoreVm = (vm: VmHandle, state: VmState): Effect.Effect<void, KvmError> =>
  Effect.gen(function*() {
    yield* vm.setIrqchip("PIC_MASTER", state.picMaster)
    yield* vm.setIrqchip("PIC_SLAVE", state.picSlave)
    yield* vm.setIrqchip("IOAPIC", state.ioapic)
    yield* vm.setPit2(state.pit)
    yield* vm.setClock(clockValueOnly(state.clock))
  })
