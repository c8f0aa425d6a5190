import { describe, expect, it } from "@effect/vitest"
import { makeManualClock } from "../../../src/servers/DeviceClock.js"
import { REG_ESR, REG_ICR_HIGH, REG_ICR_LOW, REG_LDR } from "../../../src/servers/apic/LapicRegisters.js"
import { withRig } from "./ApicRig.js"

const INIT = 5 << 8
const STARTUP = 6 << 8
const NMI = 4 << 8
const ASSERT = 1 << 14
const LEVEL = 1 << 15
const LOGICAL = 1 << 11
const ALL_EXCLUDING_SELF = 3 << 18
const ALL_INCLUDING_SELF = 2 << 18
const SELF = 1 << 18

describe("IPIs through the ICR", () => {
  it("a fixed IPI reaches the vCPU named in ICR high", () =>
    withRig(3, makeManualClock(), (rig) => {
      for (const cpu of [0, 1, 2]) rig.enable(cpu)
      rig.lapicWrite(0, REG_ICR_HIGH, 2 << 24)
      rig.lapicWrite(0, REG_ICR_LOW, 0xf3)
      expect([0, 1, 2].map((cpu) => rig.cpu.hasInterrupt(cpu))).toEqual([false, false, true])
      expect(rig.cpu.acknowledge(2)).toBe(0xf3)
      // Delivery status reads 0: the message was taken at once.
      expect(rig.lapicRead(0, REG_ICR_LOW)).toBe(0xf3)
    }))

  it("all-excluding-self reaches every other vCPU", () =>
    withRig(3, makeManualClock(), (rig) => {
      for (const cpu of [0, 1, 2]) rig.enable(cpu)
      rig.lapicWrite(1, REG_ICR_LOW, ALL_EXCLUDING_SELF | 0xf4)
      expect([0, 1, 2].map((cpu) => rig.cpu.hasInterrupt(cpu))).toEqual([true, false, true])
    }))

  it("all-including-self and self shorthands", () =>
    withRig(2, makeManualClock(), (rig) => {
      for (const cpu of [0, 1]) rig.enable(cpu)
      rig.lapicWrite(1, REG_ICR_LOW, SELF | 0xf5)
      expect([rig.cpu.hasInterrupt(0), rig.cpu.hasInterrupt(1)]).toEqual([false, true])
      rig.lapicWrite(1, REG_ICR_LOW, ALL_INCLUDING_SELF | 0xf6)
      expect(rig.cpu.acknowledge(0)).toBe(0xf6)
    }))

  it("a logical IPI in the cluster model reaches the LAPICs of that cluster whose bits match", () =>
    withRig(3, makeManualClock(), (rig) => {
      for (const cpu of [0, 1, 2]) {
        rig.enable(cpu)
        rig.lapicWrite(cpu, 0xe0, 0x0fff_ffff) // DFR: cluster model
      }
      rig.lapicWrite(0, REG_LDR, 0x11 << 24)
      rig.lapicWrite(1, REG_LDR, 0x12 << 24)
      rig.lapicWrite(2, REG_LDR, 0x21 << 24)
      rig.lapicWrite(0, REG_ICR_HIGH, 0x13 << 24)
      rig.lapicWrite(0, REG_ICR_LOW, LOGICAL | 0xf7)
      expect([0, 1, 2].map((cpu) => rig.cpu.hasInterrupt(cpu))).toEqual([true, true, false])
    }))

  it("INIT then SIPI come out of takeStartup in order; INIT de-assert is ignored", () =>
    withRig(2, makeManualClock(), (rig) => {
      rig.lapicWrite(0, REG_ICR_HIGH, 1 << 24)
      rig.lapicWrite(0, REG_ICR_LOW, INIT | ASSERT | LEVEL)
      rig.lapicWrite(0, REG_ICR_LOW, INIT | LEVEL)
      rig.lapicWrite(0, REG_ICR_LOW, STARTUP | 0x9f)
      rig.lapicWrite(0, REG_ICR_LOW, STARTUP | 0x9f)
      expect(rig.cpu.takeStartup(0)).toBeUndefined()
      expect(rig.cpu.takeStartup(1)).toEqual({ kind: "init" })
      expect(rig.cpu.takeStartup(1)).toEqual({ kind: "sipi", vector: 0x9f })
      expect(rig.cpu.takeStartup(1)).toEqual({ kind: "sipi", vector: 0x9f })
      expect(rig.cpu.takeStartup(1)).toBeUndefined()
    }))

  it("taking an INIT resets the LAPIC, keeping its ID", () =>
    withRig(2, makeManualClock(), (rig) => {
      rig.enable(1)
      rig.lapicWrite(1, REG_LDR, 0x4 << 24)
      rig.lapicWrite(0, REG_ICR_LOW, ALL_EXCLUDING_SELF | INIT | ASSERT)
      expect(rig.cpu.takeStartup(1)).toEqual({ kind: "init" })
      expect(rig.lapicRead(1, 0xf0)).toBe(0xff)
      expect(rig.lapicRead(1, REG_LDR)).toBe(0)
      expect(rig.lapicRead(1, 0x20)).toBe(1 << 24)
    }))

  it("an NMI IPI is taken through takeNmi", () =>
    withRig(2, makeManualClock(), (rig) => {
      rig.lapicWrite(0, REG_ICR_HIGH, 1 << 24)
      rig.lapicWrite(0, REG_ICR_LOW, NMI)
      expect(rig.cpu.takeNmi(0)).toBe(false)
      expect(rig.cpu.takeNmi(1)).toBe(true)
      expect(rig.cpu.takeNmi(1)).toBe(false)
    }))

  it("a fixed IPI with a vector below 16 is not sent, and the sender's ESR says so after an ESR write", () =>
    withRig(2, makeManualClock(), (rig) => {
      for (const cpu of [0, 1]) rig.enable(cpu)
      rig.lapicWrite(0, REG_ICR_HIGH, 1 << 24)
      rig.lapicWrite(0, REG_ICR_LOW, 0x0e)
      expect(rig.cpu.hasInterrupt(1)).toBe(false)
      expect(rig.lapicRead(0, REG_ESR)).toBe(0)
      rig.lapicWrite(0, REG_ESR, 0)
      expect(rig.lapicRead(0, REG_ESR)).toBe(1 << 5)
      rig.lapicWrite(0, REG_ESR, 0)
      expect(rig.lapicRead(0, REG_ESR)).toBe(0)
    }))

  it("a software-disabled LAPIC takes no fixed interrupts but still takes INIT", () =>
    withRig(2, makeManualClock(), (rig) => {
      rig.enable(0)
      rig.lapicWrite(0, REG_ICR_HIGH, 1 << 24)
      rig.lapicWrite(0, REG_ICR_LOW, 0xf0)
      expect(rig.cpu.hasInterrupt(1)).toBe(false)
      rig.lapicWrite(0, REG_ICR_LOW, INIT | ASSERT)
      expect(rig.cpu.takeStartup(1)).toEqual({ kind: "init" })
    }))
})
