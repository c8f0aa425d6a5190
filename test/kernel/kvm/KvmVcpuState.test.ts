import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as KvmBackend from "../../../src/kernel/kvm/KvmBackend.js"
import { KvmVcpus as Vcpus } from "../../../src/kernel/kvm/KvmVcpus.js"
import { Vm } from "../../../src/kernel/kvm/Vm.js"
import { hasKvm } from "../../support/Kvm.js"

const IA32_TSC = 0x10

const kernel = KvmBackend.layer({ cpus: 1, memoryBytes: 16 << 20 })

const roundTrip = <A>(get: Effect.Effect<A, unknown>, set: (a: A) => Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    const first = yield* get
    yield* set(first)
    const second = yield* get
    expect(second).toEqual(first)
  })

describe.runIf(hasKvm)("vCPU and VM state survive a get → set → get round trip", () => {
  const vcpu = Effect.map(Vcpus, (v) => v[0])

  it.scoped("general registers", () =>
    Effect.gen(function*() {
      const v = yield* vcpu
      const regs = yield* v.getRegs()
      yield* v.setRegs({ ...regs, rax: 0x1234_5678_9abc_def0n, rip: 0xfff0n })
      yield* roundTrip(v.getRegs(), v.setRegs)
      expect((yield* v.getRegs()).rax).toBe(0x1234_5678_9abc_def0n)
    }).pipe(Effect.provide(kernel)))

  it.scoped("segment and control registers", () =>
    Effect.flatMap(vcpu, (v) => roundTrip(v.getSregs(), v.setSregs)).pipe(Effect.provide(kernel)))

  it.scoped("FPU, XSAVE and XCRs", () =>
    Effect.gen(function*() {
      const v = yield* vcpu
      yield* roundTrip(v.getFpu(), v.setFpu)
      yield* roundTrip(v.getXsave(), v.setXsave)
      yield* roundTrip(v.getXcrs(), v.setXcrs)
    }).pipe(Effect.provide(kernel)))

  it.scoped("every MSR in KVM's index list", () =>
    Effect.gen(function*() {
      const v = yield* vcpu
      const first = yield* v.getMsrs()
      expect(first.length).toBeGreaterThan(10)
      yield* v.setMsrs(first)
      const second = yield* v.getMsrs()
      // IA32_TSC keeps counting between the calls; everything else is exact.
      const untimed = (m: ReadonlyArray<{ index: number; value: bigint }>) => m.filter((x) => x.index !== IA32_TSC)
      expect(untimed(second)).toEqual(untimed(first))
      const tsc = (m: ReadonlyArray<{ index: number; value: bigint }>) => m.find((x) => x.index === IA32_TSC)?.value ?? 0n
      expect(tsc(second)).toBeGreaterThanOrEqual(tsc(first))
    }).pipe(Effect.provide(kernel)))

  it.scoped("LAPIC, events, MP state and debug registers", () =>
    Effect.gen(function*() {
      const v = yield* vcpu
      yield* roundTrip(v.getLapic(), v.setLapic)
      yield* roundTrip(v.getEvents(), v.setEvents)
      yield* roundTrip(v.getMpState(), v.setMpState)
      yield* roundTrip(v.getDebugRegs(), v.setDebugRegs)
    }).pipe(Effect.provide(kernel)))

  it.scoped("LAPIC LINT0 is ExtINT and LINT1 is NMI", () =>
    Effect.gen(function*() {
      const lapic = new DataView((yield* (yield* vcpu).getLapic()).buffer)
      expect((lapic.getUint32(0x350, true) >> 8) & 7).toBe(7)
      expect((lapic.getUint32(0x360, true) >> 8) & 7).toBe(4)
    }).pipe(Effect.provide(kernel)))

  it.scoped("PIC, IOAPIC, PIT2 and KVM clock", () =>
    Effect.gen(function*() {
      const vm = yield* Vm
      for (const chip of ["PIC_MASTER", "PIC_SLAVE", "IOAPIC"] as const) {
        yield* roundTrip(vm.getIrqchip(chip), (s) => vm.setIrqchip(chip, s))
      }
      // count_load_time (s64 at 16 in each 24-byte channel) is host ktime, re-based by a set.
      const withoutLoadTimes = (pit: Uint8Array) => {
        const copy = new Uint8Array(pit)
        for (let ch = 0; ch < 3; ch++) copy.fill(0, ch * 24 + 16, ch * 24 + 24)
        return copy
      }
      yield* roundTrip(Effect.map(vm.getPit2, withoutLoadTimes), (s) => vm.setPit2(s))
      const clock = yield* vm.getClock
      yield* vm.setClock(clock)
      const after = new DataView((yield* vm.getClock).buffer).getBigUint64(0, true)
      expect(after).toBeGreaterThanOrEqual(new DataView(clock.buffer).getBigUint64(0, true))
    }).pipe(Effect.provide(kernel)))
})
