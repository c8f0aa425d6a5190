import * as Schema from "effect/Schema"

const U16 = Schema.Int.pipe(Schema.between(0, 0xffff))
const U64 = Schema.BigInt.pipe(Schema.betweenBigInt(0n, 2n ** 64n - 1n))

/**
 * One split virtqueue: the registers the driver programmed and the device's
 * position in the rings. The rings themselves are in guest RAM, saved with it.
 */
export const VirtqueueState = Schema.Struct({
  size: Schema.Int.pipe(Schema.between(0, 32768)),
  enabled: Schema.Boolean,
  msixVector: U16,
  descAddr: U64,
  driverAddr: U64,
  deviceAddr: U64,
  lastAvailIdx: U16,
  usedIdx: U16,
  signalledUsedIdx: U16
}).annotations({ identifier: "VirtqueueState" })
export type VirtqueueState = typeof VirtqueueState.Type
