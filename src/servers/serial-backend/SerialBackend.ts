import * as Data from "effect/Data"

/**
 * Where a UART's bytes go and come from. Everything is synchronous on the
 * device side: the UART calls `write` from the guest's exit handler, and input
 * is pushed to the listener whenever the host has some.
 */
export interface SerialBackendHandle {
  readonly kind: "stdio" | "file" | "socket" | "memory"
  /** Best effort: bytes the host cannot take right now are dropped, never queued without bound. */
  readonly write: (bytes: Uint8Array) => void
  /** Registers a listener for host input; returns a function that removes it. */
  readonly onInput: (listener: (bytes: Uint8Array) => void) => () => void
  /** Releases the host resources; idempotent. The scoped constructors call it on release. */
  readonly close: () => void
}

/** A backend could not be opened; `path` is "-" for stdio. */
export class SerialBackendError extends Data.TaggedError("SerialBackendError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `serial backend ${this.path}: ${this.reason}`
  }
}

/** Node's errors carry `code`; anything else is described by its string form. */
export const describeError = (error: unknown): string =>
  error instanceof Error ? ("code" in error && typeof error.code === "string" ? `${error.code}: ${error.message}` : error.message) : String(error)

export const errorCode = (error: unknown): string | undefined =>
  error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined
