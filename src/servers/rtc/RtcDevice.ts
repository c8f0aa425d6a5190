import { fillMemorySize } from "./RtcMemorySize.js"
import * as R from "./RtcRegisters.js"
import { CMOS_SIZE, type RtcState } from "./RtcState.js"
import { decodeTime, encodeCell, encodeClock, encodeTime } from "./RtcTime.js"

/** Host wall-clock time in ms since the epoch; injected so tests control time. */
export type WallClock = () => number

export interface RtcOptions {
  readonly clock: WallClock
  /** Guest RAM below 4 GiB and above 4 GiB, in bytes, reported in the memory-size cells. */
  readonly lowmem: number
  readonly highmem: number
}

const SECONDS_PER_DAY = 86400
const isTimeCell = (cell: number) => R.TIME_REGISTERS.includes(cell)

/** The periodic interrupt's period for register A's rate select (32.768 kHz base), or undefined when off. */
const periodMs = (rate: number): number | undefined =>
  rate === 0 ? undefined : rate <= 2 ? 1000 / (rate === 1 ? 256 : 128) : 1000 / (65536 >> rate)

/**
 * An MC146818 RTC with 128 bytes of CMOS, as a pure state machine over an
 * injected clock. Time is UTC. Nothing runs on its own: the update, alarm
 * and periodic flags are brought up to date from the clock whenever the
 * guest touches the data port, which is when a polling guest looks.
 */
export class RtcDevice {
  private index = R.REG_D // bhyve's safe reset value
  private nmiMasked = false
  private readonly cmos = new Uint8Array(CMOS_SIZE)
  private offsetMs = 0
  private lastTickMs: number

  constructor(private readonly clock: WallClock) {
    this.cmos[R.REG_A] = R.A_RESET
    this.cmos[R.REG_B] = R.B_RESET
    this.lastTickMs = this.now()
  }

  static create(options: RtcOptions): RtcDevice {
    const device = new RtcDevice(options.clock)
    fillMemorySize(device.cmos, options.lowmem, options.highmem)
    return device
  }

  static fromState(state: RtcState, clock: WallClock): RtcDevice {
    const device = new RtcDevice(clock)
    device.restore(state)
    return device
  }

  /** Port 0x70: bits 0-6 select a cell; bit 7 is the chipset's NMI mask, not part of the index. */
  writeIndex(value: number): void {
    this.index = value & 0x7f
    this.nmiMasked = (value & 0x80) !== 0
  }

  /** Port 0x70 is write-only on a PC. */
  readIndex(): number {
    return 0xff
  }

  readData(): number {
    this.advance()
    const cell = this.index
    switch (cell) {
      case R.REG_A:
        return this.cmos[R.REG_A] | (this.updateInProgress() ? R.A_UIP : 0)
      case R.REG_C: {
        // Reading C acknowledges every flag and the interrupt.
        const value = this.cmos[R.REG_C]
        this.cmos[R.REG_C] = 0
        return value
      }
      case R.REG_D:
        return R.D_VRT // the battery is always good
    }
    if (isTimeCell(cell) && !this.holding()) return encodeCell(this.now(), this.cmos[R.REG_B], cell)
    return this.cmos[cell]
  }

  writeData(value: number): void {
    this.advance()
    const cell = this.index
    const v = value & 0xff
    switch (cell) {
      case R.REG_A:
        this.cmos[R.REG_A] = v & ~R.A_UIP
        return
      case R.REG_B:
        this.writeB(v)
        return
      case R.REG_C:
      case R.REG_D:
        return // read-only
    }
    if (isTimeCell(cell) && !this.holding()) {
      // Setting one field without SET: take the running time, change that field, and run on from there.
      this.latchTime(this.cmos[R.REG_B])
      this.cmos[cell] = v
      this.commitTime(this.cmos[R.REG_B])
      return
    }
    this.cmos[cell] = v
  }

  /** The IRQ 8 output: register C's IRQF. */
  interruptPending(): boolean {
    return (this.cmos[R.REG_C] & R.C_IRQF) !== 0
  }

  /** The NMI mask bit last written to port 0x70. */
  nmiMask(): boolean {
    return this.nmiMasked
  }

  save(): RtcState {
    return {
      index: this.index,
      nmiMasked: this.nmiMasked,
      cmos: Array.from(this.cmos),
      offsetMs: this.offsetMs,
      lastTickMs: this.lastTickMs
    }
  }

  restore(state: RtcState): void {
    this.index = state.index
    this.nmiMasked = state.nmiMasked
    this.cmos.set(state.cmos)
    this.offsetMs = state.offsetMs
    this.lastTickMs = state.lastTickMs
  }

  /** The guest's current time. */
  private now(): number {
    return this.clock() + this.offsetMs
  }

  /** While register B's SET bit is on, the clock is stopped and the time cells are plain memory. */
  private holding(): boolean {
    return (this.cmos[R.REG_B] & R.B_SET) !== 0
  }

  private latchTime(regB: number): void {
    for (const [cell, v] of encodeTime(this.now(), regB)) this.cmos[cell] = v
  }

  private commitTime(regB: number): void {
    this.offsetMs = decodeTime(this.cmos, regB) - this.clock()
    // A jump of the clock is not a run of elapsed seconds: no flags for it.
    this.lastTickMs = this.now()
  }

  private writeB(v: number): void {
    const before = this.cmos[R.REG_B]
    // Setting SET clears UIE (MC146818 datasheet).
    const after = (v & R.B_SET) !== 0 ? v & ~R.B_UIE : v
    if ((before & R.B_SET) === 0 && (after & R.B_SET) !== 0) this.latchTime(after)
    if ((before & R.B_SET) !== 0 && (after & R.B_SET) === 0) this.commitTime(after)
    this.cmos[R.REG_B] = after
    this.updateIrqf()
  }

  /** UIP is set during the 244 us before each second's end, when the divider runs and SET is off. */
  private updateInProgress(): boolean {
    if (this.holding() || (this.cmos[R.REG_A] & R.A_DIVIDER_MASK) !== R.A_DIVIDER_NORMAL) return false
    const intoSecond = ((this.now() % 1000) + 1000) % 1000
    return intoSecond >= 1000 - R.UPDATE_CYCLE_MS
  }

  /**
   * Sets the flags for what happened since the last look: seconds updated,
   * alarm seconds reached, periods elapsed. Every data access does it first;
   * the bus adapter also calls it alone so the server can signal a rising
   * IRQF before the access (a read of C) consumes it.
   */
  advance(): void {
    const now = this.now()
    const last = this.lastTickMs
    this.lastTickMs = now
    if (now <= last) return
    let flags = 0
    if (!this.holding()) {
      const from = Math.floor(last / 1000)
      const to = Math.floor(now / 1000)
      if (to > from) flags |= R.C_UF | (this.alarmBetween(from, to) ? R.C_AF : 0)
    }
    const period = periodMs(this.cmos[R.REG_A] & R.A_RATE_MASK)
    if (period !== undefined && Math.floor(now / period) > Math.floor(last / period)) flags |= R.C_PF
    if (flags !== 0) {
      this.cmos[R.REG_C] |= flags
      this.updateIrqf()
    }
  }

  /** Whether a second in (from, to] matches the alarm; a day covers every alarm, so at most a day is scanned. */
  private alarmBetween(from: number, to: number): boolean {
    const regB = this.cmos[R.REG_B]
    const start = Math.max(from + 1, to - SECONDS_PER_DAY + 1)
    for (let second = start; second <= to; second++) {
      if (this.alarmMatches(second, regB)) return true
    }
    return false
  }

  private alarmMatches(second: number, regB: number): boolean {
    const [s, m, h] = encodeClock(((second % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY, regB)
    // 11xxxxxx is "don't care": it matches every value.
    const matches = (alarm: number, value: number) => (alarm & 0xc0) === 0xc0 || alarm === value
    return (
      matches(this.cmos[R.SECONDS_ALARM], s) &&
      matches(this.cmos[R.MINUTES_ALARM], m) &&
      matches(this.cmos[R.HOURS_ALARM], h)
    )
  }

  /** IRQF = PF·PIE + AF·AIE + UF·UIE. */
  private updateIrqf(): void {
    const c = this.cmos[R.REG_C] & (R.C_PF | R.C_AF | R.C_UF)
    const b = this.cmos[R.REG_B]
    const irq =
      ((c & R.C_PF) !== 0 && (b & R.B_PIE) !== 0) ||
      ((c & R.C_AF) !== 0 && (b & R.B_AIE) !== 0) ||
      ((c & R.C_UF) !== 0 && (b & R.B_UIE) !== 0)
    this.cmos[R.REG_C] = c | (irq ? R.C_IRQF : 0)
  }
}
