import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Socket } from "node:net"
import { errnoName } from "../kernel/KvmError.js"
import { loadNativeKvm, type PeerCredentials } from "../kernel/NativeKvm.js"

/**
 * Whether the process at the other end of a control socket connection may
 * control this VM: only processes of the user bhyve runs as (its effective
 * uid), and root.
 *
 * The kernel says who connected (SO_PEERCRED, through the native addon:
 * Node has no API for it), so this holds even where the filesystem does
 * not: an explicit `-o control.socket=PATH` in a shared directory, a socket
 * whose mode someone loosened. The 0700 directory and 0600 socket stay the
 * first lock (ControlSocketPath, ControlServer); this is the second.
 *
 * Root is let in because refusing it protects nothing: root can already
 * open the socket whatever its mode, ptrace bhyve or kill it, and
 * `sudo bhyvectl` against a user's VM is a normal thing to do. Any other uid
 * is refused, whatever its groups, with one line on stderr naming it.
 *
 * When the peer cannot be identified (no fd, getsockopt fails) the
 * connection is refused. Only when the native addon is missing altogether,
 * or too old to have peerCredentials (a build predating it), does this fall
 * back to the filesystem alone, and says so once: bhyve cannot run a VM
 * without the addon anyway, so that only concerns tools and tests that
 * serve a control socket without one.
 */

export const ROOT_UID = 0

export type PeerDecision =
  | { readonly allowed: true; readonly peer: PeerCredentials | undefined }
  | { readonly allowed: false; readonly reason: string }

export interface PeerPolicy {
  /** The uid that owns the VM: bhyve's effective uid. */
  readonly ownerUid: number
  /** SO_PEERCRED for an fd, or -errno; undefined when the platform cannot say (no addon). */
  readonly credentials: ((fd: number) => PeerCredentials | number) | undefined
  /** Where a refusal (or the fallback) is reported, one line each. */
  readonly log: (line: string) => void
}

/** The fd under a net.Socket (libuv's pipe handle keeps it); Node does not expose it publicly. */
export const socketFd = (socket: Socket): number | undefined => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : undefined
}

/** The decision alone, from what the kernel said (or failed to say) about the peer. */
export const decidePeer = (ownerUid: number, peer: PeerCredentials | number | undefined): PeerDecision => {
  if (peer === undefined) return { allowed: false, reason: "cannot identify the peer (the socket has no file descriptor)" }
  if (typeof peer === "number") return { allowed: false, reason: `cannot identify the peer (SO_PEERCRED failed: ${errnoName(-peer)})` }
  if (peer.uid === ownerUid || peer.uid === ROOT_UID) return { allowed: true, peer }
  return { allowed: false, reason: `uid ${peer.uid} (pid ${peer.pid}) is neither the VM's owner (uid ${ownerUid}) nor root` }
}

/** An authorizer for ControlServer: true to serve the connection, false to drop it (after logging why). */
export const makePeerAuthorizer = (policy: PeerPolicy): ((socket: Socket) => boolean) => {
  let warned = false
  return (socket) => {
    if (policy.credentials === undefined) {
      if (!warned) {
        warned = true
        policy.log("control socket: peer credentials are unavailable (native addon missing or too old); relying on the socket's file mode alone")
      }
      return true
    }
    const fd = socketFd(socket)
    const decision = decidePeer(policy.ownerUid, fd === undefined ? undefined : policy.credentials(fd))
    if (!decision.allowed) policy.log(`control socket: refused a connection: ${decision.reason}`)
    return decision.allowed
  }
}

const processUid = (): number => process.geteuid?.() ?? process.getuid?.() ?? -1

let defaultAuthorizer: ((socket: Socket) => boolean) | undefined

/** The process-wide authorizer: this process's euid, the native addon's SO_PEERCRED, refusals on stderr. */
export const authorizePeer = (socket: Socket): boolean => {
  if (defaultAuthorizer === undefined) {
    const native = Either.getOrUndefined(Effect.runSync(Effect.either(loadNativeKvm)))
    const credentials = typeof native?.peerCredentials === "function" ? native.peerCredentials : undefined
    defaultAuthorizer = makePeerAuthorizer({
      ownerUid: processUid(),
      credentials,
      log: (line) => process.stderr.write(`bhyve: ${line}\n`)
    })
  }
  return defaultAuthorizer(socket)
}
