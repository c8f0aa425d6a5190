import * as R from "./PmRegisters.js"
import type { PmState } from "./PmState.js"

/** A monotonic clock in milliseconds (fractional), e.g. performance.now; injected so tests control time. */
export type MonotonicClock = () => number

/** What a guest write asked the machine to do. */
export type PmAction = "poweroff" | undefined

/**
 * bhyve's ACPI fixed hardware (pm.c) as a pure state machine: PM1 status
 * and enable, PM1 control with the sleep request, and the PM timer. Writes
 * take a byte-lane mask so that partial accesses change only their bytes.
 */
export class PmDevice {
  private status = 0
  private enable = 0
  // ACPI mode from the start: the guest finds SCI_EN set and need not switch through SMI_CMD.
  private control = R.CNT_SCI_EN
  private timerOffset = 0

  constructor(private readonly clock: MonotonicClock) {}

  static fromState(state: PmState, clock: MonotonicClock): PmDevice {
    const device = new PmDevice(clock)
    device.restore(state)
    return device
  }

  readStatus(): number {
    return this.status
  }

  writeStatus(value: number, mask: number): void {
    this.status &= ~(value & mask & R.STS_WRITE_ONE_TO_CLEAR)
  }

  readEnable(): number {
    return this.enable
  }

  writeEnable(value: number, mask: number): void {
    this.enable = (this.enable & ~mask) | (value & mask & R.EN_WRITABLE)
  }

  readControl(): number {
    return this.control
  }

  /** Stores the control word; SLP_EN with SLP_TYP 5 (S5) asks for power-off, other sleep types are not supported and do nothing. */
  writeControl(value: number, mask: number): PmAction {
    const merged = (this.control & ~mask) | (value & mask)
    this.control = (this.control & R.CNT_SCI_EN) | (merged & R.CNT_STORED)
    if ((value & mask & R.CNT_SLP_EN) === 0) return undefined
    const type = (this.control & R.CNT_SLP_TYP) >> R.CNT_SLP_TYP_SHIFT
    return type === R.SLP_TYP_S5 ? "poweroff" : undefined
  }

  /** The 24-bit PM timer count. */
  readTimer(): number {
    return mod24(this.rawTicks() + this.timerOffset)
  }

  /** The host's power button: the guest sees PWRBTN_STS (and an SCI if it enabled one) and shuts down. */
  pressPowerButton(): void {
    this.status |= R.STS_PWRBTN
  }

  /** The SCI output (IRQ 9): any enabled status bit. */
  sciPending(): boolean {
    return (this.status & this.enable) !== 0
  }

  save(): PmState {
    return { status: this.status, enable: this.enable, control: this.control, timer: this.readTimer() }
  }

  restore(state: PmState): void {
    this.status = state.status
    this.enable = state.enable
    this.control = state.control
    this.timerOffset = state.timer - this.rawTicks()
  }

  private rawTicks(): number {
    return Math.floor(this.clock() * R.TIMER_TICKS_PER_MS)
  }
}

const mod24 = (n: number): number => ((n % R.TIMER_MODULUS) + R.TIMER_MODULUS) % R.TIMER_MODULUS
