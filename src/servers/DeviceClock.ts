import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/** Cancels a scheduled callback; harmless after it fired. */
export type CancelTimer = () => void

/**
 * Time for device models that keep it themselves (the 8254 PIT, the LAPIC
 * timer): a monotonic clock in nanoseconds and one-shot callbacks at a
 * given time. With the software CPU the runner owns it: it bounds every run
 * of guest code by the earliest deadline and fires what is due between runs,
 * on the vCPU's own thread, so a periodic timer is never late by more than
 * the instruction it interrupts. Tests use a manual clock.
 */
export interface DeviceClockService {
  /** Nanoseconds on a monotonic clock (host time for a running machine). */
  readonly nowNs: () => number
  /** Calls `fire` once, at the first run boundary at or after `atNs`. */
  readonly schedule: (atNs: number, fire: () => void) => CancelTimer
}

export class DeviceClock extends Context.Tag("bhyve-ts/DeviceClock")<DeviceClock, DeviceClockService>() {}

/** A scheduler that the owner drives: `next()` says when to wake, `fireDue(now)` runs what is due. */
export interface TimerQueue extends DeviceClockService {
  /** The earliest pending deadline, or Infinity. */
  readonly next: () => number
  /** Fires every callback due at `nowNs`, earliest first (a callback may schedule again). Returns how many fired. */
  readonly fireDue: (nowNs: number) => number
}

export const makeTimerQueue = (nowNs: () => number): TimerQueue => {
  // Few timers exist (a PIT channel, one LAPIC timer per vCPU): a sorted array beats a heap here.
  let entries: Array<{ at: number; fire: () => void; live: boolean }> = []
  return {
    nowNs,
    schedule: (atNs, fire) => {
      const entry = { at: atNs, fire, live: true }
      let i = entries.length
      while (i > 0 && entries[i - 1].at > atNs) i--
      entries.splice(i, 0, entry)
      return () => {
        entry.live = false
        entries = entries.filter((e) => e !== entry)
      }
    },
    next: () => (entries.length === 0 ? Infinity : entries[0].at),
    fireDue: (now) => {
      let fired = 0
      while (entries.length > 0 && entries[0].at <= now) {
        const entry = entries.shift()!
        if (!entry.live) continue
        entry.live = false
        fired++
        entry.fire()
      }
      return fired
    }
  }
}

/** A clock that only moves when a test says so. */
export const makeManualClock = (startNs = 0) => {
  let now = startNs
  const queue = makeTimerQueue(() => now)
  return {
    ...queue,
    /** Moves time forward to `now + ns`, firing each callback at its own time on the way. */
    advance: (ns: number) => {
      const target = now + ns
      while (queue.next() <= target) {
        now = Math.max(now, queue.next())
        queue.fireDue(now)
      }
      now = target
    }
  }
}

export const layer = (clock: DeviceClockService): Layer.Layer<DeviceClock> => Layer.succeed(DeviceClock, clock)
