import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { makeTimerQueue } from "../../../src/servers/DeviceClock.js"
import * as IoapicRegisters from "../../../src/servers/apic/IoapicRegisters.js"
import { IoapicState } from "../../../src/servers/apic/IoapicState.js"
import * as R from "../../../src/servers/apic/LapicRegisters.js"
import { LapicState, XapicSetState } from "../../../src/servers/apic/LapicState.js"
import { apply, CPUS, type Op, ops } from "./ApicOps.js"
import { type Rig, withRig } from "./ApicRig.js"

/*
 * The IOAPIC, the LAPICs and their delivery, driven by random traffic
 * with a fixed seed. After every step: nothing threw, a read returned a
 * value of the access's width, the step took bounded time, and both
 * servers' save() still encodes under their own schema (a save must never
 * fail because of what the guest did). Time moves as the software CPU's
 * runner moves it: in jumps, each due callback firing once, late.
 */

const SEED = 20261206
const STEP_MS = 5_000

const show = (o: Op) => JSON.stringify(o, (_, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))

const inWidth = (value: unknown, o: Op): boolean => {
  if (o.kind !== "lapic" && o.kind !== "ioapic") return true
  if (o.write) return value === undefined
  if (o.size === 8) return typeof value === "bigint" && value >= 0n && value < 2n ** 64n
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 2 ** (8 * o.size)
}

const withQueueRig = <A>(body: (rig: Rig, advance: (ns: number) => void) => A): A => {
  let now = 1_000
  const queue = makeTimerQueue(() => now)
  return withRig(CPUS, queue, (rig) =>
    body(rig, (ns) => {
      now += ns
      queue.fireDue(now)
    })
  )
}

const run = (rig: Rig, advance: (ns: number) => void, list: ReadonlyArray<Op>) => {
  for (const [i, o] of list.entries()) {
    const started = performance.now()
    const value = apply(rig, o, advance)
    const took = performance.now() - started
    expect(inWidth(value, o), `step ${i} (${show(o)}) gave ${String(value)}`).toBe(true)
    expect(took, `step ${i} (${show(o)}) took ${took.toFixed(1)} ms`).toBeLessThan(STEP_MS)
    for (const server of rig.servers) {
      const encoded = Schema.encodeEither(server.stateSchema)(server.save())
      expect(Either.isRight(encoded), `${server.id} after step ${i} (${show(o)}): ${String(Either.isLeft(encoded) ? encoded.left : "")}`).toBe(true)
    }
  }
}

/* States the schemas accept, built field by field (a filter-rejecting generator would almost never hit them). */
const u32 = FastCheck.integer({ min: 0, max: 0xffff_ffff })
const words = FastCheck.array(u32, { minLength: 8, maxLength: 8 }).map((w) => [(w[0] & 0xffff_0000) >>> 0, ...w.slice(1)])
const masked = (entry: number, issue: (e: number) => string | undefined, maskBit: number) => (issue(entry) === undefined ? entry : (entry | maskBit) >>> 0)

const lapicState = FastCheck.record({
  id: FastCheck.integer({ min: 0, max: 0xff }),
  tpr: FastCheck.integer({ min: 0, max: 0xff }),
  ldr: u32.map((v) => (v & R.LDR_WRITABLE) >>> 0),
  dfr: u32.map((v) => (v | R.DFR_RESERVED_ONES) >>> 0),
  svr: FastCheck.integer({ min: 0, max: R.SVR_WRITABLE }),
  isr: words,
  tmr: words,
  irr: words,
  esr: FastCheck.integer({ min: 0, max: 0xff }),
  pendingErrors: FastCheck.integer({ min: 0, max: 0xff }),
  icrLow: u32.map((v) => v & R.ICR_LOW_WRITABLE),
  icrHigh: u32.map((v) => (v & R.ICR_HIGH_WRITABLE) >>> 0),
  lvt: FastCheck.array(u32, { minLength: 6, maxLength: 6 }).map((raw) =>
    Object.fromEntries(R.LVT_NAMES.map((name, i) => [name, masked(raw[i] & R.LVT_WRITABLE[i], R.lvtEntryIssue, R.LVT_MASKED)]))
  ),
  timer: FastCheck.oneof(
    FastCheck.constant({ initialCount: 0, divideConfig: 0, running: false, elapsedNs: 0 }),
    FastCheck.record({
      initialCount: FastCheck.integer({ min: 1, max: 0xffff_ffff }),
      divideConfig: FastCheck.constantFrom(0, 1, 2, 3, 8, 9, 10, 11),
      running: FastCheck.constant(true),
      elapsedNs: FastCheck.oneof(FastCheck.integer({ min: 0, max: 10_000_000 }), FastCheck.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
    })
  ),
  nmiPending: FastCheck.boolean(),
  startup: FastCheck.tuple(FastCheck.boolean(), FastCheck.array(FastCheck.integer({ min: 0, max: 0xff }), { maxLength: 3 })).map(([init, sipis]) =>
    init ? [{ kind: "init" }, ...sipis.slice(0, 2).map((vector) => ({ kind: "sipi", vector }))] : sipis.map((vector) => ({ kind: "sipi", vector }))
  )
}).map((s) =>
  // A software-disabled LAPIC holds the sourced LVTs masked.
  (s.svr & R.SVR_ENABLED) !== 0 ? s : { ...s, lvt: { ...s.lvt, ...Object.fromEntries(["timer", "thermal", "perf", "error"].map((n) => [n, (s.lvt[n] | R.LVT_MASKED) >>> 0])) } }
)

const ioapicState = FastCheck.record({
  id: FastCheck.integer({ min: 0, max: 0xf }),
  ioregsel: FastCheck.integer({ min: 0, max: 0xff }),
  pinLevels: FastCheck.integer({ min: 0, max: 2 ** 24 - 1 }),
  redirectionTable: FastCheck.array(FastCheck.tuple(u32, u32, FastCheck.boolean()), { minLength: 24, maxLength: 24 }).map((entries) =>
    entries.map(([low, high, remote]) => {
      let l = masked(low & IoapicRegisters.RTE_LOW_WRITABLE, IoapicRegisters.liveEntryIssue, IoapicRegisters.RTE_MASKED)
      if (remote && IoapicRegisters.isLevelTriggered(l)) l = (l | IoapicRegisters.RTE_REMOTE_IRR) >>> 0
      return { low: l, high: (high & IoapicRegisters.RTE_HIGH_WRITABLE) >>> 0 }
    })
  )
})

describe("APIC servers under random traffic (fixed seed)", () => {
  it("no throw, reads of the access width, bounded steps, save() always encodes", () => {
    FastCheck.assert(
      FastCheck.property(ops(150), (list) => withQueueRig((rig, advance) => run(rig, advance, list))),
      { seed: SEED, numRuns: 200 }
    )
  })

  it("starting from any state the schemas accept, the same holds", () => {
    FastCheck.assert(
      FastCheck.property(ioapicState, FastCheck.array(lapicState, { minLength: CPUS, maxLength: CPUS }), ops(60), (ioapic, lapics, list) =>
        withQueueRig((rig, advance) => {
          rig.server("ioapic").restore(Schema.decodeUnknownSync(IoapicState)(ioapic))
          rig.server("lapic").restore(Schema.decodeUnknownSync(XapicSetState(CPUS))(lapics))
          run(rig, advance, list)
        })),
      { seed: SEED, numRuns: 200 }
    )
  })

  it("the generated states really are ones the schemas accept", () => {
    for (const s of FastCheck.sample(lapicState, { seed: SEED, numRuns: 200 })) expect(Schema.is(LapicState)(s)).toBe(true)
    for (const s of FastCheck.sample(ioapicState, { seed: SEED, numRuns: 200 })) expect(Schema.is(IoapicState)(s)).toBe(true)
  })
})
