import * as Context from "effect/Context"

/**
 * The machine clock (QEMU's vm_clock): guest nanoseconds, host
 * CLOCK_MONOTONIC less an offset while the machine runs, standing still
 * while it is paused, so a pause or a slow save shows the guest no time
 * passing. Every time source the guest can compare derives from it: the
 * software CPU's TSC (the addon reads the same CLOCK_MONOTONIC with the
 * same offset, pushed to it on every change), the ACPI PM timer, the PIT
 * and LAPIC timers (DeviceClock.nowNs). A snapshot saves it once and a
 * restore sets it once, before any other state goes back.
 */
export interface MachineClockService {
  /** Guest nanoseconds. */
  readonly nowNs: () => number
  readonly running: () => boolean
  /** Stops the clock where it stands (the machine is paused); harmless when stopped. */
  readonly stop: () => void
  /** Runs the clock on from where it stands; harmless when running. */
  readonly start: () => void
  /** The clock reads `ns` (a whole number) from now on, running or stopped as it was (a restore). */
  readonly set: (ns: number) => void
  /** `follower` hears how the clock stands now and after every change (the one follower; a second replaces it). */
  readonly follow: (follower: ClockFollower) => void
}

export class MachineClock extends Context.Tag("bhyve-ts/MachineClock")<MachineClock, MachineClockService>() {}

/**
 * How the clock looks to whoever must follow it (the software CPU's addon):
 * running, `value` is host CLOCK_MONOTONIC ns less guest ns; stopped, the
 * guest ns it stands at.
 */
export type ClockFollower = (running: boolean, value: bigint) => void

// process.hrtime is CLOCK_MONOTONIC (libuv's uv_hrtime), the clock the addon reads.
const ORIGIN = process.hrtime.bigint()
/** Host monotonic ns since this module loaded: small enough to be exact in a double for 104 days. */
const hostNs = () => Number(process.hrtime.bigint() - ORIGIN)

/** A clock reading `startNs` now, running. */
export const makeMachineClock = (startNs = 0): MachineClockService => {
  let running = true
  // Running: guest ns = hostNs() - offset. Stopped: guest ns = frozen.
  let frozen = Math.floor(startNs)
  let offset = hostNs() - frozen
  let follower: ClockFollower | undefined
  const tell = () => follower?.(running, running ? ORIGIN + BigInt(offset) : BigInt(frozen))
  const nowNs = () => (running ? hostNs() - offset : frozen)
  return {
    nowNs,
    running: () => running,
    stop: () => {
      if (!running) return
      frozen = nowNs()
      running = false
      tell()
    },
    start: () => {
      if (running) return
      offset = hostNs() - frozen
      running = true
      tell()
    },
    set: (ns) => {
      // Whole nanoseconds: the follower is told them as a BigInt.
      const whole = Math.floor(ns)
      if (running) offset = hostNs() - whole
      else frozen = whole
      tell()
    },
    follow: (f) => {
      follower = f
      tell()
    }
  }
}
