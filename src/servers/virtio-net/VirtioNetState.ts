import * as Schema from "effect/Schema"
import { VirtioPciState } from "../virtio/VirtioPciState.js"

export const VIRTIO_NET_STATE_VERSION = 1

const Count = Schema.Int.pipe(Schema.nonNegative())

/**
 * The transport, the MAC the guest was shown, and the counters. Frames
 * received and not yet in the guest are not saved: they are lost, as
 * packets in flight are when a real NIC stops (counted in rxDropped).
 */
export const VirtioNetState = Schema.Struct({
  virtio: VirtioPciState,
  mac: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/)),
  counters: Schema.Struct({ txFrames: Count, txDropped: Count, rxFrames: Count, rxDropped: Count })
}).annotations({ identifier: "VirtioNetState" })
export type VirtioNetState = typeof VirtioNetState.Type
