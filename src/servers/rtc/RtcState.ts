import * as Schema from "effect/Schema"
import * as R from "./RtcRegisters.js"

export const RTC_STATE_VERSION = 1

export const CMOS_SIZE = 128

const Byte = Schema.Int.pipe(Schema.between(0, 255))

/**
 * Bounds on the two times below. The span of an ECMAScript date is
 * ±8.64e15 ms; any offset the device computes (from cells holding any byte
 * values: at most around the year 25800, minus the host clock) lies well
 * inside it, and the guest time (host clock plus offset) inside twice it,
 * where a time in seconds is still an exact integer. Beyond that `x + 1 === x`:
 * a hostile offsetMs of 1e300 made the alarm scan in RtcDevice.advance (one
 * second per step) never end, hanging the machine thread at the guest's
 * first RTC read. Stricter than v1 was, same stored form: the version stays 1.
 */
export const OFFSET_LIMIT_MS = 8.64e15
export const TIME_LIMIT_MS = 2 * OFFSET_LIMIT_MS

/** IRQF = PF·PIE + AF·AIE + UF·UIE, which RtcDevice keeps true after every access. */
const irqf = (regB: number, regC: number): boolean =>
  ((regC & R.C_PF) !== 0 && (regB & R.B_PIE) !== 0) ||
  ((regC & R.C_AF) !== 0 && (regB & R.B_AIE) !== 0) ||
  ((regC & R.C_UF) !== 0 && (regB & R.B_UIE) !== 0)

/**
 * Register invariants the device keeps whatever the guest writes, each
 * reported at its cell. Stricter than v1 was, over the same stored form:
 * the version stays 1.
 */
const registerIssues = (cmos: ReadonlyArray<number>): Array<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }> => {
  const a = cmos[R.REG_A]
  const b = cmos[R.REG_B]
  const c = cmos[R.REG_C]
  const issues: Array<{ path: ReadonlyArray<PropertyKey>; message: string }> = []
  const at = (cell: number, message: string) => issues.push({ path: ["cmos", cell], message })
  if ((a & R.A_UIP) !== 0) at(R.REG_A, "register A's UIP bit is computed, never stored")
  if ((b & R.B_SET) !== 0 && (b & R.B_UIE) !== 0) at(R.REG_B, "register B has SET and UIE both set (setting SET clears UIE)")
  if ((c & 0x0f) !== 0) at(R.REG_C, `register C bits 0-3 are always 0, got 0x${c.toString(16)}`)
  else if (((c & R.C_IRQF) !== 0) !== irqf(b, c)) at(R.REG_C, "register C's IRQF disagrees with its flags and register B's enables")
  return issues
}

/**
 * The MC146818 and its NVRAM. The running time is not stored as register
 * values but as an offset from the host's wall clock, so a restored guest's
 * clock keeps running with real time (as a battery-backed RTC would).
 */
export const RtcState = Schema.Struct({
  /** The register selected through port 0x70. */
  index: Schema.Int.pipe(Schema.between(0, CMOS_SIZE - 1)),
  /** Bit 7 of the last index write: the NMI mask the chipset keeps on this port. */
  nmiMasked: Schema.Boolean,
  /** All 128 cells. Time cells (0,2,4,6-9,0x32) matter only while register B's SET bit holds the clock; 0x0d is unused (D is constant). */
  cmos: Schema.Array(Byte).pipe(Schema.itemsCount(CMOS_SIZE)),
  /** Guest time minus host wall-clock time, in milliseconds. */
  offsetMs: Schema.Finite.pipe(Schema.between(-OFFSET_LIMIT_MS, OFFSET_LIMIT_MS)),
  /** Guest time at which the periodic/alarm/update flags were last brought up to date. */
  lastTickMs: Schema.Finite.pipe(Schema.between(-TIME_LIMIT_MS, TIME_LIMIT_MS))
}).pipe(
  Schema.filter((s) => registerIssues(s.cmos))
).annotations({ identifier: "RtcState" })
export type RtcState = typeof RtcState.Type
