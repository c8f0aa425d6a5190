import { describe, expect, it } from "@effect/vitest"
import { makeManualClock } from "../../../src/servers/DeviceClock.js"
import { LAPIC_BASE } from "../../../src/servers/apic/LapicRegisters.js"
import * as R from "../../../src/servers/apic/LapicRegisters.js"
import { withRig } from "./ApicRig.js"

const SELF = 1 << 18

describe("local APIC registers and priorities", () => {
  it("after reset: ID = vCPU index, version 0x50014, SVR 0xff, LVTs masked but vCPU 0's LINT0 ExtINT and LINT1 NMI", () =>
    withRig(2, makeManualClock(), (rig) => {
      expect(rig.lapicRead(0, R.REG_ID)).toBe(0)
      expect(rig.lapicRead(1, R.REG_ID)).toBe(1 << 24)
      expect(rig.lapicRead(1, R.REG_VERSION)).toBe(0x0005_0014)
      expect(rig.lapicRead(1, R.REG_SVR)).toBe(0xff)
      expect(rig.lapicRead(1, R.REG_DFR)).toBe(0xffff_ffff)
      for (let lvt = 0x320; lvt <= 0x370; lvt += 0x10) expect(rig.lapicRead(1, lvt)).toBe(0x1_0000)
      expect(rig.lapicRead(0, 0x350)).toBe(0x700)
      expect(rig.lapicRead(0, 0x360)).toBe(0x400)
      expect(rig.lapicRead(0, 0x320)).toBe(0x1_0000)
    }))

  it("one page serves every vCPU: each access reaches the LAPIC of the vCPU making it", () =>
    withRig(2, makeManualClock(), (rig) => {
      rig.lapicWrite(0, R.REG_TPR, 0x20)
      rig.lapicWrite(1, R.REG_TPR, 0x30)
      expect([rig.lapicRead(0, R.REG_TPR), rig.lapicRead(1, R.REG_TPR)]).toEqual([0x20, 0x30])
    }))

  it("TPR holds back vectors of its priority class and below", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.lapicWrite(0, R.REG_TPR, 0x50)
      rig.lapicWrite(0, R.REG_ICR_LOW, SELF | 0x55)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
      expect(rig.cpu.acknowledge(0)).toBe(-1)
      rig.lapicWrite(0, R.REG_ICR_LOW, SELF | 0x61)
      expect(rig.cpu.acknowledge(0)).toBe(0x61)
      rig.lapicWrite(0, R.REG_TPR, 0x40)
      // 0x55 is now above TPR but not above the in-service 0x61's class: PPR 0x60.
      expect(rig.lapicRead(0, R.REG_PPR)).toBe(0x60)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
      rig.lapicWrite(0, R.REG_EOI, 0)
      expect(rig.cpu.acknowledge(0)).toBe(0x55)
    }))

  it("EOI clears the highest in-service vector only", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.lapicWrite(0, R.REG_ICR_LOW, SELF | 0x31)
      expect(rig.cpu.acknowledge(0)).toBe(0x31)
      rig.lapicWrite(0, R.REG_ICR_LOW, SELF | 0x82)
      expect(rig.cpu.acknowledge(0)).toBe(0x82)
      expect(rig.lapicRead(0, R.REG_ISR + 0x10)).toBe(1 << 0x11)
      expect(rig.lapicRead(0, R.REG_ISR + 0x40)).toBe(1 << 2)
      rig.lapicWrite(0, R.REG_EOI, 0)
      expect(rig.lapicRead(0, R.REG_ISR + 0x40)).toBe(0)
      expect(rig.lapicRead(0, R.REG_ISR + 0x10)).toBe(1 << 0x11)
      rig.lapicWrite(0, R.REG_EOI, 0)
      expect(rig.lapicRead(0, R.REG_ISR + 0x10)).toBe(0)
    }))

  it("with vCPU 0's LINT0 in ExtINT mode, a PIC request is the CPU's interrupt and INTA comes from the PIC", () =>
    withRig(2, makeManualClock(), (rig) => {
      rig.pic.imr = 0
      rig.lines.line(1).set(true)
      expect(rig.cpu.hasInterrupt(0)).toBe(true)
      expect(rig.cpu.hasInterrupt(1)).toBe(false)
      expect(rig.cpu.acknowledge(0)).toBe(0x21)
      expect(rig.pic.acknowledged).toBe(1)
    }))

  it("once the OS masks LINT0 on an enabled LAPIC, the PIC no longer reaches the CPU", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.pic.imr = 0
      rig.enable(0)
      rig.lapicWrite(0, 0x350, 0x1_0700)
      rig.lines.line(1).set(true)
      expect(rig.cpu.hasInterrupt(0)).toBe(false)
      expect(rig.cpu.acknowledge(0)).toBe(-1)
    }))

  it("software-disabling masks every LVT, and LVT writes stay masked until it is enabled", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.lapicWrite(0, 0x320, 0x40)
      expect(rig.lapicRead(0, 0x320)).toBe(0x40)
      rig.lapicWrite(0, R.REG_SVR, 0xff)
      expect(rig.lapicRead(0, 0x320)).toBe(0x1_0040)
      expect(rig.lapicRead(0, 0x350)).toBe(0x1_0700)
      rig.lapicWrite(0, 0x320, 0x41)
      expect(rig.lapicRead(0, 0x320)).toBe(0x1_0041)
    }))

  it("bad sizes and offsets: reads give 0, writes do nothing; sub-dword reads see the register's bytes", () =>
    withRig(1, makeManualClock(), (rig) => {
      rig.lapicWrite(0, R.REG_TPR, 0xab)
      expect(rig.bus.mmioRead(LAPIC_BASE + R.REG_TPR, 1)).toBe(0xab)
      expect(rig.bus.mmioRead(LAPIC_BASE + R.REG_VERSION + 2, 1)).toBe(0x05)
      expect(rig.bus.mmioRead(LAPIC_BASE + R.REG_VERSION + 2, 4)).toBe(0)
      expect(rig.bus.mmioRead(LAPIC_BASE + R.REG_TPR, 8)).toBe(0n)
      rig.bus.mmioWrite(LAPIC_BASE + R.REG_TPR, 1, 0x12)
      rig.bus.mmioWrite(LAPIC_BASE + R.REG_TPR + 4, 4, 0x12)
      rig.bus.mmioWrite(LAPIC_BASE + R.REG_TPR, 8, 0x12n)
      expect(rig.lapicRead(0, R.REG_TPR)).toBe(0xab)
      rig.vcpu.set(7)
      expect(rig.bus.mmioRead(LAPIC_BASE + R.REG_VERSION, 4)).toBe(0)
    }))
})
