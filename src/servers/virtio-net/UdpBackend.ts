import * as dgram from "node:dgram"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type NetBackend, NetBackendError } from "./NetBackend.js"

export const LOOPBACK = "127.0.0.1"
/** Datagrams waiting in the socket's send queue at most; beyond it frames are dropped as a full NIC queue would. */
export const MAX_SEND_QUEUE = 1024

/**
 * One Ethernet frame per UDP datagram between two ports on 127.0.0.1: the
 * device binds `localPort` and sends to `peerPort`; datagrams from any other
 * source are ignored. (The unix backend does the same over AF_UNIX
 * sockets; this one needs no native code.)
 */
export const udp = (
  localPort: number,
  peerPort: number,
  /**
   * Called after each send: Node hands a datagram to the kernel only on the
   * event loop's next turn, so the machine asks for that turn now (a kick
   * of its own vCPU) instead of at the end of the time slice.
   */
  afterSend: () => void = () => {}
): Effect.Effect<NetBackend, NetBackendError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<NetBackend, NetBackendError>((resume) => {
      const name = `udp=${localPort}:${peerPort}`
      const sock = dgram.createSocket({ type: "udp4" })
      const onError = (error: Error) => {
        sock.close()
        resume(Effect.fail(new NetBackendError({ backend: name, reason: error.message })))
      }
      sock.once("error", onError)
      sock.bind(localPort, LOOPBACK, () => {
        sock.off("error", onError)
        resume(Effect.succeed(serve(sock, peerPort, afterSend)))
      })
    }),
    (backend) => Effect.sync(backend.close)
  )

const serve = (sock: dgram.Socket, peerPort: number, afterSend: () => void): NetBackend => {
  const listeners = new Set<(frame: Uint8Array) => void>()
  let closed = false
  sock.on("error", () => {
    // After binding, errors concern single datagrams (a peer not up yet): the link stays.
  })
  sock.on("message", (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (rinfo.address !== LOOPBACK || rinfo.port !== peerPort) return
    for (const listener of listeners) listener(msg)
  })
  return {
    kind: "udp",
    send: (frame) => {
      if (closed || sock.getSendQueueCount() >= MAX_SEND_QUEUE) return false
      sock.send(frame, peerPort, LOOPBACK, () => {
        // Errors (ECONNREFUSED while the peer is down) lose the frame, as on a wire.
      })
      afterSend()
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
