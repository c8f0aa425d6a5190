import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { makeInputHub } from "./InputHub.js"
import type { SerialBackendHandle } from "./SerialBackend.js"
import { writeAll } from "./WriteFd.js"

/** The parts of process.stdin this backend uses; tests may pass a stand-in. */
export interface StdinLike {
  readonly isTTY?: boolean
  readonly isRaw?: boolean
  setRawMode?(mode: boolean): unknown
  on(event: "data", listener: (chunk: Buffer | string) => void): unknown
  off(event: "data", listener: (chunk: Buffer | string) => void): unknown
  resume(): unknown
  pause(): unknown
  ref?(): unknown
  unref?(): unknown
}

export interface StdioOptions {
  /** Defaults to process.stdin. On a worker thread, process.stdin is not the terminal: pass the real one or run this on the main thread. */
  readonly input?: StdinLike
  /** Defaults to 1. Written with fs.writeSync, which bypasses a worker's asynchronous process.stdout. */
  readonly outputFd?: number
}

/**
 * The terminal bhyve was started from. A TTY is put in raw mode so every key
 * (including ^C) reaches the guest, and restored on release; the stream is
 * then paused and unref'd so it does not keep the process alive.
 */
export const stdio = (options: StdioOptions = {}): Effect.Effect<SerialBackendHandle, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(() => open(options)), (handle) => Effect.sync(handle.close))

const setRaw = (input: StdinLike, mode: boolean) => {
  try {
    input.setRawMode?.(mode)
  } catch {
    // Not a real terminal after all (e.g. EIO on a hung-up tty): cooked input still works.
  }
}

const open = (options: StdioOptions): SerialBackendHandle => {
  const input: StdinLike = options.input ?? process.stdin
  const fd = options.outputFd ?? 1
  const hub = makeInputHub()
  const tty = input.isTTY === true
  const wasRaw = input.isRaw === true
  if (tty) setRaw(input, true)
  const onData = (chunk: Buffer | string) => hub.emit(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk)
  input.on("data", onData)
  input.ref?.()
  input.resume()
  let closed = false
  return {
    kind: "stdio",
    write: (bytes) => {
      if (!closed) writeAll(fd, bytes)
    },
    onInput: hub.subscribe,
    close: () => {
      if (closed) return
      closed = true
      input.off("data", onData)
      if (tty) setRaw(input, wasRaw)
      input.pause()
      input.unref?.()
    }
  }
}
