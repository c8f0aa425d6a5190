import * as Schema from "effect/Schema"
import { VirtioPciState } from "../virtio/VirtioPciState.js"

export const VIRTIO_BLK_STATE_VERSION = 1

/**
 * A virtio-blk device at a save: the transport, and no request in flight
 * (the save's quiesce waits for every one to complete, so the used ring in
 * the saved RAM already holds them). A state with requests in flight does
 * not encode: saving without quiescing fails loudly instead of losing I/O.
 */
export const VirtioBlkState = Schema.Struct({
  virtio: VirtioPciState,
  inFlight: Schema.Int.pipe(Schema.filter((n) => n === 0 || "requests were in flight at the save: the device was not quiesced"))
}).annotations({ identifier: "VirtioBlkState" })
export type VirtioBlkState = typeof VirtioBlkState.Type
