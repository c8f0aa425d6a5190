import * as Schema from "effect/Schema"
import * as R from "./IoapicRegisters.js"

/** Bumped, with a migration, whenever the saved shape changes. */
export const IOAPIC_STATE_VERSION = 1

const U32 = Schema.Int.pipe(Schema.between(0, 0xffff_ffff))

const hex = (n: number) => `0x${n.toString(16)}`

/** One redirection entry as its two register dwords. */
const RedirectionEntry = Schema.Struct({ low: U32, high: U32 }).annotations({ identifier: "RedirectionEntry" })

/** Why the device could never hold this entry; each rule is one the write path keeps. */
const entryIssue = (entry: typeof RedirectionEntry.Type): string | undefined => {
  const { low, high } = entry
  if ((low & ~(R.RTE_LOW_WRITABLE | R.RTE_REMOTE_IRR)) !== 0) return `low dword ${hex(low)} sets reserved or delivery-status bits`
  if ((high & ~R.RTE_HIGH_WRITABLE) !== 0) return `high dword ${hex(high)} sets bits below the destination`
  if ((low & R.RTE_REMOTE_IRR) !== 0 && !R.isLevelTriggered(low)) return "remote IRR is set on an entry that is not level-triggered"
  return R.liveEntryIssue(low)
}

/**
 * Everything an IOAPIC holds that the guest can observe, plus its input
 * pin levels (an edge needs the level it rises from; a level pin is sent
 * again on EOI while still asserted).
 */
export const IoapicState = Schema.Struct({
  /** Bits 24-27 of the ID register. */
  id: Schema.Int.pipe(Schema.between(0, 0xf)),
  ioregsel: Schema.Int.pipe(Schema.between(0, 0xff)),
  /** Bit n: pin n asserted. */
  pinLevels: Schema.Int.pipe(Schema.between(0, 2 ** R.IOAPIC_PINS - 1)),
  redirectionTable: Schema.Array(RedirectionEntry).pipe(Schema.itemsCount(R.IOAPIC_PINS))
}).pipe(
  Schema.filter((s) =>
    s.redirectionTable.flatMap((entry, pin) => {
      const issue = entryIssue(entry)
      return issue === undefined ? [] : [{ path: ["redirectionTable", pin], message: `redirection entry ${pin}: ${issue}` }]
    })
  )
).annotations({ identifier: "IoapicState" })
export type IoapicState = typeof IoapicState.Type
