import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { makeInputHub } from "./InputHub.js"
import type { SerialBackendHandle } from "./SerialBackend.js"

/** A backend held in memory, for tests: collects output, lets the test type input. */
export interface MemoryBackend extends SerialBackendHandle {
  readonly output: () => Uint8Array
  readonly outputText: () => string
  readonly clearOutput: () => void
  /** Delivers bytes to the device as if typed on the host. */
  readonly push: (input: Uint8Array | string) => void
  readonly closed: () => boolean
}

export const makeMemory = (): MemoryBackend => {
  const hub = makeInputHub()
  let chunks: Array<Uint8Array> = []
  let closed = false
  const output = () => {
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
    let at = 0
    for (const c of chunks) {
      all.set(c, at)
      at += c.length
    }
    return all
  }
  return {
    kind: "memory",
    write: (bytes) => {
      if (!closed) chunks.push(Uint8Array.from(bytes))
    },
    onInput: hub.subscribe,
    close: () => {
      closed = true
    },
    output,
    outputText: () => new TextDecoder().decode(output()),
    clearOutput: () => {
      chunks = []
    },
    push: (input) => hub.emit(typeof input === "string" ? new TextEncoder().encode(input) : input),
    closed: () => closed
  }
}

export const memory = (): Effect.Effect<MemoryBackend, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(makeMemory), (backend) => Effect.sync(backend.close))
