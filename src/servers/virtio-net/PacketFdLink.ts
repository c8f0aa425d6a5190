import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { errnoName } from "../../kernel/KvmError.js"
import type { NativeKvm } from "../../kernel/NativeKvm.js"
import { type NetBackend, NetBackendError } from "./NetBackend.js"

export interface PacketFdOptions {
  readonly native: NativeKvm
  /** An open packet fd (tap, datagram socket); the link owns it from now on and closes it. */
  readonly fd: number
  readonly kind: NetBackend["kind"]
  /** The backend as written on the command line, for messages. */
  readonly name: string
  /** Sends one frame; bytes sent or -errno. */
  readonly write: (fd: number, frame: Uint8Array) => number
  readonly report: (message: string) => void
  /** Runs after the fd is closed (removing a socket file). */
  readonly afterClose?: () => void
}

/** errnos that lose one frame as a wire would, not worth a report: peer not there yet, its queue full, link down. */
const ORDINARY_DROPS = new Set(["ENOENT", "ECONNREFUSED", "EAGAIN", "EWOULDBLOCK", "ENOBUFS", "EIO", "ENETDOWN"])

/**
 * A backend over a packet fd: a native reader thread delivers each frame
 * to the listeners on this thread's event loop (which the machine's loop
 * watch turns at once), sends are one synchronous write each. Closing (the
 * scope's end) stops the reader before the fd is closed.
 */
export const packetFdLink = (options: PacketFdOptions): Effect.Effect<NetBackend, NetBackendError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const { native, fd, name, report } = options
      const listeners = new Set<(frame: Uint8Array) => void>()
      let closed = false
      const reportedSend = new Set<string>()
      const reader = native.packetReaderStart(fd, (frame, errno) => {
        if (closed) return
        if (frame !== undefined) {
          for (const listener of listeners) listener(frame)
        } else {
          report(`virtio-net backend ${name}: receiving stopped: ${errnoName(-(errno ?? 0))}`)
        }
      })
      if (reader < 0) {
        native.close(fd)
        options.afterClose?.()
        return Effect.fail(new NetBackendError({ backend: name, reason: `cannot start its reader thread: ${errnoName(-reader)}` }))
      }
      const backend: NetBackend = {
        kind: options.kind,
        send: (frame) => {
          if (closed) return false
          const rc = options.write(fd, frame)
          if (rc >= 0) return true
          const error = errnoName(-rc)
          if (!ORDINARY_DROPS.has(error) && !reportedSend.has(error)) {
            reportedSend.add(error)
            report(`virtio-net backend ${name}: send failed: ${error} (frames dropped; reported once)`)
          }
          return false
        },
        onFrame: (listener) => {
          listeners.add(listener)
          return () => void listeners.delete(listener)
        },
        close: () => {
          if (closed) return
          closed = true
          listeners.clear()
          native.packetReaderStop(reader)
          native.close(fd)
          options.afterClose?.()
        }
      }
      return Effect.succeed(backend)
    }),
    (backend) => Effect.sync(backend.close)
  )
