import * as Schema from "effect/Schema"
import * as R from "./PmRegisters.js"

export const PM_STATE_VERSION = 1

const Word = Schema.Int.pipe(Schema.between(0, 0xffff))

/** A word whose bits all lie in `allowed`, as PmDevice keeps it whatever the guest writes. */
const WordOf = (allowed: number, what: string) =>
  Word.pipe(Schema.filter((w) => (w & ~allowed) === 0 || `${what} bits 0x${(w & ~allowed).toString(16)} are never set`))

/**
 * ACPI PM1a event/control registers and the PM timer's count at the moment
 * of the save. The bit checks are stricter than v1 was, over the same stored
 * form, so the version stays 1: they refuse only what PmDevice never produces.
 */
export const PmState = Schema.Struct({
  status: WordOf(R.STS_WRITE_ONE_TO_CLEAR, "PM1_STS"),
  enable: WordOf(R.EN_WRITABLE, "PM1_EN"),
  /** SCI_EN is always set (ACPI mode from the start; there is no SMI_CMD to leave it); SLP_EN is write-only. */
  control: WordOf(R.CNT_SCI_EN | R.CNT_STORED, "PM1_CNT").pipe(
    Schema.filter((w) => (w & R.CNT_SCI_EN) !== 0 || "PM1_CNT SCI_EN is always set")
  ),
  /** The 24-bit PM timer; a restored timer continues from this count. */
  timer: Schema.Int.pipe(Schema.between(0, 0xffffff))
}).annotations({ identifier: "PmState" })
export type PmState = typeof PmState.Type
