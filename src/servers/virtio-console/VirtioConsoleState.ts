import * as Schema from "effect/Schema"
import { VirtioPciState } from "../virtio/VirtioPciState.js"
import { MAX_PENDING_INPUT } from "./VirtioConsoleDevice.js"

export const VIRTIO_CONSOLE_STATE_VERSION = 1

/** The transport, and the host input not yet delivered to the guest (at most MAX_PENDING_INPUT bytes, base64 in the snapshot). */
export const VirtioConsoleState = Schema.Struct({
  virtio: VirtioPciState,
  pendingInput: Schema.Uint8ArrayFromBase64.pipe(
    Schema.filter((b) => b.length <= MAX_PENDING_INPUT || `more than ${MAX_PENDING_INPUT} bytes of pending input`)
  )
}).annotations({ identifier: "VirtioConsoleState" })
export type VirtioConsoleState = typeof VirtioConsoleState.Type
