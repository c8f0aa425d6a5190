import * as Schema from "effect/Schema"

const U32 = Schema.Int.pipe(Schema.between(0, 0xffffffff))

/** One MSI-X table entry: message address (two dwords), data, and vector control (bit 0: masked). */
export const MsixEntry = Schema.Struct({
  addressLow: U32,
  addressHigh: U32,
  data: U32,
  control: Schema.Int.pipe(Schema.between(0, 1))
})

/**
 * The MSI-X table and pending bits. Enable and function mask are in the
 * capability's message control register, saved with config space.
 */
export const MsixState = Schema.Struct({
  entries: Schema.Array(MsixEntry),
  pending: Schema.Array(Schema.Boolean)
}).pipe(Schema.filter((s) => s.entries.length === s.pending.length || "one pending bit per table entry"))
  .annotations({ identifier: "MsixState" })
export type MsixState = typeof MsixState.Type
