import * as R from "./RtcRegisters.js"

/**
 * Conversions between a time (UTC, ms since the epoch) and the RTC's time
 * cells, in the format register B selects: BCD or binary, 12- or 24-hour.
 */
const toBcd = (v: number): number => ((Math.floor(v / 10) % 10) << 4) | v % 10
const fromBcd = (v: number): number => (v >> 4) * 10 + (v & 0x0f)

export const encodeField = (v: number, regB: number): number => ((regB & R.B_BINARY) !== 0 ? v & 0xff : toBcd(v % 100))
export const decodeField = (v: number, regB: number): number => ((regB & R.B_BINARY) !== 0 ? v : fromBcd(v))

const encodeHour = (hour: number, regB: number): number => {
  if ((regB & R.B_24H) !== 0) return encodeField(hour, regB)
  // 12-hour mode: 1-12 with bit 7 for PM; midnight is 12 AM.
  return encodeField(hour % 12 || 12, regB) | (hour >= 12 ? 0x80 : 0)
}

const decodeHour = (raw: number, regB: number): number => {
  if ((regB & R.B_24H) !== 0) return decodeField(raw, regB)
  return (decodeField(raw & 0x7f, regB) % 12) + ((raw & 0x80) !== 0 ? 12 : 0)
}

/** Seconds, minutes and hour cells for a second of the (UTC) day: cheap enough to scan a day of alarm candidates. */
export const encodeClock = (secondOfDay: number, regB: number): readonly [number, number, number] => [
  encodeField(secondOfDay % 60, regB),
  encodeField(Math.floor(secondOfDay / 60) % 60, regB),
  encodeHour(Math.floor(secondOfDay / 3600), regB)
]

/** The time cells for `ms`, as a cell number -> value list. */
export const encodeTime = (ms: number, regB: number): Array<readonly [number, number]> => {
  const d = new Date(ms)
  const year = d.getUTCFullYear()
  return [
    [R.SECONDS, encodeField(d.getUTCSeconds(), regB)],
    [R.MINUTES, encodeField(d.getUTCMinutes(), regB)],
    [R.HOURS, encodeHour(d.getUTCHours(), regB)],
    [R.DAY_OF_WEEK, encodeField(d.getUTCDay() + 1, regB)],
    [R.DAY_OF_MONTH, encodeField(d.getUTCDate(), regB)],
    [R.MONTH, encodeField(d.getUTCMonth() + 1, regB)],
    [R.YEAR, encodeField(year % 100, regB)],
    [R.CENTURY, encodeField(Math.floor(year / 100), regB)]
  ]
}

/** The value of one time cell for `ms`. */
export const encodeCell = (ms: number, regB: number, cell: number): number => {
  for (const [c, v] of encodeTime(ms, regB)) if (c === cell) return v
  return 0
}

/**
 * The time the cells spell. Out-of-range values (a guest can write anything)
 * roll over as Date does, so the result is always a finite time; the
 * day-of-week cell is ignored, as it follows from the date.
 */
export const decodeTime = (cells: ArrayLike<number>, regB: number): number => {
  const dec = (cell: number) => decodeField(cells[cell], regB)
  const d = new Date(0)
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  d.setUTCFullYear(dec(R.CENTURY) * 100 + dec(R.YEAR), dec(R.MONTH) - 1, dec(R.DAY_OF_MONTH))
  d.setUTCHours(decodeHour(cells[R.HOURS], regB), dec(R.MINUTES), dec(R.SECONDS), 0)
  return d.getTime()
}
