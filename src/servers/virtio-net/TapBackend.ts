import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { errnoName } from "../../kernel/KvmError.js"
import type { NativeKvm } from "../../kernel/NativeKvm.js"
import { type NetBackend, NetBackendError } from "./NetBackend.js"
import { packetFdLink } from "./PacketFdLink.js"

export interface TapOptions {
  readonly native: NativeKvm
  readonly name: string
  readonly report: (message: string) => void
}

const TUN_DEVICE = "/dev/net/tun"
/** TUNSETIFF = _IOW('T', 202, int), checked against linux/if_tun.h. */
const TUNSETIFF = 0x400454ca
const IFF_TAP = 0x0002
/** No 4-byte packet-information prefix: every read and write is exactly one Ethernet frame. */
const IFF_NO_PI = 0x1000
const O_NONBLOCK = 0x800
/** struct ifreq: ifr_name[16], then ifr_flags (u16) in the union. */
const IFREQ_SIZE = 40

const ifreq = (name: string): Uint8Array => {
  const bytes = new Uint8Array(IFREQ_SIZE)
  bytes.set(new TextEncoder().encode(name), 0)
  new DataView(bytes.buffer).setUint16(16, IFF_TAP | IFF_NO_PI, true)
  return bytes
}

const hint = (errno: string): string =>
  errno === "EPERM" ? " (creating or attaching a tap needs CAP_NET_ADMIN, or a persistent tap owned by this user: ip tuntap add NAME mode tap user USER)"
  : errno === "EBUSY" ? " (another process has it open)"
  : ""

/**
 * bhyve's `tapN`: a Linux tap interface (made if it does not exist, and
 * then gone when the machine ends, unless it was made persistent). The
 * host side configures it (`ip link set NAME up`, a bridge); until it is
 * up, frames the guest sends are dropped.
 */
export const tap = (options: TapOptions): Effect.Effect<NetBackend, NetBackendError, Scope.Scope> =>
  Effect.suspend(() => {
    const { native, name } = options
    const fd = native.open(TUN_DEVICE, O_NONBLOCK)
    if (fd < 0) {
      const e = errnoName(-fd)
      return Effect.fail(new NetBackendError({ backend: name, reason: `open ${TUN_DEVICE}: ${e}${hint(e)}` }))
    }
    const rc = native.ioctlBuffer(fd, TUNSETIFF, ifreq(name))
    if (rc < 0) {
      native.close(fd)
      const e = errnoName(-rc)
      return Effect.fail(new NetBackendError({ backend: name, reason: `TUNSETIFF ${name}: ${e}${hint(e)}` }))
    }
    return packetFdLink({ native, fd, kind: "tap", name, write: native.packetWrite, report: options.report })
  })
