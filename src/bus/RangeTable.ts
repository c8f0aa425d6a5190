import { BadRange, BusConflict, type AddressSpace } from "./BusErrors.js"

export interface Claim<H> {
  readonly owner: string
  readonly base: number
  readonly length: number
  readonly handler: H
}

/**
 * Address ranges kept sorted by base, found by binary search. Registration
 * is rare and checked; lookup is the hot path and allocates nothing.
 * MMIO addresses stay below 2^53, so plain numbers are exact.
 */
export class RangeTable<H> {
  private readonly claims: Array<Claim<H>> = []

  constructor(readonly space: AddressSpace, readonly limit: number) {}

  add(claim: Claim<H>): BadRange | BusConflict | undefined {
    const { base, length, owner } = claim
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(length) || base < 0 || length <= 0 || base + length > this.limit) {
      return new BadRange({ space: this.space, claimant: owner, base, length })
    }
    for (const c of this.claims) {
      if (base < c.base + c.length && c.base < base + length) {
        return new BusConflict({
          space: this.space,
          claimant: owner,
          base,
          length,
          existing: c.owner,
          existingBase: c.base,
          existingLength: c.length
        })
      }
    }
    let i = this.claims.length
    while (i > 0 && this.claims[i - 1].base > base) i--
    this.claims.splice(i, 0, claim)
    return undefined
  }

  remove(claim: Claim<H>): void {
    const i = this.claims.indexOf(claim)
    if (i >= 0) this.claims.splice(i, 1)
  }

  find(address: number): Claim<H> | undefined {
    const claims = this.claims
    let lo = 0
    let hi = claims.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const c = claims[mid]
      if (address < c.base) hi = mid - 1
      else if (address >= c.base + c.length) lo = mid + 1
      else return c
    }
    return undefined
  }

  list(): ReadonlyArray<Claim<H>> {
    return this.claims
  }
}
