import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KvmBackend from "../../../src/kernel/kvm/KvmBackend.js"
import { encodeGsiRouting, FIRST_MSI_GSI, layer as msiRoutes, PIT_IOAPIC_PIN } from "../../../src/kernel/kvm/KvmMsiRoutes.js"
import { KvmVcpus as Vcpus } from "../../../src/kernel/kvm/KvmVcpus.js"
import { Vm } from "../../../src/kernel/kvm/Vm.js"
import { MsiSink } from "../../../src/servers/pci/MsiSink.js"
import { hasKvm } from "../../support/Kvm.js"

const SVR = 0xf0
const APIC_SOFTWARE_ENABLE = 0x100
const IRR = 0x200
/** struct kvm_irqchip: chip_id, pad, then kvm_ioapic_state with redirtbl[24] at 24. */
const IOAPIC_REDIRECTION = 8 + 24

const reports: Array<string> = []
const machine = msiRoutes((m) => void reports.push(m)).pipe(Layer.provideMerge(KvmBackend.layer({ cpus: 1, memoryBytes: 16 << 20 })))

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

/** The routing table's entries as [gsi, type, a, b, c] (irqchip entries: a = chip, b = pin; MSI: address lo, hi, data). */
const entries = (bytes: Uint8Array) => {
  const view = new DataView(bytes.buffer)
  return Array.from({ length: view.getUint32(0, true) }, (_, i) => {
    const o = 8 + i * 48
    return [0, 4, 16, 20, 24].map((at) => view.getUint32(o + at, true))
  })
}

describe("GSI routing table", () => {
  it("routes ISA IRQ 0 to IOAPIC pin 2, as the MADT's override says, and the other lines as KVM does", () => {
    const table = entries(encodeGsiRouting([]))
    const ioapic = (gsi: number) => table.filter(([g, type, chip]) => g === gsi && type === 1 && chip === 2).map((e) => e[3])
    const pic = (gsi: number) => table.filter(([g, type, chip]) => g === gsi && type === 1 && chip < 2).map((e) => [e[2], e[3]])
    expect(ioapic(0)).toEqual([PIT_IOAPIC_PIN])
    expect(ioapic(2)).toEqual([])
    expect(ioapic(19)).toEqual([19])
    expect(pic(0)).toEqual([[0, 0]])
    expect(pic(2)).toEqual([])
    expect(pic(9)).toEqual([[1, 1]])
    expect(table.length).toBe(15 + 23)
  })

  it("appends one MSI route per vector", () => {
    const table = entries(encodeGsiRouting([{ gsi: FIRST_MSI_GSI, address: 0x1_fee0_1000n, data: 0x41 }]))
    expect(table[table.length - 1]).toEqual([24, 2, 0xfee0_1000, 1, 0x41])
  })
})

describe.runIf(hasKvm)("MSI routes on KVM (GSI routing + irqfd)", () => {
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

  it.scoped("the PIT's IRQ 0 reaches IOAPIC pin 2 from the start, where the firmware tables say it is", () =>
    Effect.gen(function*() {
      yield* enableLapic
      const vm = yield* Vm
      const ioapic = yield* vm.getIrqchip("IOAPIC")
      const view = new DataView(ioapic.buffer)
      view.setBigUint64(IOAPIC_REDIRECTION + 0 * 8, 0x30n, true)
      view.setBigUint64(IOAPIC_REDIRECTION + PIT_IOAPIC_PIN * 8, 0x32n, true)
      yield* vm.setIrqchip("IOAPIC", ioapic)
      yield* vm.irqLine(0, true)
      yield* vm.irqLine(0, false)
      expect(yield* requested(0x32)).toBe(true)
      expect(yield* requested(0x30)).toBe(false)
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
