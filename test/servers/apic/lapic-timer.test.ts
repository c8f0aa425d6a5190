import { describe, expect, it } from "@effect/vitest"
import { makeManualClock, makeTimerQueue } from "../../../src/servers/DeviceClock.js"
import * as R from "../../../src/servers/apic/LapicRegisters.js"
import { type Rig, withRig } from "./ApicRig.js"

const PERIODIC = 1 << 17
const DIVIDE_16 = 0b0011
const TIMER_VECTOR = 0xec

/** Takes the timer's interrupt if one is pending and ends it; whether there was one. */
const took = (rig: Rig): boolean => {
  if (!rig.cpu.hasInterrupt(0)) return false
  expect(rig.cpu.acknowledge(0)).toBe(TIMER_VECTOR)
  rig.lapicWrite(0, R.REG_EOI, 0)
  return true
}

const start = (rig: Rig, lvt: number, divide: number, count: number) => {
  rig.enable(0)
  rig.lapicWrite(0, R.REG_LVT_TIMER, lvt | TIMER_VECTOR)
  rig.lapicWrite(0, R.REG_TIMER_DIVIDE, divide)
  rig.lapicWrite(0, R.REG_TIMER_INITIAL, count)
}

describe("local APIC timer", () => {
  it("periodic at divide 16 with initial count 62500 fires exactly 1000 times in 1 s", () => {
    const clock = makeManualClock(123_456_789)
    withRig(1, clock, (rig) => {
      start(rig, PERIODIC, DIVIDE_16, 62_500)
      // Steps shorter than the 1 ms period, so no two expiries can hide in one IRR bit.
      let fired = 0
      for (let i = 0; i < 4000; i++) {
        clock.advance(250_000)
        if (took(rig)) fired++
      }
      expect(fired).toBe(1000)
    })
  })

  it("one-shot fires once", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => {
      start(rig, 0, 0b1011, 1000) // divide by 1: 1 us
      clock.advance(999)
      expect(took(rig)).toBe(false)
      clock.advance(1)
      expect(took(rig)).toBe(true)
      clock.advance(1_000_000)
      expect(took(rig)).toBe(false)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(0)
    })
  })

  it("the current count decreases with the clock at the divided rate, and restarts each period", () => {
    const clock = makeManualClock(5)
    withRig(1, clock, (rig) => {
      start(rig, PERIODIC, 0b0000, 200_000) // divide by 2: 2 ns a count, 400 us a period
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(200_000)
      clock.advance(21)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(199_990)
      clock.advance(399_979)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(200_000)
      clock.advance(399_998)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(1)
      expect(rig.lapicRead(0, R.REG_TIMER_INITIAL)).toBe(200_000)
    })
  })

  it("a masked timer counts but raises nothing", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => {
      start(rig, PERIODIC | (1 << 16), 0b1011, 1_000_000)
      clock.advance(10_000_000)
      expect(took(rig)).toBe(false)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(1_000_000)
    })
  })

  it("a callback that runs late by many periods raises one interrupt, and the next keeps the phase", () => {
    let now = 0
    const queue = makeTimerQueue(() => now)
    withRig(1, queue, (rig) => {
      start(rig, PERIODIC, 0b1011, 1_000_000) // 1 ms period
      now = 10_500_000
      expect(queue.fireDue(now)).toBe(1)
      expect(took(rig)).toBe(true)
      expect(took(rig)).toBe(false)
      expect(queue.next()).toBe(11_000_000)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(500_000)
    })
  })

  it("selecting TSC-deadline mode (not offered) reads back one-shot and stops the count", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => {
      start(rig, 0, 0b1011, 1000)
      rig.lapicWrite(0, R.REG_LVT_TIMER, (2 << 17) | TIMER_VECTOR)
      expect(rig.lapicRead(0, R.REG_LVT_TIMER)).toBe(TIMER_VECTOR)
      expect(rig.lapicRead(0, R.REG_TIMER_INITIAL)).toBe(0)
      clock.advance(10_000)
      expect(took(rig)).toBe(false)
    })
  })

  it("a periodic timer shorter than 200 us runs at 200 us (KVM's floor), its count reaching 0 early", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => {
      start(rig, PERIODIC, 0b1011, 1000) // asks for 1 us
      let fired = 0
      for (let i = 0; i < 100; i++) {
        clock.advance(10_000)
        if (took(rig)) fired++
      }
      expect(fired).toBe(5)
      clock.advance(5_000)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(0)
    })
  })

  it("writing 0 to the initial count stops the timer", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => {
      start(rig, PERIODIC, 0b1011, 1000)
      rig.lapicWrite(0, R.REG_TIMER_INITIAL, 0)
      clock.advance(10_000)
      expect(took(rig)).toBe(false)
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(0)
    })
  })

  it("a new divisor keeps the count reached and goes on at the new rate", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => {
      start(rig, 0, 0b1011, 1000) // divide by 1
      clock.advance(400)
      rig.lapicWrite(0, R.REG_TIMER_DIVIDE, 0b0000) // divide by 2
      expect(rig.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(600)
      clock.advance(1199)
      expect(took(rig)).toBe(false)
      clock.advance(1)
      expect(took(rig)).toBe(true)
    })
  })

  it("closing the layer cancels the timer", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => start(rig, PERIODIC, 0b1011, 1000))
    expect(clock.next()).toBe(Infinity)
  })
})

describe("local APIC timer at extreme clock values", () => {
  it("a periodic timer on a clock past 2^53 ns fires once per due time and always schedules ahead", () => {
    let now = 2 ** 60
    const queue = makeTimerQueue(() => now)
    withRig(1, queue, (rig) => {
      start(rig, PERIODIC, 0b1011, 300_000)
      for (let i = 0; i < 50; i++) {
        now += 1_000_000
        expect(queue.fireDue(now)).toBe(1)
        expect(queue.next()).toBeGreaterThan(now)
        expect(took(rig)).toBe(true)
      }
    })
  })
})
