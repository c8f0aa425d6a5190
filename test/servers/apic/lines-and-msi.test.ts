import { describe, expect, it } from "@effect/vitest"
import { makeManualClock } from "../../../src/servers/DeviceClock.js"
import { REG_LDR } from "../../../src/servers/apic/LapicRegisters.js"
import { withRig } from "./ApicRig.js"

const MASKED = 1 << 16

describe("interrupt lines of the userspace irqchip", () => {
  it("line 0 reaches PIC IRQ 0 and IOAPIC pin 2 (the MADT's source override), not pin 0", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(0, 0x30)
      rig.route(2, 0x32)
      rig.lines.line(0).set(true)
      expect(rig.pic.history).toEqual([{ irq: 0, level: true }])
      expect(rig.cpu.acknowledge(0)).toBe(0x32)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
    }))

  it("line 16 (a PCI INTx pin) reaches only the IOAPIC", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(16, (1 << 15) | 0x60)
      rig.lines.line(16).set(true)
      expect(rig.pic.history).toEqual([])
      expect(rig.cpu.acknowledge(0)).toBe(0x60)
    }))

  it("driving an edge line again at the same level sends nothing new", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(4, 0x44)
      const line = rig.lines.line(4)
      line.set(true)
      expect(rig.cpu.acknowledge(0)).toBe(0x44)
      line.set(true)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
    }))

  it("a line that was high when the state was saved can be lowered after the restore", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(17, (1 << 15) | 0x61)
      rig.lines.line(17).set(true)
      const ioapic = rig.server("ioapic")
      const saved = ioapic.save()
      withRig(1, makeManualClock(), (other) => {
        other.server("ioapic").restore(saved)
        other.lines.line(17).set(false)
        expect((other.server("ioapic").save() as { pinLevels: number }).pinLevels).toBe(0)
      })
    }))

  it("lines beyond the chips go nowhere and do not throw", () =>
    withRig(1, makeManualClock(), (rig) => {
      for (const n of [24, 100, -1, 2.5]) rig.lines.line(n).set(true)
      expect(rig.pic.history).toEqual([])
      for (let pin = 0; pin < 24; pin++) expect(rig.ioapicRead(0x10 + 2 * pin) & MASKED).toBe(MASKED)
    }))
})

describe("MSI delivery", () => {
  it("a message delivers its vector to the vCPU its address names", () =>
    withRig(4, makeManualClock(), (rig) => {
      for (const cpu of [0, 1, 2, 3]) rig.enable(cpu)
      rig.msi.route().send(0xfee0_0000n | (2n << 12n), 0x0071)
      expect([0, 1, 2, 3].map((cpu) => rig.cpu.hasInterrupt(cpu))).toEqual([false, false, true, false])
      expect(rig.cpu.acknowledge(2)).toBe(0x71)
    }))

  it("logical destination mode (address bit 2) matches the LDRs", () =>
    withRig(2, makeManualClock(), (rig) => {
      for (const cpu of [0, 1]) {
        rig.enable(cpu)
        rig.lapicWrite(cpu, REG_LDR, (1 << cpu) << 24)
      }
      rig.msi.route().send(0xfee0_0000n | (2n << 12n) | 4n, 0x0072)
      expect([rig.cpu.hasInterrupt(0), rig.cpu.hasInterrupt(1)]).toEqual([false, true])
    }))

  it("a message to a vCPU that does not exist, or outside 0xFEExxxxx, reaches nobody", () =>
    withRig(2, makeManualClock(), (rig) => {
      for (const cpu of [0, 1]) rig.enable(cpu)
      rig.msi.route().send(0xfee0_0000n | (5n << 12n), 0x0073)
      rig.msi.route().send(0xfed0_0000n, 0x0073)
      rig.msi.route().send(0x1_fee0_0000n, 0x0073)
      expect([rig.cpu.hasInterrupt(0), rig.cpu.hasInterrupt(1)]).toEqual([false, false])
    }))

  it("an NMI message is taken through takeNmi", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.msi.route().send(0xfee0_0000n, 4 << 8)
      expect(rig.cpu.takeNmi(0)).toBe(true)
      expect(rig.cpu.takeNmi(0)).toBe(false)
    }))
})
