import * as Schema from "effect/Schema"

export const RESET_CONTROL_STATE_VERSION = 1

/** The reset control register at 0xCF9, without RST_CPU (which acts and is gone). */
export const ResetControlState = Schema.Struct({
  value: Schema.Int.pipe(
    Schema.between(0, 255),
    Schema.filter((v) => (v & 0x04) === 0 || "RST_CPU is never stored")
  )
}).annotations({ identifier: "ResetControlState" })
export type ResetControlState = typeof ResetControlState.Type
