import * as Effect from "effect/Effect"
import { CpuError, type CpuStatePart, type VirtualCpu } from "../Cpu.js"
import { decodeRegs, decodeSregs, encodeRegs, encodeSregs, REGS_SIZE, SREGS_SIZE } from "../VcpuRegisters.js"
import type { SoftMachine } from "./NativeSoft.js"
import { STATE_RECORD_SIZE } from "./NativeSoft.js"
import type { SoftScheduler } from "./SoftScheduler.js"
import { decodeRecord, encodeRecord, SOFT_VCPU_STATE_VERSION, SoftVcpuState } from "./SoftState.js"

/**
 * A native call that throws (a bad argument, the machine destroyed, state
 * asked for from inside a run) as a CpuError rather than a defect.
 */
const attempt = <A>(operation: string, f: () => A): Effect.Effect<A, CpuError> =>
  Effect.try({ try: f, catch: (e) => new CpuError({ operation, detail: e instanceof Error ? e.message : String(e) }) })

/**
 * vCPU `id` of a soft machine. vCPU 0's `run` runs every vCPU (the
 * scheduler interleaves them on the calling thread); the machine never
 * calls the others' `run`, which says so instead of running anything. PIO
 * and MMIO are handled inline through `io`, so there is never a reply
 * pending (flushPendingIo does nothing), and a machine whose vCPUs all halt
 * for good reports Halted itself (haltedForGood is always false).
 */
export const makeSoftVcpu = (machine: SoftMachine, scheduler: SoftScheduler, id: number): VirtualCpu => {
  const regs = new Uint8Array(REGS_SIZE)
  const sregs = new Uint8Array(SREGS_SIZE)
  return {
    id,
    kickHandle: { backend: "soft", token: machine.token },
    run: id === 0
      ? (timeoutMs, io) => scheduler.run(timeoutMs, io)
      : () => ({ _tag: "EmulationFailed", reason: `vCPU ${id}: run() belongs to vCPU 0, whose run interleaves every vCPU of the soft machine` }),
    kick: () => machine.kick(),
    flushPendingIo: () => Effect.void,
    getRegs: () => attempt(`reading vCPU ${id}'s registers`, () => {
      machine.getRegs(id, regs)
      return decodeRegs(regs)
    }),
    setRegs: (r) => attempt(`setting vCPU ${id}'s registers`, () => machine.setRegs(id, encodeRegs(r))),
    getSregs: () => attempt(`reading vCPU ${id}'s special registers`, () => {
      machine.getSregs(id, sregs)
      return decodeSregs(sregs)
    }),
    setSregs: (s) =>
      Effect.flatMap(attempt(`setting vCPU ${id}'s special registers`, () => machine.setSregs(id, encodeSregs(s))), (why) =>
        why === undefined ? Effect.void : Effect.fail(new CpuError({ operation: `setting vCPU ${id}'s special registers`, detail: why }))),
    haltedForGood: () => Effect.succeed(false)
  }
}

/** Everything the soft CPU keeps for vCPU `id`: chunk "vcpu/<id>", schema "x86-soft-vcpu". */
export const softVcpuStatePart = (machine: SoftMachine, id: number): CpuStatePart<SoftVcpuState, typeof SoftVcpuState.Encoded> => ({
  id: `vcpu/${id}`,
  kind: "vcpu",
  schemaId: "x86-soft-vcpu",
  version: SOFT_VCPU_STATE_VERSION,
  schema: SoftVcpuState,
  save: () =>
    attempt(`saving vCPU ${id}`, () => {
      const record = new Uint8Array(STATE_RECORD_SIZE)
      machine.saveState(id, record)
      return decodeRecord(id, record)
    }),
  restore: (state) =>
    Effect.gen(function*() {
      if (state.id !== id) {
        return yield* new CpuError({ operation: `restoring vCPU ${id}`, detail: `chunk vcpu/${id} holds vCPU ${state.id}'s state` })
      }
      const why = yield* attempt(`restoring vCPU ${id}`, () => machine.restoreState(id, encodeRecord(state)))
      if (why !== undefined) return yield* new CpuError({ operation: `restoring vCPU ${id}`, detail: why })
    })
})
