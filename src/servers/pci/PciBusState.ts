import * as Schema from "effect/Schema"

export const PCI_BUS_STATE_VERSION = 1

/**
 * The host bridge's own state: the mechanism #1 address latch. A guest can
 * be paused between writing 0xCF8 and touching 0xCFC, so it is saved.
 */
export const PciBusState = Schema.Struct({
  configAddress: Schema.Int.pipe(Schema.between(0, 0xffffffff))
}).annotations({ identifier: "PciBusState" })
export type PciBusState = typeof PciBusState.Type
