import * as Schema from "effect/Schema"

export const PM_STATE_VERSION = 1

const Word = Schema.Int.pipe(Schema.between(0, 0xffff))

/** ACPI PM1a event/control registers and the PM timer's count at the moment of the save. */
export const PmState = Schema.Struct({
  status: Word,
  enable: Word,
  control: Word,
  /** The 24-bit PM timer; a restored timer continues from this count. */
  timer: Schema.Int.pipe(Schema.between(0, 0xffffff))
}).annotations({ identifier: "PmState" })
export type PmState = typeof PmState.Type
