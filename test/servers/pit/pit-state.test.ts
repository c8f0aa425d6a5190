import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Bus from "../../../src/bus/Bus.js"
import { makeTimerQueue } from "../../../src/servers/DeviceClock.js"
import { DeviceServers } from "../../../src/servers/DeviceServer.js"
import { PitDevice } from "../../../src/servers/pit/PitDevice.js"
import { PitState } from "../../../src/servers/pit/PitState.js"
import { controlWord, machine } from "./PitTestKit.js"

const SEED = 20261128
const MS = 1_000_000

type Op =
  | { readonly kind: "write"; readonly offset: number; readonly value: number }
  | { readonly kind: "read"; readonly offset: number }
  | { readonly kind: "writeB"; readonly value: number }
  | { readonly kind: "readB" }
  | { readonly kind: "wait"; readonly ns: number }

const byte = FastCheck.integer({ min: 0, max: 255 })
/** Control words a driver writes (modes, latch, read-back), mixed with random bytes. */
const control = FastCheck.oneof(
  byte,
  FastCheck.tuple(FastCheck.integer({ min: 0, max: 2 }), FastCheck.integer({ min: 0, max: 7 })).map(([c, m]) => controlWord(c, m)),
  FastCheck.constantFrom(0x00, 0x40, 0x80, 0xc2, 0xe2, 0xd4, 0xfe, 0x14, 0x24, 0x35)
)
/** From a clock tick to days: one-shot counters must survive long idle periods. */
const wait = FastCheck.oneof(
  { weight: 6, arbitrary: FastCheck.integer({ min: 0, max: 30 * MS }) },
  { weight: 1, arbitrary: FastCheck.integer({ min: 0, max: 3 * 86_400_000 * MS }) }
)
const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  FastCheck.record({ kind: FastCheck.constant("write" as const), offset: FastCheck.constant(3), value: control }),
  FastCheck.record({ kind: FastCheck.constant("write" as const), offset: FastCheck.integer({ min: 0, max: 2 }), value: byte }),
  FastCheck.record({ kind: FastCheck.constant("read" as const), offset: FastCheck.integer({ min: 0, max: 3 }) }),
  FastCheck.record({ kind: FastCheck.constant("writeB" as const), value: byte }),
  FastCheck.record({ kind: FastCheck.constant("readB" as const) }),
  FastCheck.record({ kind: FastCheck.constant("wait" as const), ns: wait })
)

/** Applies an operation at `now`; returns what the guest observed, or how far time moved. */
const apply = (pit: PitDevice, o: Op, now: number): number | undefined => {
  switch (o.kind) {
    case "write":
      pit.write(o.offset, o.value, now)
      return undefined
    case "read":
      return pit.read(o.offset, now)
    case "writeB":
      pit.writePortB(o.value, now)
      return undefined
    case "readB":
      return pit.readPortB(now)
    case "wait":
      return o.ns
  }
}

/** What a snapshot does with the state: encode, JSON text, parse, decode. */
const throughJson = (state: PitState): PitState =>
  Schema.decodeUnknownSync(PitState)(JSON.parse(JSON.stringify(Schema.encodeSync(PitState)(state))))

const rejects = (patch: (s: { channels: Array<Record<string, unknown>>; portB: unknown; refresh: unknown }) => void): boolean => {
  const state = JSON.parse(JSON.stringify(new PitDevice(0).save(0)))
  patch(state)
  return !Schema.is(PitState)(state)
}

describe("8254 state", () => {
  it("a fresh device's state is valid and holds no absolute time", () => {
    const state = new PitDevice(5e15).save(5e15 + 1234)
    expect(Schema.is(PitState)(state)).toBe(true)
    expect(state.channels[0].elapsedNs).toBe(1234)
  })

  it("restored on a clock at another absolute time, a device behaves exactly as the original from then on", () => {
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(op, { maxLength: 40 }),
        FastCheck.array(op, { maxLength: 40 }),
        FastCheck.integer({ min: 0, max: 2 ** 50 }),
        (before, after, offset) => {
          let now = 1_000
          const original = new PitDevice(now)
          for (const o of before) now += o.kind === "wait" ? o.ns : (apply(original, o, now), 0)
          const restored = PitDevice.fromState(throughJson(original.save(now)), now + offset)
          expect(restored.save(now + offset)).toEqual(original.save(now))
          for (const o of after) {
            expect(apply(restored, o, now + offset)).toEqual(apply(original, o, now))
            if (o.kind === "wait") now += o.ns
            for (const c of [0, 1, 2]) {
              expect(restored.out(c, now + offset)).toBe(original.out(c, now))
              const next = original.nextRise(c, now)
              expect(restored.nextRise(c, now + offset)).toBe(next === undefined ? undefined : next + offset)
            }
          }
        }
      ),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("rejects counts outside 1-65536", () => {
    expect(rejects((s) => (s.channels[0].count = 0))).toBe(true)
    expect(rejects((s) => (s.channels[1].initial = 0x10001))).toBe(true)
  })

  it("rejects modes, access modes and latches that do not exist", () => {
    expect(rejects((s) => (s.channels[0].mode = 8))).toBe(true)
    expect(rejects((s) => (s.channels[0].access = 0))).toBe(true)
    expect(rejects((s) => (s.channels[2].latchPending = 4))).toBe(true)
    expect(rejects((s) => (s.channels[2].latched = 0x10000))).toBe(true)
  })

  it("rejects elapsed times that are negative, not numbers or beyond the bound", () => {
    expect(rejects((s) => (s.channels[0].elapsedNs = -1))).toBe(true)
    expect(rejects((s) => (s.channels[0].elapsedNs = 1e300))).toBe(true)
    expect(rejects((s) => (s.channels[0].elapsedNs = null))).toBe(true)
    expect(rejects((s) => (s.channels[0].elapsedNs = "5"))).toBe(true)
  })

  it("rejects states the chip cannot be in", () => {
    expect(rejects((s) => (s.channels[0].phase = "armed"))).toBe(true) // mode 3 has no trigger wait
    expect(rejects((s) => ((s.channels[1].access = 1), (s.channels[1].readMsb = true)))).toBe(true)
    expect(rejects((s) => (s.channels[0].gate = false))).toBe(true) // GATE0 is tied high
    expect(rejects((s) => (s.portB = 0x01))).toBe(true) // GATE2 lives in channel 2
    expect(rejects((s) => (s.channels = s.channels.slice(0, 2)))).toBe(true)
  })
})

describe("8254 server fuzz", () => {
  const PORTS = [0x3f, 0x40, 0x41, 0x42, 0x43, 0x44, 0x60, 0x61, 0x62]
  type Step =
    | { readonly kind: "access"; readonly port: number; readonly size: 1 | 2 | 4; readonly write: boolean; readonly value: number }
    | { readonly kind: "tick"; readonly ns: number }
    | { readonly kind: "snapshot" }
  const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
    {
      weight: 10,
      arbitrary: FastCheck.record({
        kind: FastCheck.constant("access" as const),
        port: FastCheck.constantFrom(...PORTS),
        size: FastCheck.oneof({ weight: 6, arbitrary: FastCheck.constant(1 as const) }, { weight: 1, arbitrary: FastCheck.constantFrom(2 as const, 4 as const) }),
        write: FastCheck.boolean(),
        value: FastCheck.oneof(control, FastCheck.integer(), FastCheck.double())
      })
    },
    { weight: 3, arbitrary: FastCheck.record({ kind: FastCheck.constant("tick" as const), ns: wait }) },
    { weight: 1, arbitrary: FastCheck.record({ kind: FastCheck.constant("snapshot" as const) }) }
  )

  it("random port I/O, clock jumps and snapshots never throw, read values of the access's width, and never bunch IRQ 0 edges", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.array(step, { maxLength: 120 }), (steps) => {
        let now = 0
        const queue = makeTimerQueue(() => now)
        const m = machine(queue)
        Effect.runSync(
          Effect.scoped(
            Effect.gen(function* () {
              const bus = yield* Bus.Bus
              const pit = (yield* DeviceServers).find((s) => s.id === "pit")!
              for (const s of steps) {
                if (s.kind === "access") {
                  if (s.write) bus.pioWrite(s.port, s.size, s.value)
                  else {
                    const v = bus.pioRead(s.port, s.size)
                    expect(Number.isInteger(v) && v >= 0 && v < 2 ** (8 * s.size)).toBe(true)
                  }
                } else if (s.kind === "tick") {
                  const before = m.edges.length
                  now += s.ns
                  queue.fireDue(now)
                  expect(m.edges.length - before).toBeLessThanOrEqual(1)
                } else {
                  pit.restore(throughJson(pit.save() as PitState))
                }
                expect(Schema.is(PitState)(pit.save())).toBe(true)
              }
            }).pipe(Effect.provide(m.layer))
          )
        )
        expect(queue.next()).toBe(Infinity)
      }),
      { seed: SEED, numRuns: 300 }
    )
  })
})
