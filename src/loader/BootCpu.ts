/**
 * The boot vCPU state a loader mode produces: general registers, and a
 * function that turns the vCPU's current special registers into the boot ones.
 */
import type { Regs, Sregs } from "../kernel/VcpuRegisters.js"

export interface BootCpu {
  readonly regs: Regs
  /** Keeps apicBase, interruptBitmap, cr2 and cr8 from `current` (KVM owns those); sets all the rest. */
  readonly applySregs: (current: Sregs) => Sregs
}

/** Every register zero except the reserved rflags bit 1, which must be set. */
export const bootRegs = (set: Partial<Regs>): Regs => ({
  rax: 0n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0n, rbp: 0n,
  r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n,
  rip: 0n, rflags: 0x2n,
  ...set
})

/** The sregs fields the loader leaves as KVM has them. */
export const keptSregs = (current: Sregs): Pick<Sregs, "apicBase" | "interruptBitmap" | "cr2" | "cr8"> => ({
  apicBase: current.apicBase,
  interruptBitmap: [...current.interruptBitmap],
  cr2: current.cr2,
  cr8: current.cr8
})
