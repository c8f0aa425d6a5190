import * as Effect from "effect/Effect"
import { type BenchFailure, present } from "./Benchmark.js"
import type { LiveProcess } from "./LiveProcess.js"
import { longestGapWithin, longestTickGap } from "./TickGaps.js"

/** How long the guest runs untouched before each save: its quiet jitter is measured over this. */
export const QUIET_MS = 1_000
/** The guest must tick again within this after a save returns, or the bench fails: it would be stopped for good. */
const RESUME_TIMEOUT_MS = 60_000

export interface StallSample<A> {
  /** What the save returned. */
  readonly result: A
  /** From calling the save to its return, ms. */
  readonly elapsedMs: number
  /** Longest gap between tick lines over the QUIET_MS before the save. */
  readonly quietMs: number
  /** Longest gap between tick lines overlapping the save. */
  readonly stallMs: number
  /** Where that gap began, ms after the save was asked for (negative: before). */
  readonly stallFromMs: number
}

/**
 * Lets the guest run QUIET_MS, runs `save`, waits for its next tick line
 * and reads both gaps from the stamped lines. The bench's event loop does
 * nothing else meanwhile, so the stamps are as good while saving as before.
 */
export const measureStall = <A, E>(guest: LiveProcess, what: string, save: Effect.Effect<A, E>): Effect.Effect<StallSample<A>, E | BenchFailure> =>
  Effect.gen(function*() {
    yield* Effect.sleep(QUIET_MS)
    const t0 = performance.now()
    const result = yield* save
    const t1 = performance.now()
    const after = guest.lines().findIndex((l) => l.at > t1)
    yield* guest.waitForLine(`${what}: the guest running on`, /^tick \d+$/, RESUME_TIMEOUT_MS, after < 0 ? guest.lines().length : after)
    const lines = guest.lines()
    const quietMs = yield* present(longestGapWithin(lines, t0 - QUIET_MS, t0), what, `fewer than two tick lines in the ${QUIET_MS} ms before the save`)
    const stall = yield* present(longestTickGap(lines, t0, t1), what, "no tick lines around the save")
    const sample: StallSample<A> = { result, elapsedMs: t1 - t0, quietMs, stallMs: stall.ms, stallFromMs: stall.from - t0 }
    return sample
  })

/** The stall above the guest's own jitter, the figure the target bounds. */
export const stallAboveQuiet = (s: StallSample<unknown>): number => s.stallMs - s.quietMs
