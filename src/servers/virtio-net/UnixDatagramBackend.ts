import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { lstatSync, unlinkSync } from "node:fs"
import { errnoName } from "../../kernel/KvmError.js"
import type { NativeKvm } from "../../kernel/NativeKvm.js"
import { type NetBackend, NetBackendError } from "./NetBackend.js"
import { packetFdLink } from "./PacketFdLink.js"

export interface UnixDatagramOptions {
  readonly native: NativeKvm
  readonly localPath: string
  readonly peerPath: string
  readonly report: (message: string) => void
}

const ECONNREFUSED = "ECONNREFUSED"

/**
 * What is at `path` before we bind there: nothing, a socket file nobody
 * is bound to any more (a VM that died without cleaning up: removed), or
 * something we must not take (a live socket, any other file).
 */
const clearStaleSocket = (native: NativeKvm, path: string, name: string): NetBackendError | undefined => {
  let isSocket: boolean
  try {
    isSocket = lstatSync(path).isSocket()
  } catch {
    return undefined
  }
  if (!isSocket) return new NetBackendError({ backend: name, reason: `${path} exists and is not a socket` })
  const probe = native.unixDatagramSocket()
  if (probe < 0) return new NetBackendError({ backend: name, reason: `socket(AF_UNIX, SOCK_DGRAM): ${errnoName(-probe)}` })
  const rc = native.unixConnect(probe, path)
  native.close(probe)
  if (rc === 0) return new NetBackendError({ backend: name, reason: `${path} is in use by another process` })
  if (errnoName(-rc) !== ECONNREFUSED) return new NetBackendError({ backend: name, reason: `${path}: ${errnoName(-rc)}` })
  try {
    unlinkSync(path)
    return undefined
  } catch (e) {
    return new NetBackendError({ backend: name, reason: `cannot remove the stale socket ${path}: ${(e as NodeJS.ErrnoException).code}` })
  }
}

/**
 * One Ethernet frame per datagram on an AF_UNIX socket bound at
 * `localPath`, sent to whatever socket is bound at `peerPath`: two VMs
 * naming each other's paths share a link, with no privileges (QEMU's
 * `-netdev dgram` with unix addresses does the same). Frames sent while
 * the peer is absent or its queue is full are lost, as on a wire. The
 * socket file is removed when the machine ends, if it is still ours.
 */
export const unixDatagram = (options: UnixDatagramOptions): Effect.Effect<NetBackend, NetBackendError, Scope.Scope> =>
  Effect.suspend(() => {
    const { native, localPath, peerPath } = options
    const name = `unix=${localPath}:${peerPath}`
    const stale = clearStaleSocket(native, localPath, name)
    if (stale !== undefined) return Effect.fail(stale)
    const fd = native.unixDatagramSocket()
    if (fd < 0) return Effect.fail(new NetBackendError({ backend: name, reason: `socket(AF_UNIX, SOCK_DGRAM): ${errnoName(-fd)}` }))
    const rc = native.unixBind(fd, localPath)
    if (rc < 0) {
      native.close(fd)
      return Effect.fail(new NetBackendError({ backend: name, reason: `bind ${localPath}: ${errnoName(-rc)}` }))
    }
    const inode = lstatSync(localPath).ino
    const removeOurSocket = () => {
      try {
        if (lstatSync(localPath).ino === inode) unlinkSync(localPath)
      } catch {
        // Already gone.
      }
    }
    return packetFdLink({
      native,
      fd,
      kind: "unix",
      name,
      write: (socket, frame) => native.unixSendTo(socket, peerPath, frame),
      report: options.report,
      afterClose: removeOurSocket
    })
  })
