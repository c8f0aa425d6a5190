import { describe, expect, it } from "@effect/vitest"
import { failedInstruction, internalErrorReason } from "../../../src/kernel/kvm/KvmInternalError.js"

/** The exit kvm_pvm gave for Debian 6.1.0-57 (vmlinux/PVH) at SLUB's `lock cmpxchg16b 0x20(%rbp); je`: flags 1, then size 15 and the bytes. */
const cmpxchg16b = [1n, 0x74204dc70f48f00fn, 0x894d0824448b4c66n, 0x1000n]

describe("KVM internal error", () => {
  it("an emulation failure names RIP and the instruction bytes KVM reported", () => {
    expect(internalErrorReason(1, cmpxchg16b, 0xffffffff8132ae50n)).toBe(
      "KVM internal error, suberror 1 (1 = instruction emulation failed) at RIP 0xffffffff8132ae50, " +
        "instruction bytes f0 48 0f c7 4d 20 74 66 4c 8b 44 24 08 4d 89, " +
        "data [0x1, 0x74204dc70f48f00f, 0x894d0824448b4c66, 0x1000]; " +
        "the software CPU (-o cpu.backend=soft) runs guests this KVM cannot emulate"
    )
  })

  it("prints every data word exactly, however many bits it uses", () => {
    expect(internalErrorReason(3, [0xffffffffffffffffn, 0x123456789abcdef1n], undefined)).toBe(
      "KVM internal error, suberror 3, data [0xffffffffffffffff, 0x123456789abcdef1]"
    )
  })

  it("takes no instruction bytes when KVM's flags say there are none, or the size is short", () => {
    expect(failedInstruction(1, [0n, 0x74204dc70f48f00fn, 0n])).toBeUndefined()
    expect(failedInstruction(1, [1n, 0x74204dc70f48f0n])).toBeUndefined()
    expect(failedInstruction(2, cmpxchg16b)).toBeUndefined()
    expect(Array.from(failedInstruction(1, [1n, 0x0f48f002n, 0n]) ?? [])).toEqual([0xf0, 0x48])
  })

  it("never reads more than 15 instruction bytes, whatever size KVM says", () => {
    expect(failedInstruction(1, [1n, 0xffn, 0n])?.length).toBe(15)
  })
})
