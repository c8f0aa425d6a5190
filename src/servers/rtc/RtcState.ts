import * as Schema from "effect/Schema"

export const RTC_STATE_VERSION = 1

export const CMOS_SIZE = 128

const Byte = Schema.Int.pipe(Schema.between(0, 255))

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
  offsetMs: Schema.Finite,
  /** Guest time at which the periodic/alarm/update flags were last brought up to date. */
  lastTickMs: Schema.Finite
}).annotations({ identifier: "RtcState" })
export type RtcState = typeof RtcState.Type
