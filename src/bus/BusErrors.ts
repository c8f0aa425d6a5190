import * as Data from "effect/Data"

export type AddressSpace = "pio" | "mmio"

/** Two servers claimed overlapping ranges; names both so the wiring bug is obvious. */
export class BusConflict extends Data.TaggedError("BusConflict")<{
  readonly space: AddressSpace
  readonly claimant: string
  readonly base: number
  readonly length: number
  readonly existing: string
  readonly existingBase: number
  readonly existingLength: number
}> {
  override get message() {
    const hex = (n: number) => `0x${n.toString(16)}`
    return `${this.space.toUpperCase()} range ${hex(this.base)}+${hex(this.length)} claimed by ${this.claimant} overlaps ` +
      `${hex(this.existingBase)}+${hex(this.existingLength)} owned by ${this.existing}`
  }
}

/** A range that cannot exist (negative, empty, or past the end of the address space). */
export class BadRange extends Data.TaggedError("BadRange")<{
  readonly space: AddressSpace
  readonly claimant: string
  readonly base: number
  readonly length: number
}> {
  override get message() {
    return `${this.claimant} asked for an invalid ${this.space.toUpperCase()} range base=0x${this.base.toString(16)} length=${this.length}`
  }
}

/** In strict mode, a guest access that no server claims stops the VM with this. */
export class UnclaimedAccess extends Data.TaggedError("UnclaimedAccess")<{
  readonly space: AddressSpace
  readonly address: number
  readonly size: number
  readonly direction: "read" | "write"
}> {
  override get message() {
    return `guest ${this.direction} of ${this.size} byte(s) at ${this.space.toUpperCase()} 0x${this.address.toString(16)}: no device claims it`
  }
}
