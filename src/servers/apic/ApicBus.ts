import type { DeviceClockService } from "../DeviceClock.js"
import * as DeliveryMode from "./DeliveryMode.js"
import { LapicDevice } from "./LapicDevice.js"
import * as R from "./LapicRegisters.js"

/** No LAPIC sent it: the IOAPIC or an MSI. */
const NO_SOURCE = -1

/**
 * The APIC bus: every interrupt message (IOAPIC, MSI, IPI) goes to the
 * LAPICs it addresses, and level-triggered EOIs go back to the IOAPIC.
 * There is one LAPIC per vCPU, APIC ID = vCPU index at reset; destinations
 * are matched against the LAPICs' current ID and logical registers, so a
 * message to a vCPU that does not exist reaches nobody. Lowest-priority
 * messages go to the lowest-numbered matching vCPU whose LAPIC is enabled
 * (the SDM lets the chipset choose; KVM's round robin is not needed).
 */
export class ApicBus {
  readonly lapics: ReadonlyArray<LapicDevice>
  /** Where EOIs of level-triggered vectors go; the IOAPIC sets it. */
  onLevelEoi: (vector: number) => void = () => {}

  constructor(readonly cpus: number, clock: DeviceClockService) {
    const links = {
      sendIpi: (source: number, low: number, high: number) => this.sendIpi(source, low, high),
      levelEoi: (vector: number) => this.onLevelEoi(vector)
    }
    this.lapics = Array.from({ length: cpus }, (_, index) => new LapicDevice(index, clock, links))
  }

  /** A message from the IOAPIC; true when a LAPIC took it. */
  fromIoapic(logical: boolean, destination: number, mode: number, vector: number, levelTriggered: boolean): boolean {
    return this.deliver(NO_SOURCE, R.SHORTHAND_NONE, logical, destination, mode, vector, true, levelTriggered)
  }

  /**
   * An MSI: a DWORD write of `data` to `address` in 0xFEExxxxx (destination
   * ID in bits 12-19, logical in bit 2; vector in data bits 0-7, delivery
   * mode 8-10, level trigger 15). Anything else is not an interrupt and
   * is dropped, as are reserved delivery modes.
   */
  sendMsi(address: bigint, data: number): void {
    if (address < 0xfee0_0000n || address > 0xfeef_ffffn) return
    const addr = Number(address)
    const mode = (data >>> 8) & 7
    if (DeliveryMode.reservedForMessages(mode)) return
    this.deliver(NO_SOURCE, R.SHORTHAND_NONE, (addr & 4) !== 0, (addr >>> 12) & 0xff, mode, data & 0xff, true, (data & 0x8000) !== 0)
  }

  /** The IPI LAPIC `source` just sent by writing its ICR low. */
  sendIpi(source: number, low: number, high: number): void {
    const mode = (low >>> 8) & 7
    const vector = low & 0xff
    // Mode 3 is reserved, and ExtINT is not something a LAPIC sends.
    if (mode === 3 || mode === DeliveryMode.EXTINT) return
    if (DeliveryMode.illegalVector(mode, vector)) {
      this.lapics[source].sendError()
      return
    }
    this.deliver(source, (low >>> 18) & 3, (low & 0x800) !== 0, high >>> 24, mode, vector, (low & 0x4000) !== 0, (low & 0x8000) !== 0)
  }

  private deliver(
    source: number,
    shorthand: number,
    logical: boolean,
    destination: number,
    mode: number,
    vector: number,
    level: boolean,
    levelTriggered: boolean
  ): boolean {
    if (mode === DeliveryMode.LOWEST_PRIORITY) {
      let chosen = -1
      for (let i = 0; i < this.cpus; i++) {
        if (!this.addressed(i, source, shorthand, logical, destination)) continue
        if (chosen < 0) chosen = i
        if (this.lapics[i].softwareEnabled) {
          chosen = i
          break
        }
      }
      return chosen >= 0 && this.lapics[chosen].accept(DeliveryMode.FIXED, vector, level, levelTriggered)
    }
    let accepted = false
    for (let i = 0; i < this.cpus; i++) {
      if (this.addressed(i, source, shorthand, logical, destination) && this.lapics[i].accept(mode, vector, level, levelTriggered)) accepted = true
    }
    return accepted
  }

  private addressed(i: number, source: number, shorthand: number, logical: boolean, destination: number): boolean {
    switch (shorthand) {
      case R.SHORTHAND_SELF:
        return i === source
      case R.SHORTHAND_ALL:
        return true
      case R.SHORTHAND_OTHERS:
        return i !== source
      default:
        return logical ? this.lapics[i].matchesLogical(destination) : this.lapics[i].matchesPhysical(destination)
    }
  }
}
