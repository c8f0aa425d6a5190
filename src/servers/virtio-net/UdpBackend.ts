import * as dgram from "node:dgram"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type NetBackend, NetBackendError } from "./NetBackend.js"

export const LOOPBACK = "127.0.0.1"
/** Datagrams waiting in the socket's send queue at most; beyond it frames are dropped as a full NIC queue would. */
export const MAX_SEND_QUEUE = 1024

/**
 * One Ethernet frame per UDP datagram between two ports on 127.0.0.1: the
 * device binds `localPort` and connects to `peerPort`, so the kernel drops
 * datagrams from any other source, and each send goes to the kernel at once
 * (an unconnected Node socket would wait for an event-loop turn to resolve
 * the address, i.e. for the vCPU's slice to end). (The unix backend does the
 * same over AF_UNIX sockets; this one needs no native code.)
 */
export const udp = (localPort: number, peerPort: number): Effect.Effect<NetBackend, NetBackendError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<NetBackend, NetBackendError>((resume) => {
      const name = `udp=${localPort}:${peerPort}`
      const sock = dgram.createSocket({ type: "udp4" })
      const onError = (error: Error) => {
        sock.close()
        resume(Effect.fail(new NetBackendError({ backend: name, reason: error.message })))
      }
      sock.once("error", onError)
      sock.bind(localPort, LOOPBACK, () =>
        sock.connect(peerPort, LOOPBACK, () => {
          sock.off("error", onError)
          resume(Effect.succeed(serve(sock)))
        }))
    }),
    (backend) => Effect.sync(backend.close)
  )

const serve = (sock: dgram.Socket): NetBackend => {
  const listeners = new Set<(frame: Uint8Array) => void>()
  let closed = false
  sock.on("error", () => {
    // After connecting, errors concern single datagrams (ECONNREFUSED while the peer is not up): the link stays.
  })
  sock.on("message", (msg: Buffer) => {
    for (const listener of listeners) listener(msg)
  })
  return {
    kind: "udp",
    send: (frame) => {
      if (closed || sock.getSendQueueCount() >= MAX_SEND_QUEUE) return false
      sock.send(frame, () => {
        // Errors (ECONNREFUSED while the peer is down) lose the frame, as on a wire.
      })
      return true
    },
    onFrame: (listener) => {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
    close: () => {
      if (closed) return
      closed = true
      listeners.clear()
      sock.close()
    }
  }
}
