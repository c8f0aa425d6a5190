import { createHash } from "node:crypto"
import * as Either from "effect/Either"
import { formatPciAddress, type PciAddress } from "../pci/PciAddress.js"

export type NetBackendConfig =
  | { readonly _tag: "none" }
  | { readonly _tag: "udp"; readonly localPort: number; readonly peerPort: number }

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

const port = (text: string): number | undefined => {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN
  return n >= 1 && n <= 65535 ? n : undefined
}

/**
 * `virtio-net[,udp=LOCALPORT:PEERPORT][,mac=xx:xx:xx:xx:xx:xx]`. Without a
 * backend the link is up but leads nowhere. bhyve's `tapN`, `vmnetN`,
 * `netgraph` and `slirp` backends are refused by name.
 */
export const parseVirtioNetOptions = (address: PciAddress, text: string): Either.Either<VirtioNetOptions, string> => {
  let mac: string | undefined
  let backend: NetBackendConfig | undefined
  for (const item of text === "" ? [] : text.split(",")) {
    const eq = item.indexOf("=")
    const key = eq < 0 ? item : item.slice(0, eq)
    const value = eq < 0 ? undefined : item.slice(eq + 1)
    if (key === "mac" && value !== undefined) {
      if (mac !== undefined) return Either.left("option 'mac' given twice")
      const m = value.toLowerCase()
      if (!MAC.test(m)) return Either.left(`mac=${value}: expected xx:xx:xx:xx:xx:xx`)
      const b = macBytes(m)
      if ((b[0] & 1) !== 0) return Either.left(`mac=${value}: a multicast address cannot be a NIC's`)
      if (b.every((x) => x === 0)) return Either.left(`mac=${value}: the zero address cannot be a NIC's`)
      mac = m
    } else if (key === "udp" && value !== undefined) {
      if (backend !== undefined) return Either.left("one backend only")
      const [l, p, extra] = value.split(":")
      const localPort = port(l)
      const peerPort = p === undefined ? undefined : port(p)
      if (extra !== undefined || localPort === undefined || peerPort === undefined) {
        return Either.left(`udp=${value}: expected LOCALPORT:PEERPORT (ports 1-65535 on 127.0.0.1)`)
      }
      backend = { _tag: "udp", localPort, peerPort }
    } else if (/^(tap|vmnet)[0-9]+$/.test(item) || key === "netgraph" || key === "slirp" || key === "backend") {
      return Either.left(`backend '${item}' is not implemented in bhyve-ts (use udp=LOCALPORT:PEERPORT)`)
    } else {
      return Either.left(item === "" ? "empty option" : `unknown option '${item}'`)
    }
  }
  return Either.right({ mac: mac ?? defaultMac(address), backend: backend ?? { _tag: "none" } })
}
