import * as Either from "effect/Either"
import { leBytes } from "./PciCapability.js"
import type { PciFunctionSpec } from "./PciFunction.js"
import { CAP_PCI_EXPRESS } from "./PciRegisters.js"
import { type SlotOptions, splitOptions } from "./SlotOptions.js"

/** Bridge device, host bridge. */
export const HOST_BRIDGE_CLASS = 0x06_00_00

/** bhyve's identities: NetApp's for `hostbridge`, a made-up AMD one for `amd_hostbridge`. */
export const HOSTBRIDGE_IDS = { vendorId: 0x1275, deviceId: 0x1275 } as const
export const AMD_HOSTBRIDGE_IDS = { vendorId: 0x1022, deviceId: 0x7432 } as const

/**
 * A PCI Express capability of a root port, as bhyve gives its host bridge
 * (FreeBSD guests look for it to treat the bus as PCIe): version 2, link
 * x1 at 2.5 GT/s, the rest zero. 0x3C bytes in all.
 */
const pcieCapability = () => {
  const body = new Uint8Array(0x3a)
  body.set(leBytes([[0x0042, 2]]), 0) // capabilities register: version 2, type 4 (root port)
  body.set(leBytes([[0x0411, 4]]), 0x0a) // link capabilities (at 0x0C): 2.5 GT/s, x1, L0s
  body.set(leBytes([[0x0011, 2]]), 0x10) // link status (at 0x12): 2.5 GT/s, x1
  return { id: CAP_PCI_EXPRESS, body }
}

const parseId = (name: string, text: string): Either.Either<number, string> => {
  const n = /^(0x[0-9a-f]{1,4}|[0-9]{1,5})$/i.test(text) ? Number(text) : NaN
  return Number.isInteger(n) && n <= 0xffff ? Either.right(n) : Either.left(`${name}=${text} is not a 16-bit number`)
}

/** `vendor=N,devid=N` override the identity, as bhyve's hostbridge config keys do. */
export const hostBridgeSpec = (
  ids: { readonly vendorId: number; readonly deviceId: number },
  options: string
): Either.Either<PciFunctionSpec, string> =>
  Either.gen(function* () {
    const opts: SlotOptions = yield* splitOptions(options, ["vendor", "devid"], [])
    const vendorId = opts.values.vendor === undefined ? ids.vendorId : yield* parseId("vendor", opts.values.vendor)
    const deviceId = opts.values.devid === undefined ? ids.deviceId : yield* parseId("devid", opts.values.devid)
    return { vendorId, deviceId, classCode: HOST_BRIDGE_CLASS, capabilities: [pcieCapability()] }
  })
