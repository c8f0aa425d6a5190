import { createHash } from "node:crypto"
import * as Either from "effect/Either"
import { formatPciAddress, type PciAddress } from "../pci/PciAddress.js"

export type NetBackendConfig =
  | { readonly _tag: "none" }
  | { readonly _tag: "udp"; readonly localPort: number; readonly peerPort: number }
  | { readonly _tag: "unix"; readonly localPath: string; readonly peerPath: string }
  | { readonly _tag: "tap"; readonly name: string }

export interface VirtioNetOptions {
  /** The MAC the guest sees, "xx:xx:xx:xx:xx:xx" lower case. */
  readonly mac: string
  readonly backend: NetBackendConfig
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** bytes of a well-formed MAC string. */
export const macBytes = (mac: string): Uint8Array => Uint8Array.from(mac.split(":").map((h) => parseInt(h, 16)))

export const formatMac = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":")

/**
 * A stable MAC for the slot: locally administered (0x02 in the first
 * byte), unicast, the rest from an MD5 of the PCI address. bhyve hashes
 * "slot-func-vmname" under its 00:a0:98 OUI; the emulation table does not
 * see the VM name here, so two VMs with virtio-net in the same slot get the
 * same default MAC: give `mac=` when they share a link.
 */
export const defaultMac = (address: PciAddress): string => {
  const h = createHash("md5").update(`virtio-net-${formatPciAddress(address)}`).digest()
  return formatMac(Uint8Array.of(0x02, h[0], h[1], h[2], h[3], h[4]))
}

/** Linux interface names: up to 15 bytes, no '/', ':' or whitespace. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/
/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107

const port = (text: string): number | undefined => {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN
  return n >= 1 && n <= 65535 ? n : undefined
}

/** The backend as its option is written, for messages and the manifest. */
export const formatNetBackend = (b: NetBackendConfig): string => {
  switch (b._tag) {
    case "none":
      return "none"
    case "udp":
      return `udp=${b.localPort}:${b.peerPort}`
    case "unix":
      return `unix=${b.localPath}:${b.peerPath}`
    case "tap":
      return b.name
  }
}

const parseUnix = (value: string): Either.Either<NetBackendConfig, string> => {
  const parts = value.split(":")
  if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
    return Either.left(`unix=${value}: expected LOCALPATH:PEERPATH (two socket paths without ':')`)
  }
  const [localPath, peerPath] = parts
  for (const p of parts) {
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH) return Either.left(`unix=${value}: '${p}' is longer than a socket path may be (${MAX_SOCKET_PATH} bytes)`)
  }
  if (localPath === peerPath) return Either.left(`unix=${value}: the local and peer paths must differ`)
  return Either.right({ _tag: "unix", localPath, peerPath })
}

const parseTap = (name: string): Either.Either<NetBackendConfig, string> =>
  IFNAME.test(name) ? Either.right({ _tag: "tap", name }) : Either.left(`tap=${name}: an interface name of 1-15 letters, digits, '_', '.' or '-'`)

/**
 * `virtio-net[,BACKEND][,mac=xx:xx:xx:xx:xx:xx]` with BACKEND one of bhyve's
 * `tapN` (or `tap=IFNAME` for any tap name), `unix=LOCALPATH:PEERPATH` (one
 * frame per datagram on an AF_UNIX socket bound at LOCALPATH, sent to
 * PEERPATH: two VMs on one host, no privileges, as QEMU's `-netdev dgram`)
 * or `udp=LOCALPORT:PEERPORT` (the same over 127.0.0.1). Without a backend
 * the link is up but leads nowhere. bhyve's `vmnetN`, `netgraph` and
 * `slirp` are refused by name.
 */
export const parseVirtioNetOptions = (address: PciAddress, text: string): Either.Either<VirtioNetOptions, string> => {
  let mac: string | undefined
  let backend: NetBackendConfig | undefined
  for (const item of text === "" ? [] : text.split(",")) {
    const eq = item.indexOf("=")
    const key = eq < 0 ? item : item.slice(0, eq)
    const value = eq < 0 ? undefined : item.slice(eq + 1)
    let parsed: Either.Either<NetBackendConfig, string> | undefined
    if (key === "mac" && value !== undefined) {
      if (mac !== undefined) return Either.left("option 'mac' given twice")
      const m = value.toLowerCase()
      if (!MAC.test(m)) return Either.left(`mac=${value}: expected xx:xx:xx:xx:xx:xx`)
      const b = macBytes(m)
      if ((b[0] & 1) !== 0) return Either.left(`mac=${value}: a multicast address cannot be a NIC's`)
      if (b.every((x) => x === 0)) return Either.left(`mac=${value}: the zero address cannot be a NIC's`)
      mac = m
      continue
    } else if (key === "udp" && value !== undefined) {
      const [l, p, extra] = value.split(":")
      const localPort = port(l)
      const peerPort = p === undefined ? undefined : port(p)
      parsed = extra !== undefined || localPort === undefined || peerPort === undefined
        ? Either.left(`udp=${value}: expected LOCALPORT:PEERPORT (ports 1-65535 on 127.0.0.1)`)
        : Either.right({ _tag: "udp", localPort, peerPort })
    } else if (key === "unix" && value !== undefined) {
      parsed = parseUnix(value)
    } else if (/^tap[0-9]+$/.test(item)) {
      parsed = parseTap(item)
    } else if (key === "tap" && value !== undefined) {
      parsed = parseTap(value)
    } else if (/^vmnet[0-9]+$/.test(item) || key === "netgraph" || key === "slirp" || key === "backend") {
      return Either.left(`backend '${item}' is not implemented in bhyve-ts (use tapN, unix=LOCALPATH:PEERPATH or udp=LOCALPORT:PEERPORT)`)
    } else {
      return Either.left(item === "" ? "empty option" : `unknown option '${item}'`)
    }
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    if (backend !== undefined) return Either.left(`one backend only (got ${formatNetBackend(backend)} and ${item})`)
    backend = parsed.right
  }
  return Either.right({ mac: mac ?? defaultMac(address), backend: backend ?? { _tag: "none" } })
}
