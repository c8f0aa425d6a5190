import { describe, expect, it } from "@effect/vitest"
import { longestGapWithin, longestTickGap } from "../../bench/TickGaps.js"

/** Tick lines at these arrival times (ms), with other guest lines between them that must not count. */
const ticks = (...at: ReadonlyArray<number>) =>
  at.flatMap((t, i) => [{ text: `tick ${i + 1}`, at: t }, { text: `round ${i + 1}`, at: t + 0.1 }])

describe("the guest's stall read from its tick lines", () => {
  it("is the longest gap between consecutive ticks that overlaps the save", () => {
    // A 40 ms stall inside [100, 200]; the 99 ms before it and the 99.5 ms after it lie outside.
    expect(longestTickGap(ticks(0, 99, 99.5, 101, 141, 142, 170, 199, 200.5, 300), 100, 200)?.ms).toBe(40)
  })

  it("counts in full a stall that began before the save returned and ended after it, and says where it lay", () => {
    expect(longestTickGap(ticks(100, 100.5, 180, 260, 260.5), 100, 200)).toEqual({ ms: 80, from: 180, to: 260 })
  })

  it("counts a stall that began before the request and ended inside the save", () => {
    expect(longestTickGap(ticks(0, 90, 150, 150.5), 100, 200)?.ms).toBe(60)
  })

  it("ignores gaps wholly outside the save", () => {
    expect(longestTickGap(ticks(0, 50, 100.5, 101, 201, 260), 100.2, 200)?.ms).toBe(100)
  })

  it("has no value without two ticks around the window", () => {
    expect(longestTickGap(ticks(10), 100, 200)).toBeUndefined()
  })
})

describe("the guest's quiet jitter", () => {
  it("is the longest gap between ticks that both arrived inside the window", () => {
    // The gap from 990 to 1100 straddles the window's end: it belongs to the save, not the quiet.
    expect(longestGapWithin(ticks(0, 0.5, 7.5, 8, 990, 1100), 0, 1000)).toBe(982)
    expect(longestGapWithin(ticks(0, 0.5, 7.5, 8, 990, 1100), 0, 989)).toBe(7)
  })
})
