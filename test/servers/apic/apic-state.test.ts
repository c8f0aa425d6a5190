import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { makeManualClock, makeTimerQueue } from "../../../src/servers/DeviceClock.js"
import { IoapicState } from "../../../src/servers/apic/IoapicState.js"
import { LapicState, XapicSetState } from "../../../src/servers/apic/LapicState.js"
import * as R from "../../../src/servers/apic/LapicRegisters.js"
import { apply, CPUS, observe, ops, throughChunk } from "./ApicOps.js"
import { type Rig, withRig } from "./ApicRig.js"

const SEED = 20261206

/** A rig on a timer queue whose time the test moves: late callbacks fire once each, as the software CPU's runner fires them. */
const withQueueRig = <A>(startNs: number, body: (rig: Rig, advance: (ns: number) => void) => A): A => {
  let now = startNs
  const queue = makeTimerQueue(() => now)
  const advance = (ns: number) => {
    now += ns
    queue.fireDue(now)
  }
  return withRig(CPUS, queue, (rig) => body(rig, advance))
}

const copyState = (from: Rig, to: Rig) => {
  for (const server of from.servers) {
    const target = to.servers.find((s) => s.id === server.id)
    target?.restore(throughChunk(server))
  }
}

describe("APIC state", () => {
  it("the fresh states are valid and announced under their ids, kinds and versions", () =>
    withRig(2, makeManualClock(), (rig) => {
      expect(rig.servers.map((s) => [s.id, s.kind, s.stateVersion])).toEqual([["ioapic", "ioapic", 1], ["lapic", "xapic-set", 1]])
      expect(Schema.is(IoapicState)(rig.server("ioapic").save())).toBe(true)
      expect(Schema.is(XapicSetState(2))(rig.server("lapic").save())).toBe(true)
    }))

  it("a running timer restored on a clock at another absolute time keeps its phase", () => {
    const a = makeManualClock(1_000_000_000)
    withRig(1, a, (before) => {
      before.enable(0)
      before.lapicWrite(0, R.REG_LVT_TIMER, (1 << 17) | 0xec)
      before.lapicWrite(0, R.REG_TIMER_DIVIDE, 0b0011)
      before.lapicWrite(0, R.REG_TIMER_INITIAL, 62_500)
      a.advance(400_000)
      const b = makeManualClock(987_654_321_000)
      withRig(1, b, (after) => {
        copyState(before, after)
        expect(after.lapicRead(0, R.REG_TIMER_CURRENT)).toBe(62_500 - 25_000)
        b.advance(599_999)
        expect(after.cpu.hasInterrupt(0)).toBe(false)
        b.advance(1)
        expect(after.cpu.acknowledge(0)).toBe(0xec)
        after.lapicWrite(0, R.REG_EOI, 0)
        b.advance(1_000_000)
        expect(after.cpu.acknowledge(0)).toBe(0xec)
      })
    })
  })

  it("restoring cancels the timer it replaces", () => {
    const clock = makeManualClock()
    withRig(1, clock, (rig) => {
      const idle = rig.server("lapic").save()
      rig.enable(0)
      rig.lapicWrite(0, R.REG_LVT_TIMER, 0xec)
      rig.lapicWrite(0, R.REG_TIMER_INITIAL, 1000)
      rig.server("lapic").restore(throughChunk(rig.server("lapic"), idle))
      expect(clock.next()).toBe(Infinity)
    })
  })

  it("after a JSON round trip into another machine, at another time, the copy behaves exactly as the original", () => {
    FastCheck.assert(
      FastCheck.property(ops(80), ops(60), (before, after) =>
        withQueueRig(10_000, (original, advanceOriginal) => {
          for (const o of before) apply(original, o, advanceOriginal)
          withQueueRig(777_000_000_000, (copy, advanceCopy) => {
            copyState(original, copy)
            expect(observe(copy)).toEqual(observe(original))
            for (const o of after) {
              expect(apply(copy, o, advanceCopy), JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v))).toEqual(
                apply(original, o, advanceOriginal)
              )
              expect(observe(copy)).toEqual(observe(original))
            }
          })
        })
      ),
      { seed: SEED, numRuns: 150 }
    )
  })
})

describe("hostile APIC states are refused", () => {
  const ioapic = withRig(1, makeManualClock(), (rig) => Schema.encodeSync(IoapicState)(rig.server("ioapic").save() as IoapicState))
  const lapic = withRig(1, makeManualClock(), (rig) => (rig.server("lapic").save() as ReadonlyArray<LapicState>)[0])
  const entry = (low: number, high = 0) => ({ ...ioapic, redirectionTable: ioapic.redirectionTable.map((e, pin) => (pin === 3 ? { low, high } : e)) })
  const rejectsIoapic = (state: unknown) => expect(Either.isLeft(Schema.decodeUnknownEither(IoapicState)(state))).toBe(true)
  const rejectsLapic = (patch: Partial<Record<keyof LapicState, unknown>>) =>
    expect(Either.isLeft(Schema.decodeUnknownEither(LapicState)({ ...lapic, ...patch })), JSON.stringify(patch)).toBe(true)

  it("IOAPIC: live entries with an illegal vector or a reserved mode, reserved bits, remote IRR on an edge entry, bad sizes", () => {
    expect(Either.isRight(Schema.decodeUnknownEither(IoapicState)(entry(0x1_000f)))).toBe(true) // masked: anything goes
    rejectsIoapic(entry(0x0f))
    rejectsIoapic(entry((3 << 8) | 0x40))
    rejectsIoapic(entry((6 << 8) | 0x40))
    rejectsIoapic(entry(0x40 | (1 << 12)))
    rejectsIoapic(entry(0x40 | (1 << 20)))
    rejectsIoapic(entry(0x40 | (1 << 14)))
    rejectsIoapic(entry(0x40, 0x1234))
    rejectsIoapic({ ...ioapic, redirectionTable: ioapic.redirectionTable.slice(1) })
    rejectsIoapic({ ...ioapic, pinLevels: 1 << 24 })
    rejectsIoapic({ ...ioapic, id: 16 })
    rejectsIoapic({ ...ioapic, ioregsel: 256 })
    rejectsIoapic({ ...ioapic, id: 1.5 })
  })

  it("LAPIC: vectors 0-15 in IRR/ISR/TMR, wrong lengths, live LVTs it could not deliver, reserved bits, impossible timer and queues", () => {
    rejectsLapic({ irr: [1, 0, 0, 0, 0, 0, 0, 0] })
    rejectsLapic({ isr: [0, 0, 0, 0, 0, 0, 0] })
    rejectsLapic({ tmr: [0, 0, 0, 0, 0, 0, 0, 0, 0] })
    rejectsLapic({ svr: 0x1ff, lvt: { ...lapic.lvt, timer: 0x0e } })
    rejectsLapic({ svr: 0x1ff, lvt: { ...lapic.lvt, lint0: (1 << 8) | 0x40 } })
    rejectsLapic({ lvt: { ...lapic.lvt, timer: 0x40 } }) // unmasked while software-disabled
    rejectsLapic({ lvt: { ...lapic.lvt, error: 0x1_0700 } })
    rejectsLapic({ ldr: 0x0100_0001 })
    rejectsLapic({ dfr: 0 })
    rejectsLapic({ icrLow: 1 << 12 })
    rejectsLapic({ icrHigh: 1 })
    rejectsLapic({ id: 256 })
    rejectsLapic({ timer: { initialCount: 0, divideConfig: 0, running: true, elapsedNs: 0 } })
    rejectsLapic({ timer: { initialCount: 5, divideConfig: 4, running: false, elapsedNs: 0 } })
    rejectsLapic({ timer: { initialCount: 5, divideConfig: 0, running: true, elapsedNs: -1 } })
    rejectsLapic({ timer: { initialCount: 5, divideConfig: 0, running: true, elapsedNs: 1e300 } })
    rejectsLapic({ startup: [{ kind: "sipi", vector: 1 }, { kind: "init" }] })
    rejectsLapic({ startup: [{ kind: "sipi", vector: 1 }, { kind: "sipi", vector: 1 }, { kind: "sipi", vector: 1 }, { kind: "sipi", vector: 1 }] })
    rejectsLapic({ startup: [{ kind: "sipi", vector: 256 }] })
    expect(Either.isLeft(Schema.decodeUnknownEither(XapicSetState(2))([lapic]))).toBe(true)
  })
})
