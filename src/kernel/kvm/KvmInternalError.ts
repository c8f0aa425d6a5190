/**
 * What a KVM_EXIT_INTERNAL_ERROR says, in words. For an emulation failure
 * (suberror 1) KVM puts the failing instruction's bytes in the exit
 * (struct kvm_run's emulation_failure: data[0] = flags, bit 0 = bytes
 * present; data[1..2] = insn_size, then up to 15 bytes): naming them and
 * RIP says which instruction KVM could not emulate (kvm_pvm stops at a
 * stock kernel's `lock cmpxchg16b`, f0 48 0f c7 ...). Data words are
 * printed from their bigints: through a double their low bits were lost.
 */
const EMULATION = 1
const INSTRUCTION_BYTES = 1n
const MAX_INSTRUCTION = 15

const hex = (v: bigint) => `0x${v.toString(16)}`

/** The instruction bytes of an emulation failure, or undefined when KVM gave none. */
export const failedInstruction = (suberror: number, data: ReadonlyArray<bigint>): Uint8Array | undefined => {
  if (suberror !== EMULATION || data.length < 3 || (data[0] & INSTRUCTION_BYTES) === 0n) return undefined
  const raw = new DataView(new ArrayBuffer(16))
  raw.setBigUint64(0, data[1], true)
  raw.setBigUint64(8, data[2], true)
  const size = Math.min(raw.getUint8(0), MAX_INSTRUCTION)
  return new Uint8Array(raw.buffer, 1, size)
}

export const internalErrorReason = (suberror: number, data: ReadonlyArray<bigint>, rip: bigint | undefined): string => {
  const what = suberror === EMULATION ? " (1 = instruction emulation failed)" : ""
  const insn = failedInstruction(suberror, data)
  const bytes = insn === undefined || insn.length === 0 ? "" : `, instruction bytes ${Array.from(insn, (b) => b.toString(16).padStart(2, "0")).join(" ")}`
  const at = rip === undefined ? "" : ` at RIP ${hex(rip)}`
  // A paravirtual KVM without VT-x (kvm_pvm) emulates a guest kernel's code and stops at what it cannot: say where to go instead.
  const hint = suberror === EMULATION ? "; the software CPU (-o cpu.backend=soft) runs guests this KVM cannot emulate" : ""
  return `KVM internal error, suberror ${suberror}${what}${at}${bytes}, data [${data.map(hex).join(", ")}]${hint}`
}
