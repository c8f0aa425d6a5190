import { allOnes, type AccessSize } from "../../bus/DeviceHandlers.js"
import type { PciAddress } from "./PciAddress.js"
import type { PciFunction } from "./PciFunction.js"
import { EXTENDED_CONFIG_SPACE_SIZE, HEADER_MULTIFUNCTION, HEADER_TYPE } from "./PciRegisters.js"

const key = (slot: number, fn: number) => slot * 8 + fn

/**
 * The functions on bus 0, by slot and function, and config-space access to
 * them: what mechanism #1 and ECAM both end up calling. Where no function
 * answers, or the access is unaligned or of an odd size, reads are all-ones
 * and writes vanish, as on a real bus.
 */
export class PciTopology {
  private readonly functions = new Map<number, PciFunction>()

  add(address: PciAddress, fn: PciFunction): boolean {
    const k = key(address.slot, address.function)
    if (address.bus !== 0 || this.functions.has(k)) return false
    this.functions.set(k, fn)
    return true
  }

  remove(address: PciAddress, fn: PciFunction): void {
    const k = key(address.slot, address.function)
    if (this.functions.get(k) === fn) this.functions.delete(k)
  }

  find(address: PciAddress): PciFunction | undefined {
    return address.bus === 0 ? this.functions.get(key(address.slot, address.function)) : undefined
  }

  readConfig(bus: number, slot: number, fn: number, offset: number, size: AccessSize): number {
    const target = this.target(bus, slot, fn, offset, size)
    if (target === undefined) return allOnes(size)
    let value = target.readConfig(offset, size)
    // Header type bit 7 says whether the slot has more functions; it depends on the slot, not the function (bhyve computes it the same way).
    if (offset <= HEADER_TYPE && offset + size > HEADER_TYPE) {
      const bit = HEADER_MULTIFUNCTION << (8 * (HEADER_TYPE - offset))
      value = this.multifunction(slot) ? value | bit : value & ~bit
    }
    return value >>> 0
  }

  writeConfig(bus: number, slot: number, fn: number, offset: number, size: AccessSize, value: number): void {
    this.target(bus, slot, fn, offset, size)?.writeConfig(offset, size, value)
  }

  private target(bus: number, slot: number, fn: number, offset: number, size: AccessSize): PciFunction | undefined {
    if (bus !== 0 || size === 8 || offset % size !== 0 || offset < 0 || offset + size > EXTENDED_CONFIG_SPACE_SIZE) return undefined
    return this.functions.get(key(slot, fn))
  }

  private multifunction(slot: number): boolean {
    let n = 0
    for (let f = 0; f < 8; f++) if (this.functions.has(key(slot, f))) n++
    return n > 1
  }
}
