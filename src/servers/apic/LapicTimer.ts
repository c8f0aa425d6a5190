import type { CancelTimer, DeviceClockService } from "../DeviceClock.js"
import { DIVIDE_WRITABLE } from "./LapicRegisters.js"

/** The APIC bus clock: 1 GHz, so one count at divide-by-1 is one nanosecond (QEMU and KVM use the same rate). */
export const NS_PER_BUS_CYCLE = 1

/**
 * The shortest period a periodic timer gets: KVM's min_timer_period_us.
 * A guest asking for less (a count of 1 at divide 1 would be 1 ns) gets
 * this, so its timer cannot take every run boundary of its vCPU.
 */
export const MIN_PERIODIC_NS = 200_000

/** Divide configuration bits 0, 1, 3 -> 2, 4, 8, 16, 32, 64, 128, 1 (SDM figure 10-10). */
export const divisorOf = (divideConfig: number): number => {
  const code = (divideConfig & 3) | ((divideConfig & 8) >>> 1)
  return 1 << ((code + 1) & 7)
}

export interface LapicTimerState {
  readonly initialCount: number
  readonly divideConfig: number
  readonly running: boolean
  /** Nanoseconds since the count was loaded, or since the current period began: relative, so a restore on another clock continues. */
  readonly elapsedNs: number
}

/**
 * The LAPIC timer's counter. Nothing ticks: the count was loaded at
 * `startNs` and the current count is computed from the clock; the one
 * scheduled callback is the next expiry. A periodic expiry moves `startNs`
 * to the start of the current period, so a callback that runs late (the
 * vCPU was busy, the host was loaded) raises one interrupt, not a burst,
 * and the next one keeps the original phase.
 */
export class LapicTimer {
  private initialCount = 0
  private divideConfig = 0
  private divisor = divisorOf(0)
  private periodic = false
  private running = false
  private startNs = 0
  private cancel: CancelTimer | undefined = undefined

  constructor(
    private readonly clock: DeviceClockService,
    /** The count reached zero: the LAPIC raises the LVT timer interrupt. */
    private readonly expire: () => void
  ) {}

  /** LVT timer mode changed. A running count goes on in the new mode (the SDM disarms only on TSC-deadline changes). */
  setPeriodic(periodic: boolean): void {
    if (periodic === this.periodic) return
    this.periodic = periodic
    // The period may differ between the modes (the periodic floor): the next expiry moves with it.
    if (this.running) this.arm()
  }

  /** Writing the initial count (re)starts the count from it; writing 0 stops the timer. */
  writeInitialCount(count: number): void {
    this.initialCount = count >>> 0
    this.disarm()
    this.running = this.initialCount !== 0
    if (!this.running) return
    this.startNs = this.clock.nowNs()
    this.arm()
  }

  readInitialCount(): number {
    return this.initialCount
  }

  /** A new divisor applies from now: the count reached so far is kept and goes on at the new rate. */
  writeDivide(value: number): void {
    const config = value & DIVIDE_WRITABLE
    if (this.running) {
      const now = this.clock.nowNs()
      const counted = this.initialCount - this.currentCountAt(now)
      this.divisor = divisorOf(config)
      this.startNs = now - counted * this.divisor * NS_PER_BUS_CYCLE
      this.arm()
    } else {
      this.divisor = divisorOf(config)
    }
    this.divideConfig = config
  }

  readDivide(): number {
    return this.divideConfig
  }

  currentCount(): number {
    return this.running ? this.currentCountAt(this.clock.nowNs()) : 0
  }

  /** Stops the count (INIT, a TSC-deadline mode write): the initial count reads 0 as after a write of 0. */
  stop(): void {
    this.disarm()
    this.running = false
    this.initialCount = 0
  }

  /** Drops the scheduled callback, for good (the layer's scope closed). */
  dispose(): void {
    this.disarm()
  }

  save(): LapicTimerState {
    return {
      initialCount: this.initialCount,
      divideConfig: this.divideConfig,
      running: this.running,
      elapsedNs: this.running ? Math.max(0, Math.floor(this.clock.nowNs() - this.startNs)) : 0
    }
  }

  /** Cancels whatever was scheduled and arms the restored count, if it runs, on this clock. */
  restore(state: LapicTimerState, periodic: boolean): void {
    this.disarm()
    this.initialCount = state.initialCount
    this.divideConfig = state.divideConfig
    this.divisor = divisorOf(state.divideConfig)
    this.periodic = periodic
    this.running = state.running
    if (!this.running) return
    this.startNs = this.clock.nowNs() - state.elapsedNs
    this.arm()
  }

  private period(): number {
    const period = this.initialCount * this.divisor * NS_PER_BUS_CYCLE
    return this.periodic && period < MIN_PERIODIC_NS ? MIN_PERIODIC_NS : period
  }

  private currentCountAt(now: number): number {
    const period = this.period()
    const elapsed = Math.max(0, now - this.startNs)
    if (!this.periodic && elapsed >= period) return 0
    const within = this.periodic ? elapsed % period : elapsed
    // Under the periodic floor the count reaches 0 before the period ends, and stays there.
    return Math.max(0, this.initialCount - Math.floor(within / (this.divisor * NS_PER_BUS_CYCLE)))
  }

  private arm(): void {
    this.disarm()
    this.cancel = this.clock.schedule(this.startNs + this.period(), this.onDeadline)
  }

  private disarm(): void {
    if (this.cancel === undefined) return
    this.cancel()
    this.cancel = undefined
  }

  private readonly onDeadline = (): void => {
    this.cancel = undefined
    if (!this.running) return
    const period = this.period()
    const now = this.clock.nowNs()
    // A clock may fire a little early by its own rounding: wait for the real deadline (compared as the clock compares it).
    if (now < this.startNs + period) {
      this.arm()
      return
    }
    if (this.periodic) {
      this.startNs += Math.floor((now - this.startNs) / period) * period
      // Past 2^53 ns the sums round: never schedule at or before now, or a clock firing what is due would never finish.
      if (this.startNs + period <= now) this.startNs = now
      this.arm()
    } else {
      this.running = false
    }
    this.expire()
  }
}
