import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { MmioHandler } from "../../bus/DeviceHandlers.js"
import type { PciAddress } from "./PciAddress.js"
import type { PciAttachError } from "./PciErrors.js"
import type { PciFunction } from "./PciFunction.js"
import type { PciTopology } from "./PciTopology.js"
import type { PciWindows } from "./PciWindows.js"

export interface AttachRequest {
  /** Names the function's Bus claims and log lines, e.g. "virtio-blk.pci.0.4.0". */
  readonly owner: string
  readonly address: PciAddress
  readonly fn: PciFunction
  /** A handler per BAR number (offsets relative to the BAR's base); I/O BARs get PIO accesses through it. */
  readonly bars: ReadonlyArray<MmioHandler | undefined>
}

export interface PciBusService {
  readonly topology: PciTopology
  readonly windows: PciWindows
  readonly report: (message: string) => void
  /**
   * Puts a function on the bus for the life of the scope: its BARs get
   * addresses in the PCI hole with decoding on, INTA# gets its IOAPIC line,
   * and its BARs follow the guest's config writes on the Bus from then on.
   */
  readonly attach: (request: AttachRequest) => Effect.Effect<void, PciAttachError, Scope.Scope>
}

/** PCI bus 0: config space access (0xCF8/0xCFC and ECAM) and the functions on it. */
export class PciBus extends Context.Tag("bhyve-ts/PciBus")<PciBus, PciBusService>() {}
