import * as Data from "effect/Data"

/** Where a virtio-net device's frames go and come from. */
export interface NetBackend {
  readonly kind: "none" | "udp" | "unix" | "tap"
  /** Sends one Ethernet frame (the bytes are the backend's from now on); false when it had to be dropped. */
  readonly send: (frame: Uint8Array) => boolean
  /** Registers the receiver of incoming frames; returns a function that removes it. */
  readonly onFrame: (listener: (frame: Uint8Array) => void) => () => void
  /** Idempotent. */
  readonly close: () => void
}

export class NetBackendError extends Data.TaggedError("NetBackendError")<{
  readonly backend: string
  readonly reason: string
}> {
  override get message() {
    return `virtio-net backend ${this.backend}: ${this.reason}`
  }
}

/** No backend: frames sent vanish (a cable plugged into nothing), nothing arrives. */
export const none = (): NetBackend => ({
  kind: "none",
  send: () => true,
  onFrame: () => () => {},
  close: () => {}
})
