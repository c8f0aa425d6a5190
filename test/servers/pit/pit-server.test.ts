import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Bus from "../../../src/bus/Bus.js"
import { makeManualClock, makeTimerQueue } from "../../../src/servers/DeviceClock.js"
import { DeviceServers } from "../../../src/servers/DeviceServer.js"
import { nsForTicks, PIT_HZ } from "../../../src/servers/pit/PitChannel.js"
import { PitState } from "../../../src/servers/pit/PitState.js"
import { LATCH_100HZ, machine, PORT_B, programBus } from "./PitTestKit.js"

const MS = 1_000_000
const S = 1_000_000_000

/** The time of the k-th rising edge of a periodic channel loaded at `loadNs` with count `n`. */
const edgeAt = (loadNs: number, n: number, k: number) => loadNs + nsForTicks(k * n)

const pitServer = Effect.flatMap(DeviceServers, (servers) => Effect.succeed(servers.find((s) => s.id === "pit")!))

describe("8254 server: IRQ 0", () => {
  it.effect("mode 2 with count 11932 gives one IRQ 0 edge every 10 ms: 100 edges in a second, on the exact PIT period", () => {
    const { clock, edges, layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      programBus(bus, 0, 2, LATCH_100HZ)
      clock.advance(S + 5 * MS)
      expect(edges.length).toBe(100)
      edges.forEach((t, i) => expect(t).toBe(edgeAt(0, LATCH_100HZ, i + 1)))
      // 11932 clocks are 10.00015086 ms: consecutive edges are 10000150 or 10000151 ns apart, never drifting.
      for (let i = 1; i < edges.length; i++) expect([10_000_150, 10_000_151]).toContain(edges[i] - edges[i - 1])
    }).pipe(Effect.provide(layer))
  })

  it.effect("over 100 s the edge count is exactly the number of whole PIT periods", () => {
    const { clock, edges, layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      programBus(yield* Bus.Bus, 0, 2, LATCH_100HZ)
      clock.advance(100 * S)
      expect(edges.length).toBe(Math.floor((100 * PIT_HZ) / LATCH_100HZ))
    }).pipe(Effect.provide(layer))
  })

  it.effect("mode 0 (one-shot) raises IRQ 0 once, at terminal count", () => {
    const { clock, edges, layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      programBus(yield* Bus.Bus, 0, 0, 1193)
      clock.advance(nsForTicks(1193) - 1)
      expect(edges).toEqual([])
      clock.advance(1)
      expect(edges).toEqual([nsForTicks(1193)])
      clock.advance(S)
      expect(edges.length).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a callback late by several periods delivers one edge and re-arms on the period grid after now", () => {
    let now = 0
    const queue = makeTimerQueue(() => now)
    const { edges, layer } = machine(queue)
    return Effect.gen(function* () {
      programBus(yield* Bus.Bus, 0, 2, LATCH_100HZ)
      now = 55 * MS // the runner was away for five and a half periods
      queue.fireDue(now)
      expect(edges).toEqual([55 * MS])
      expect(queue.next()).toBe(edgeAt(0, LATCH_100HZ, 6))
      now = queue.next()
      queue.fireDue(now)
      expect(edges.length).toBe(2)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a write after an edge fell due delivers that edge before reprogramming", () => {
    let now = 0
    const queue = makeTimerQueue(() => now)
    const { edges, layer } = machine(queue)
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      programBus(bus, 0, 0, 1193)
      now = 5 * MS // due at ~1 ms, the runner has not fired it yet
      programBus(bus, 0, 0, 1193)
      expect(edges).toEqual([5 * MS])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a control word that raises OUT 0 at once gives its edge, as the real chip's would", () => {
    const { clock, edges, layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      programBus(bus, 0, 0, 0xffff) // OUT low until terminal count
      clock.advance(MS)
      programBus(bus, 0, 2, LATCH_100HZ) // mode 2 starts with OUT high
      expect(edges).toEqual([MS])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a tiny period is bounded to one edge per 200 µs", () => {
    const { clock, edges, layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      programBus(yield* Bus.Bus, 0, 2, 2)
      clock.advance(10 * MS)
      expect(edges.length).toBeLessThanOrEqual(50)
      expect(edges.length).toBeGreaterThanOrEqual(49)
    }).pipe(Effect.provide(layer))
  })

  it.effect("port 0x61 bit 5 follows channel 2's OUT in mode 0 when gated", () => {
    const { clock, layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      bus.pioWrite(PORT_B, 1, (bus.pioRead(PORT_B, 1) & ~0x02) | 0x01)
      programBus(bus, 2, 0, 1193)
      clock.advance(nsForTicks(1193) - 1)
      expect(bus.pioRead(PORT_B, 1) & 0x20).toBe(0)
      clock.advance(1)
      expect(bus.pioRead(PORT_B, 1) & 0x20).toBe(0x20)
    }).pipe(Effect.provide(layer))
  })
})

describe("8254 server: save and restore", () => {
  it.effect("announces pit, kind i8254, state version 1", () => {
    const { layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      const server = yield* pitServer
      expect(server.kind).toBe("i8254")
      expect(server.stateVersion).toBe(1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("restored onto a clock at another absolute time, the next edge comes after the same remaining delay", () => {
    const a = machine(makeManualClock(0))
    const b = machine(makeManualClock(7_000_000_000_123))
    const savedAt = 23_456_789
    const remaining = edgeAt(0, LATCH_100HZ, 3) - savedAt
    return Effect.gen(function* () {
      const json = yield* Effect.gen(function* () {
        programBus(yield* Bus.Bus, 0, 2, LATCH_100HZ)
        a.clock.advance(savedAt)
        expect(a.edges.length).toBe(2)
        return JSON.stringify(Schema.encodeUnknownSync(PitState)((yield* pitServer).save()))
      }).pipe(Effect.provide(a.layer))
      expect(json).not.toContain("7000000000")
      yield* Effect.gen(function* () {
        ;(yield* pitServer).restore(Schema.decodeUnknownSync(PitState)(JSON.parse(json)))
        const restoredAt = b.clock.nowNs()
        b.clock.advance(remaining - 1)
        expect(b.edges).toEqual([])
        b.clock.advance(1)
        expect(b.edges).toEqual([restoredAt + remaining])
        b.clock.advance(11 * MS)
        expect(b.edges[1] - b.edges[0]).toBe(edgeAt(0, LATCH_100HZ, 4) - edgeAt(0, LATCH_100HZ, 3))
      }).pipe(Effect.provide(b.layer))
    })
  })

  it.effect("restore cancels the timer of the state it replaces", () => {
    const { clock, edges, layer } = machine(makeManualClock(0))
    return Effect.gen(function* () {
      const bus = yield* Bus.Bus
      const server = yield* pitServer
      const idle = server.save() // channel 0 in mode 3 from reset; replace with a stopped mode 0
      programBus(bus, 0, 2, LATCH_100HZ)
      bus.pioWrite(0x43, 1, 0x30)
      const stopped = server.save()
      server.restore(idle)
      server.restore(stopped)
      clock.advance(S)
      expect(edges).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("closing the layer's scope cancels the pending timer", () => {
    const clock = makeManualClock(0)
    const { layer } = machine(clock)
    return Effect.gen(function* () {
      yield* Effect.scoped(Effect.flatMap(Bus.Bus, (bus) => Effect.sync(() => programBus(bus, 0, 2, LATCH_100HZ))).pipe(Effect.provide(layer)))
      expect(clock.next()).toBe(Infinity)
    })
  })
})
