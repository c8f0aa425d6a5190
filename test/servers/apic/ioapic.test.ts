import { describe, expect, it } from "@effect/vitest"
import { makeManualClock } from "../../../src/servers/DeviceClock.js"
import { IOAPIC_BASE, IOEOI } from "../../../src/servers/apic/IoapicRegisters.js"
import { REG_EOI, REG_ISR } from "../../../src/servers/apic/LapicRegisters.js"
import { withRig } from "./ApicRig.js"

const LEVEL = 1 << 15
const MASKED = 1 << 16
const REMOTE_IRR = 1 << 14
const LOGICAL = 1 << 11

describe("IOAPIC", () => {
  it("its registers read and write through IOREGSEL and IOWIN", () =>
    withRig(1, makeManualClock(), (rig) => {
      expect(rig.ioapicRead(0x01)).toBe(0x0017_0011)
      rig.ioapicWrite(0x00, 0x0a00_0000)
      expect(rig.ioapicRead(0x00)).toBe(0x0a00_0000)
      expect(rig.ioapicRead(0x02)).toBe(0x0a00_0000)
      // Every entry starts masked; the status bits are read-only, reserved bits read 0.
      expect(rig.ioapicRead(0x10 + 2 * 23)).toBe(MASKED)
      rig.ioapicWrite(0x10 + 2 * 5, 0xffff_ffff)
      expect(rig.ioapicRead(0x10 + 2 * 5)).toBe(0x1_afff)
      rig.ioapicWrite(0x11 + 2 * 5, 0xffff_ffff)
      expect(rig.ioapicRead(0x11 + 2 * 5)).toBe(0xff00_0000)
      expect(rig.bus.mmioRead(IOAPIC_BASE, 4)).toBe(0x11 + 2 * 5)
      // Past entry 23 there is nothing: all-ones, as KVM's IOAPIC reads.
      expect(rig.ioapicRead(0x40)).toBe(0xffff_ffff)
    }))

  it("an unmasked edge pin delivers its vector to the destination LAPIC", () =>
    withRig(2, makeManualClock(), (rig) => {
      rig.enable(1)
      rig.route(4, 0x41, 1)
      rig.lines.line(4).set(true)
      expect(rig.cpu.hasInterrupt(1)).toBe(true)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
      expect(rig.cpu.acknowledge(1)).toBe(0x41)
      expect(rig.lapicRead(1, REG_ISR + 0x20)).toBe(1 << 1)
      expect(rig.cpu.hasInterrupt(1)).toBe(false)
    }))

  it("an edge pin sends only on a rising edge", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(4, 0x41)
      rig.lines.line(4).set(true)
      expect(rig.cpu.acknowledge(0)).toBe(0x41)
      rig.lapicWrite(0, REG_EOI, 0)
      rig.lines.line(4).set(true)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
      rig.lines.line(4).set(false)
      rig.lines.line(4).set(true)
      expect(rig.cpu.acknowledge(0)).toBe(0x41)
    }))

  it("a masked pin delivers nothing", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(4, MASKED | 0x41)
      rig.lines.line(4).set(true)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
      expect(rig.cpu.acknowledge(0)).toBe(-1)
    }))

  it("a level pin sets remote IRR; the LAPIC's EOI clears it and sends again while the pin is asserted", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(17, LEVEL | 0x51)
      rig.lines.line(17).set(true)
      expect(rig.ioapicRead(0x10 + 2 * 17) & REMOTE_IRR).toBe(REMOTE_IRR)
      expect(rig.cpu.acknowledge(0)).toBe(0x51)
      // Still asserted: the EOI brings it straight back.
      rig.lapicWrite(0, REG_EOI, 0)
      expect(rig.ioapicRead(0x10 + 2 * 17) & REMOTE_IRR).toBe(REMOTE_IRR)
      expect(rig.cpu.acknowledge(0)).toBe(0x51)
      // Deasserted, then EOI: remote IRR clears and nothing more comes.
      rig.lines.line(17).set(false)
      rig.lapicWrite(0, REG_EOI, 0)
      expect(rig.ioapicRead(0x10 + 2 * 17) & REMOTE_IRR).toBe(0)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
    }))

  it("a level pin asserted while masked is sent when unmasked", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(18, MASKED | LEVEL | 0x52)
      rig.lines.line(18).set(true)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
      rig.route(18, LEVEL | 0x52)
      expect(rig.cpu.acknowledge(0)).toBe(0x52)
    }))

  it("the EOI register of version 0x20 clears remote IRR too", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.route(19, LEVEL | 0x53)
      rig.lines.line(19).set(true)
      rig.lines.line(19).set(false)
      rig.bus.mmioWrite(IOAPIC_BASE + IOEOI, 4, 0x53)
      expect(rig.ioapicRead(0x10 + 2 * 19) & REMOTE_IRR).toBe(0)
    }))

  it("a logical destination reaches the LAPICs whose LDR matches (flat model)", () =>
    withRig(3, makeManualClock(), (rig) => {
      for (const cpu of [0, 1, 2]) {
        rig.enable(cpu)
        rig.lapicWrite(cpu, 0xd0, (1 << cpu) << 24)
      }
      rig.route(5, LOGICAL | 0x45, 0b110)
      rig.lines.line(5).set(true)
      expect([0, 1, 2].map((cpu) => rig.cpu.hasInterrupt(cpu))).toEqual([false, true, true])
    }))

  it("an entry no LAPIC could accept (vector below 16, reserved mode) is held masked", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.route(6, 0x0f)
      expect(rig.ioapicRead(0x10 + 2 * 6)).toBe(MASKED | 0x0f)
      rig.route(6, (3 << 8) | 0x40)
      expect(rig.ioapicRead(0x10 + 2 * 6) & MASKED).toBe(MASKED)
    }))
})
