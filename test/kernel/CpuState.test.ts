import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { CpuBackend } from "../../src/kernel/Cpu.js"
import * as Kernel from "../../src/kernel/Kernel.js"
import { guestBackends } from "../support/Kvm.js"

/** A fresh machine's CPU side on one backend: its vCPUs and the state parts a snapshot holds. */
const kernel = (backend: (typeof guestBackends)[number], cpus: number) =>
  Layer.orDie(Kernel.select(backend, { cpus, memoryBytes: 16 << 20 }).layer)

/** Through the encoded form, as a snapshot stores it. */
const throughJson = <A, I>(schema: Schema.Schema<A, I>, value: A): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeSync(schema)(value), (_, v) => (typeof v === "bigint" ? String(v) : v))))

/**
 * Clocks keep counting between two reads (the TSC, as a field or KVM's MSR 0x10, KVM's clock, and the
 * PIT blob whose load times are host time); everything else must come back
 * exactly. (KvmVcpuState.test.ts checks the PIT with its load times masked.)
 */
const IA32_TSC = 0x10
const isTscMsr = (v: unknown) => typeof v === "object" && v !== null && "index" in v && v.index === IA32_TSC
const withoutClocks = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (key, v) => (/^(tsc|clock|pit)$/.test(key) || isTscMsr(v) ? undefined : typeof v === "bigint" ? String(v) : v)))

describe.each(guestBackends)("the %s CPU's state", (backend) => {
  it.scoped("registers and segment registers survive a get -> set -> get round trip", () =>
    Effect.gen(function*() {
      const [vcpu] = (yield* CpuBackend).vcpus
      const regs = yield* vcpu.getRegs()
      yield* vcpu.setRegs({ ...regs, rax: 0x1234_5678_9abc_def0n, rbx: 0xffff_ffff_ffff_fffen })
      const sregs = yield* vcpu.getSregs()
      yield* vcpu.setSregs(sregs)
      expect(yield* vcpu.getRegs()).toEqual({ ...regs, rax: 0x1234_5678_9abc_def0n, rbx: 0xffff_ffff_ffff_fffen })
      expect(yield* vcpu.getSregs()).toEqual(sregs)
    }).pipe(Effect.provide(kernel(backend, 1))))

  it.scoped("every part a snapshot holds encodes, decodes and restores to the same state", () =>
    Effect.gen(function*() {
      const { stateParts } = yield* CpuBackend
      expect(stateParts.map((p) => p.id)).toEqual(expect.arrayContaining(["vcpu/0", "vcpu/1"]))
      for (const part of stateParts) {
        const saved = yield* part.save()
        yield* part.restore(throughJson(part.schema, saved))
        expect(withoutClocks(yield* part.save())).toEqual(withoutClocks(saved))
      }
    }).pipe(Effect.provide(kernel(backend, 2))))
})
