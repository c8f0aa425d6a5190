/**
 * One client connection on the server side: frames request lines, answers
 * them strictly in order (one reply line per request line), and survives the
 * client going away at any point — a reply for a client that has left is
 * simply dropped, while the request it asked for runs to completion (a
 * checkpoint should not be abandoned half-written because bhyvectl was
 * interrupted).
 */
import type { Socket } from "node:net"
import { makeLineFramer } from "./LineFramer.js"

export interface ConnectionLimits {
  readonly maxLineBytes: number
  /** Request lines a client may have waiting for replies; a client that never reads is cut off beyond it. */
  readonly maxQueuedLines: number
  /** The reply for a line over maxLineBytes, after which the connection is closed. */
  readonly overflowReply: string
}

export interface ControlConnection {
  readonly socket: Socket
  /** Resolves once every reply owed so far has been handed to the socket. */
  readonly drained: () => Promise<void>
}

/**
 * `respond` maps a request line to its reply line and should not reject; if
 * it does (the server is being torn down), that request goes unanswered.
 */
export const serveConnection = (
  socket: Socket,
  respond: (line: string) => Promise<string>,
  limits: ConnectionLimits
): ControlConnection => {
  const framer = makeLineFramer(limits.maxLineBytes)
  let tail: Promise<void> = Promise.resolve()
  let queued = 0

  const send = (text: string) => {
    if (!socket.destroyed && socket.writable) socket.write(text)
  }
  const after = (step: () => Promise<void> | void) => {
    tail = tail.then(step).catch(() => undefined)
  }
  const enqueue = (line: string) => {
    queued++
    after(() =>
      respond(line).then(send).finally(() => {
        queued--
      })
    )
  }

  const onData = (chunk: Buffer) => {
    const { lines, overflow } = framer.push(chunk)
    for (const line of lines) enqueue(line)
    if (overflow) {
      socket.off("data", onData)
      after(() => {
        send(limits.overflowReply)
        socket.end()
      })
    } else if (queued > limits.maxQueuedLines) {
      socket.destroy()
    }
  }
  socket.on("data", onData)
  // The server allows half-open connections, so `printf ... | nc -U` (which
  // shuts down its sending side first) still gets its replies; a last line
  // without a newline counts as a request.
  socket.on("end", () => {
    const last = framer.finish()
    if (last !== undefined) enqueue(last)
    after(() => {
      socket.end()
    })
  })
  // EPIPE/ECONNRESET from a departed client: there is no one left to tell.
  socket.on("error", () => undefined)

  return { socket, drained: () => tail }
}
