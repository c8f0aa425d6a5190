import * as Data from "effect/Data"

/** Two `-s` entries (or two device layers) want the same bus:slot:function. */
export class PciSlotTaken extends Data.TaggedError("PciSlotTaken")<{
  readonly address: string
  readonly claimant: string
}> {
  override get message() {
    return `PCI ${this.address} requested by ${this.claimant} is already occupied (or not on bus 0, the only bus)`
  }
}

/** The PCI hole has no room left for a BAR of this size. */
export class BarSpaceExhausted extends Data.TaggedError("BarSpaceExhausted")<{
  readonly claimant: string
  readonly bar: number
  readonly size: number
}> {
  override get message() {
    return `${this.claimant}: no room left in the PCI hole for BAR ${this.bar} (${this.size} bytes)`
  }
}

export type PciAttachError = PciSlotTaken | BarSpaceExhausted

/** A `-s` emulation name no PCI model answers to. */
export class UnknownEmulation extends Data.TaggedError("UnknownEmulation")<{
  readonly address: string
  readonly emulation: string
}> {
  override get message() {
    return `PCI ${this.address}: emulation '${this.emulation}' is not implemented by bhyve-ts`
  }
}

/** A `-s` entry whose options, or whose place, the emulation refuses. */
export class BadSlotConfig extends Data.TaggedError("BadSlotConfig")<{
  readonly address: string
  readonly emulation: string
  readonly reason: string
}> {
  override get message() {
    return `PCI ${this.address} (${this.emulation}): ${this.reason}`
  }
}

export type PciSlotError = UnknownEmulation | BadSlotConfig
