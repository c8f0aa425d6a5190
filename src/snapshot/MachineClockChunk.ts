import * as Schema from "effect/Schema"
import * as ChunkCodec from "./format/ChunkCodec.js"

/**
 * The machine clock in a snapshot (chunk "machine/clock"): the guest
 * nanoseconds it stood at while the machine was paused for the save. Every
 * guest time source is saved relative to it (a vCPU's TSC offset, the PM
 * timer's count, the PIT's and LAPIC timer's progress), so a restore sets it
 * first and they all continue from one instant.
 */
export const MachineClockState = Schema.Struct({
  ns: Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER))
}).annotations({ identifier: "MachineClockState" })
export type MachineClockState = typeof MachineClockState.Type

export const MACHINE_CLOCK_CHUNK = "machine/clock"

export const machineClockCodec = ChunkCodec.make({ kind: "machine", schemaId: "machine-clock", version: 1, schema: MachineClockState })

/** What a software-CPU vCPU chunk says of its TSC (x86-soft-vcpu: 1 GHz, counting from the vCPU's reset). */
const SoftTsc = Schema.Struct({ msrs: Schema.Struct({ tsc: Schema.BigIntFromSelf }) })
const isSoftTsc = Schema.is(SoftTsc)

/**
 * The machine clock of a snapshot written before it had one, from what it
 * did save: the software CPU's vCPU 0 counted its TSC in nanoseconds from
 * power-on, as the machine clock does, so the clock resumes where the
 * guest's own TSC says it stood (and vCPU 0's TSC offset comes back as 0, as
 * on a fresh machine). KVM's TSC is the hardware's: 0 there. Anything works
 * for correctness (every source is restored relative to the clock); this
 * keeps the numbers the guest sees natural.
 */
export const machineClockOfOldSnapshot = (cpuStates: ReadonlyArray<unknown>): MachineClockState => {
  const first = cpuStates.find(isSoftTsc)
  const tsc = first === undefined ? 0n : first.msrs.tsc
  return { ns: tsc > 0n && tsc <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(tsc) : 0 }
}
