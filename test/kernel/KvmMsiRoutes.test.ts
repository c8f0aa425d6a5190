import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Kernel from "../../src/kernel/Kernel.js"
import { encodeGsiRouting, FIRST_MSI_GSI, layer as msiRoutes } from "../../src/kernel/KvmMsiRoutes.js"
import { Vcpus } from "../../src/kernel/Vcpus.js"
import { Vm } from "../../src/kernel/Vm.js"
import { MsiSink } from "../../src/servers/pci/MsiSink.js"
import { hasKvm } from "../support/Kvm.js"

const SVR = 0xf0
const APIC_SOFTWARE_ENABLE = 0x100
const IRR = 0x200
/** struct kvm_irqchip: chip_id, pad, then kvm_ioapic_state with redirtbl[24] at 24. */
const IOAPIC_REDIRECTION = 8 + 24

const reports: Array<string> = []
const machine = msiRoutes((m) => void reports.push(m)).pipe(Layer.provideMerge(Kernel.layer({ cpus: 1, memoryBytes: 16 << 20 })))

const enableLapic = Effect.gen(function*() {
  const vcpu = (yield* Vcpus)[0]
  const lapic = yield* vcpu.getLapic()
  const view = new DataView(lapic.buffer)
  view.setUint32(SVR, view.getUint32(SVR, true) | APIC_SOFTWARE_ENABLE, true)
  yield* vcpu.setLapic(lapic)
})

const requested = (vector: number) =>
  Effect.gen(function*() {
    const lapic = yield* (yield* Vcpus)[0].getLapic()
    return ((new DataView(lapic.buffer).getUint32(IRR + (vector >> 5) * 16, true) >>> (vector & 31)) & 1) === 1
  })

/** Fixed delivery to APIC 0, edge. */
const msiAddress = 0xfee0_0000n

describe("GSI routing table", () => {
  it("keeps KVM's default routes and appends one MSI route per vector", () => {
    const bytes = encodeGsiRouting([{ gsi: FIRST_MSI_GSI, address: 0x1_fee0_1000n, data: 0x41 }])
    const view = new DataView(bytes.buffer)
    expect(view.getUint32(0, true)).toBe(16 + 24 + 1)
    // GSI 9: the slave PIC's pin 1.
    expect([view.getUint32(8 + 9 * 48, true), view.getUint32(8 + 9 * 48 + 16, true), view.getUint32(8 + 9 * 48 + 20, true)]).toEqual([9, 1, 1])
    const ioapic19 = 8 + (16 + 19) * 48
    expect([view.getUint32(ioapic19, true), view.getUint32(ioapic19 + 16, true), view.getUint32(ioapic19 + 20, true)]).toEqual([19, 2, 19])
    const msi = 8 + 40 * 48
    expect([view.getUint32(msi, true), view.getUint32(msi + 4, true)]).toEqual([24, 2])
    expect([view.getUint32(msi + 16, true), view.getUint32(msi + 20, true), view.getUint32(msi + 24, true)]).toEqual([0xfee0_1000, 1, 0x41])
  })
})

describe.skipIf(!hasKvm)("MSI routes on KVM (GSI routing + irqfd)", () => {
  it.scoped("a vector fired through its route is requested in the target LAPIC", () =>
    Effect.gen(function*() {
      yield* enableLapic
      const route = (yield* MsiSink).route()
      expect(yield* requested(0x45)).toBe(false)
      route.send(msiAddress, 0x45)
      expect(yield* requested(0x45)).toBe(true)
      expect(reports).toEqual([])
    }).pipe(Effect.provide(machine)))

  it.scoped("a reprogrammed entry is followed: the next message carries the new vector", () =>
    Effect.gen(function*() {
      yield* enableLapic
      const route = (yield* MsiSink).route()
      route.send(msiAddress, 0x51)
      route.send(msiAddress, 0x62)
      expect(yield* requested(0x62)).toBe(true)
      expect(reports).toEqual([])
    }).pipe(Effect.provide(machine)))

  it.scoped("legacy lines still reach the IOAPIC after the routing table is replaced", () =>
    Effect.gen(function*() {
      yield* enableLapic
      const vm = yield* Vm
      // IOAPIC pin 5: vector 0x35, fixed, edge, unmasked, to APIC 0.
      const ioapic = yield* vm.getIrqchip("IOAPIC")
      new DataView(ioapic.buffer).setBigUint64(IOAPIC_REDIRECTION + 5 * 8, 0x35n, true)
      yield* vm.setIrqchip("IOAPIC", ioapic)
      ;(yield* MsiSink).route().send(msiAddress, 0x44)
      yield* vm.irqLine(5, true)
      yield* vm.irqLine(5, false)
      expect(yield* requested(0x35)).toBe(true)
    }).pipe(Effect.provide(machine)))
})
