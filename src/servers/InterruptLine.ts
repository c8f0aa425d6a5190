/**
 * A device's interrupt output. With KVM's in-kernel irqchip a line number
 * reaches both the PIC (lines 0-15) and the IOAPIC pin of the same number.
 */
export interface InterruptLine {
  readonly line: number
  /** Drive the line: level-triggered devices hold it while their condition lasts. */
  readonly set: (level: boolean) => void
}

/** A line that records its level, for tests of device state machines. */
export const recordingLine = (line: number): InterruptLine & { readonly levels: Array<boolean>; level: boolean } => {
  const rec = {
    line,
    levels: [] as Array<boolean>,
    level: false,
    set: (level: boolean) => {
      rec.level = level
      rec.levels.push(level)
    }
  }
  return rec
}
