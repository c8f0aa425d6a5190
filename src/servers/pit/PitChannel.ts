import type { PitChannelState } from "./PitState.js"

/** The PC's PIT input clock: 14.31818 MHz / 12. */
export const PIT_HZ = 1_193_182
const NS_PER_S = 1_000_000_000

/**
 * Whole PIT clocks in `ns` nanoseconds. Split at the second so that no
 * product exceeds 2^53: `ns * PIT_HZ` would lose exactness after 87 days.
 */
export const ticksIn = (ns: number): number => {
  const s = Math.floor(ns / NS_PER_S)
  return s * PIT_HZ + Math.floor(((ns - s * NS_PER_S) * PIT_HZ) / NS_PER_S)
}

/** The first nanosecond at which `ticks` clocks have elapsed (inverse of ticksIn). */
export const nsForTicks = (ticks: number): number => {
  const s = Math.floor(ticks / PIT_HZ)
  return s * NS_PER_S + Math.ceil(((ticks - s * PIT_HZ) * NS_PER_S) / PIT_HZ)
}

/**
 * Saved elapsed times stay below this. 65536 s is 65536 * PIT_HZ clocks, a
 * whole number of 16-bit wraps, so a one-shot counter long past its terminal
 * count can drop whole multiples of it without a guest seeing the difference.
 */
const WRAP_NS = 65536 * NS_PER_S
export const MAX_SAVED_ELAPSED_NS = 2 * WRAP_NS

/** RW bits of the control word: how the count is read and written. */
export const ACCESS_LSB = 1
export const ACCESS_MSB = 2
export const ACCESS_WORD = 3

/** Modes 6 and 7 are modes 2 and 3 (the datasheet's X10, X11). */
const effective = (mode: number): number => (mode >= 6 ? mode - 4 : mode)
/** Modes in which GATE low stops the count (in 1 and 5 it is only a trigger). */
const gateDisables = (mode: number): boolean => mode !== 1 && mode !== 5
const triggered = (mode: number): boolean => mode === 1 || mode === 5

export type Phase = PitChannelState["phase"]

/**
 * One counter of the 8254, modelled as QEMU's i8254 does: nothing ticks;
 * the channel remembers the count and when counting started, and the count
 * and OUT are computed for the time asked. Time is always passed in (ns on
 * the device clock), so the counter is a pure state machine.
 *
 * Phases: "stopped" after a control word until a count is written (OUT at
 * the mode's initial level, the counting element frozen at `held`);
 * "armed" in modes 1 and 5 with a count written, until GATE rises;
 * "counting". A new count takes effect at once in every counting mode, as
 * in QEMU (the datasheet has modes 2 and 3 finish their period first).
 * BCD counting is refused: the BCD bit is ignored and reads back 0.
 */
export class PitChannel {
  private mode = 3
  private access = ACCESS_WORD
  /** N, the count the counting element runs with; 0 written means 65536. */
  private count = 0x10000
  /** The count register: the last count written (modes 1 and 5 load it at the trigger). */
  private initial = 0x10000
  private readMsb = false
  private writeMsb = false
  private writeLatch = 0
  /** Latched count bytes still to read: 0 none, 1 LSB, 2 MSB, 3 LSB then MSB. */
  private latchPending = 0
  private latched = 0
  private statusLatched = false
  private status = 0
  private nullCount = false
  private phase: Phase = "counting"
  /** The counting element while not counting. */
  private held = 0
  /** Clock time at which `count` was loaded, or null while GATE holds the count. */
  private runningSince: number | null
  /** Elapsed time while GATE holds the count. */
  private frozenNs = 0

  /** At reset, as QEMU: mode 3 with count 65536, counting from `nowNs` if GATE allows. */
  constructor(private gate: boolean, nowNs: number) {
    this.runningSince = gate ? nowNs : null
  }

  /** A control word for this counter (RW not 0): the mode and access are set and counting stops until a count is written. */
  writeControl(access: number, mode: number, nowNs: number): void {
    this.held = this.value(nowNs)
    this.access = access
    this.mode = mode
    this.readMsb = false
    this.writeMsb = false
    this.phase = "stopped"
    this.nullCount = true
    this.runningSince = null
    this.frozenNs = 0
  }

  /** Counter latch command; a second one before the latch is read is ignored. */
  latchCount(nowNs: number): void {
    if (this.latchPending !== 0) return
    this.latched = this.value(nowNs)
    this.latchPending = this.access
  }

  /** Read-back status: OUT, null count, RW, mode, BCD (always 0). Ignored while a status is already latched. */
  latchStatus(nowNs: number): void {
    if (this.statusLatched) return
    this.status = (this.out(nowNs) ? 0x80 : 0) | (this.nullCount ? 0x40 : 0) | (this.access << 4) | (this.mode << 1)
    this.statusLatched = true
  }

  read(nowNs: number): number {
    if (this.statusLatched) {
      this.statusLatched = false
      return this.status
    }
    if (this.latchPending !== 0) {
      const msb = this.latchPending === ACCESS_MSB
      this.latchPending = this.latchPending === ACCESS_WORD ? ACCESS_MSB : 0
      return msb ? this.latched >> 8 : this.latched & 0xff
    }
    const value = this.value(nowNs)
    let msb = this.access === ACCESS_MSB
    if (this.access === ACCESS_WORD) {
      msb = this.readMsb
      this.readMsb = !this.readMsb
    }
    return msb ? value >> 8 : value & 0xff
  }

  write(value: number, nowNs: number): void {
    const byte = value & 0xff
    if (this.access === ACCESS_LSB) return this.load(byte, nowNs)
    if (this.access === ACCESS_MSB) return this.load(byte << 8, nowNs)
    if (this.writeMsb) {
      this.writeMsb = false
      return this.load(this.writeLatch | (byte << 8), nowNs)
    }
    this.writeLatch = byte
    this.writeMsb = true
    // Mode 0: writing the first byte stops the count and drops OUT (Linux's one-shot relies on the second byte restarting it).
    if (effective(this.mode) === 0 && this.phase === "counting") {
      this.held = this.value(nowNs)
      this.phase = "stopped"
      this.nullCount = true
      this.runningSince = null
    }
  }

  setGate(level: boolean, nowNs: number): void {
    if (level === this.gate) return
    this.gate = level
    const mode = effective(this.mode)
    if (level) {
      // A rising GATE (re)triggers modes 1 and 5 and reloads modes 2 and 3; in 0 and 4 the count resumes.
      if (triggered(mode) && this.phase !== "stopped") {
        this.count = this.initial
        this.start(nowNs)
      } else if ((mode === 2 || mode === 3) && this.phase === "counting") this.start(nowNs)
      else if (this.phase === "counting" && this.runningSince === null) this.runningSince = nowNs - this.frozenNs
    } else if (gateDisables(mode) && this.phase === "counting" && this.runningSince !== null) {
      this.frozenNs = nowNs - this.runningSince
      this.runningSince = null
    }
  }

  get gateLevel(): boolean {
    return this.gate
  }

  /** The counting element (0 stands for 65536). */
  value(nowNs: number): number {
    if (this.phase !== "counting") return this.held
    const d = ticksIn(this.elapsed(nowNs))
    const n = this.count
    switch (effective(this.mode)) {
      case 2:
        return (n - (d % n)) & 0xffff
      case 3:
        // Mode 3 counts down by two, once per half period (QEMU's approximation for odd counts).
        return (n - ((2 * d) % n)) & 0xffff
      default:
        return (n - d) & 0xffff
    }
  }

  out(nowNs: number): boolean {
    const mode = effective(this.mode)
    if (this.phase === "stopped") return mode !== 0
    if (this.phase === "armed") return true
    const d = ticksIn(this.elapsed(nowNs))
    const n = this.count
    switch (mode) {
      case 0:
      case 1:
        return d >= n
      case 2:
        // Low for the one clock before each reload; GATE low forces it high.
        return !this.gate || d % n !== n - 1
      case 3:
        // High for the first half of each period (the longer half for odd counts).
        return !this.gate || d % n < (n + 1) >> 1
      default:
        // Modes 4 and 5: one low clock at terminal count.
        return d !== n
    }
  }

  /** When OUT next rises after `nowNs`, or undefined if it will not without a guest write or a GATE change. */
  nextRise(nowNs: number): number | undefined {
    if (this.phase !== "counting" || this.runningSince === null) return undefined
    const d = ticksIn(this.elapsed(nowNs))
    const n = this.count
    let tick: number
    switch (effective(this.mode)) {
      case 0:
      case 1:
        if (d >= n) return undefined
        tick = n
        break
      case 2:
      case 3:
        // A count of 1 is illegal in these modes: OUT never changes.
        if (n === 1) return undefined
        tick = (Math.floor(d / n) + 1) * n
        break
      default:
        if (d > n) return undefined
        tick = n + 1
    }
    return this.runningSince + nsForTicks(tick)
  }

  save(nowNs: number): PitChannelState {
    return {
      mode: this.mode,
      access: this.access,
      count: this.count,
      initial: this.initial,
      readMsb: this.readMsb,
      writeMsb: this.writeMsb,
      writeLatch: this.writeLatch,
      latchPending: this.latchPending,
      latched: this.latched,
      statusLatched: this.statusLatched,
      status: this.status,
      nullCount: this.nullCount,
      gate: this.gate,
      phase: this.phase,
      held: this.held,
      elapsedNs: this.phase === "counting" ? this.savedElapsed(nowNs) : 0
    }
  }

  /** Counting continues from the saved elapsed time, on whatever absolute time `nowNs` is here. */
  restore(s: PitChannelState, nowNs: number): void {
    this.mode = s.mode
    this.access = s.access
    this.count = s.count
    this.initial = s.initial
    this.readMsb = s.readMsb
    this.writeMsb = s.writeMsb
    this.writeLatch = s.writeLatch
    this.latchPending = s.latchPending
    this.latched = s.latched
    this.statusLatched = s.statusLatched
    this.status = s.status
    this.nullCount = s.nullCount
    this.gate = s.gate
    this.phase = s.phase
    this.held = s.held
    // GATE holds the count exactly when it is low in a mode it disables; nothing else stops a counting channel.
    const frozen = s.phase !== "counting" || (!s.gate && gateDisables(effective(s.mode)))
    this.runningSince = frozen ? null : nowNs - s.elapsedNs
    this.frozenNs = frozen && s.phase === "counting" ? s.elapsedNs : 0
  }

  private start(nowNs: number): void {
    this.phase = "counting"
    this.nullCount = false
    const held = !this.gate && gateDisables(effective(this.mode))
    this.runningSince = held ? null : nowNs
    this.frozenNs = 0
  }

  private load(raw: number, nowNs: number): void {
    const n = raw === 0 ? 0x10000 : raw
    this.initial = n
    if (triggered(effective(this.mode))) {
      // The count waits in the count register for the next GATE trigger.
      this.nullCount = true
      if (this.phase === "stopped") this.phase = "armed"
      return
    }
    this.count = n
    this.start(nowNs)
  }

  private elapsed(nowNs: number): number {
    return this.runningSince === null ? this.frozenNs : Math.max(0, nowNs - this.runningSince)
  }

  /**
   * The elapsed time reduced to below MAX_SAVED_ELAPSED_NS without changing
   * anything a guest can see: by whole periods of N seconds (N * PIT_HZ
   * clocks, a multiple of N) in the periodic modes, by whole 16-bit wraps
   * once a one-shot is long past its terminal count.
   */
  private savedElapsed(nowNs: number): number {
    const ns = this.elapsed(nowNs)
    const mode = effective(this.mode)
    if (mode === 2 || mode === 3) return ns % (this.count * NS_PER_S)
    return ns < MAX_SAVED_ELAPSED_NS ? ns : WRAP_NS + (ns % WRAP_NS)
  }
}
