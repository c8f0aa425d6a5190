import type { StampedLine } from "./LineClock.js"

/**
 * The guest's stalls as the host sees them: memwrite.elf prints `tick <n>`
 * every 0.5 ms of its own time, so the longest gap between two consecutive
 * tick lines' arrival stamps over a window is the longest time the guest
 * (or the path from its UART to this process) was stopped in it.
 */
const TICK = /^tick \d+$/

/** A gap between two consecutive tick lines: its length and its ends' arrival stamps, ms. */
export interface TickGap {
  readonly ms: number
  readonly from: number
  readonly to: number
}

/**
 * Longest gap between consecutive tick lines whose interval overlaps
 * [from, to]: a stall that began before `to` counts in full even if its
 * end came later. Undefined when fewer than two ticks bound the window.
 */
export const longestTickGap = (lines: ReadonlyArray<StampedLine>, from: number, to: number): TickGap | undefined => {
  let previous: number | undefined
  let longest: TickGap | undefined
  for (const line of lines) {
    if (!TICK.test(line.text)) continue
    if (previous !== undefined && line.at >= from && previous <= to && line.at - previous > (longest?.ms ?? -1)) {
      longest = { ms: line.at - previous, from: previous, to: line.at }
    }
    previous = line.at
    if (line.at > to) break
  }
  return longest
}

/** Longest gap, ms, between consecutive tick lines that both arrived within [from, to]: the guest's jitter when left alone. */
export const longestGapWithin = (lines: ReadonlyArray<StampedLine>, from: number, to: number): number | undefined => {
  const ticks = lines.filter((l) => l.at >= from && l.at <= to && TICK.test(l.text))
  let longest: number | undefined
  for (let i = 1; i < ticks.length; i++) longest = Math.max(longest ?? 0, ticks[i].at - ticks[i - 1].at)
  return longest
}
