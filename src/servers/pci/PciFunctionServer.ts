import * as Effect from "effect/Effect"
import { announce } from "../DeviceServer.js"
import { formatPciAddress, type PciAddress, pciServerId } from "./PciAddress.js"
import { PciBus } from "./PciBus.js"
import type { PciFunction } from "./PciFunction.js"
import { PCI_FUNCTION_STATE_VERSION, PciFunctionState } from "./PciFunctionState.js"

export interface PlainFunctionOptions {
  /** The `-s` emulation name, e.g. "hostbridge". */
  readonly emulation: string
  /** The state schema's family in a snapshot, e.g. "pci-hostbridge". */
  readonly kind: string
  readonly address: PciAddress
  readonly fn: PciFunction
  readonly config?: { readonly [key: string]: string | number | boolean | null }
}

/**
 * A function that is nothing but config space (host bridge, LPC bridge):
 * attached to the bus, announced as a device server whose state is its
 * config space.
 */
export const attachPlainFunction = (options: PlainFunctionOptions) =>
  Effect.gen(function* () {
    const bus = yield* PciBus
    const id = pciServerId(options.emulation, options.address)
    yield* bus.attach({ owner: id, address: options.address, fn: options.fn, bars: [] })
    yield* announce({
      id,
      kind: options.kind,
      config: { address: formatPciAddress(options.address), ...options.config },
      stateVersion: PCI_FUNCTION_STATE_VERSION,
      stateSchema: PciFunctionState,
      save: () => options.fn.save(),
      restore: (state) => options.fn.restore(state)
    })
  })
