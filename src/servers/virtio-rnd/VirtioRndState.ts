import * as Schema from "effect/Schema"
import { VirtioPciState } from "../virtio/VirtioPciState.js"

export const VIRTIO_RND_STATE_VERSION = 1

/** Requests complete inside the notify exit, so the transport is the whole state. */
export const VirtioRndState = Schema.Struct({ virtio: VirtioPciState }).annotations({ identifier: "VirtioRndState" })
export type VirtioRndState = typeof VirtioRndState.Type
