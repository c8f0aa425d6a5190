import * as Schema from "effect/Schema"
import { VirtqueueState } from "./VirtqueueState.js"

export const VIRTIO_TRANSPORT_STATE_VERSION = 1

const U32 = Schema.Int.pipe(Schema.between(0, 0xffffffff))
const U16 = Schema.Int.pipe(Schema.between(0, 0xffff))

/**
 * The virtio transport as the driver left it: device status, negotiated
 * features, the common-config selectors, MSI-X vector for config changes,
 * the pending ISR bits and every queue. Device states embed it.
 */
export const VirtioTransportState = Schema.Struct({
  status: Schema.Int.pipe(Schema.between(0, 0xff)),
  deviceFeatureSelect: U32,
  driverFeatureSelect: U32,
  driverFeatures: Schema.BigInt.pipe(Schema.betweenBigInt(0n, 2n ** 64n - 1n)),
  configMsixVector: U16,
  queueSelect: U16,
  isr: Schema.Int.pipe(Schema.between(0, 3)),
  configGeneration: Schema.Int.pipe(Schema.between(0, 0xff)),
  queues: Schema.Array(VirtqueueState)
}).annotations({ identifier: "VirtioTransportState" })
export type VirtioTransportState = typeof VirtioTransportState.Type
