import * as Schema from "effect/Schema"

/** Bumped, with a migration, whenever the saved shape changes. */
export const PCI_FUNCTION_STATE_VERSION = 1

/**
 * A function's conventional config space as the guest left it (256 bytes
 * in hex). BAR positions, the command register, the interrupt line and
 * capability control bits (MSI-X enable and mask) all live here. Restoring
 * applies the bytes through the same write masks as a guest write, so a
 * state file cannot change a device's identity or BAR types.
 */
export const PciFunctionState = Schema.Struct({
  config: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{512}$/))
}).annotations({ identifier: "PciFunctionState" })
export type PciFunctionState = typeof PciFunctionState.Type
