import * as R from "./IoapicRegisters.js"
import type { IoapicState } from "./IoapicState.js"

/**
 * How the IOAPIC's messages reach the LAPICs: true when at least one
 * accepted it (a level-triggered entry then waits for an EOI).
 */
export type IoapicDelivery = (
  logical: boolean,
  destination: number,
  deliveryMode: number,
  vector: number,
  levelTriggered: boolean
) => boolean

/**
 * The 82093AA I/O APIC as a pure state machine: 24 input pins, each with a
 * redirection entry turning it into a message for the LAPICs. Edge pins
 * send on a rising edge; level pins send while asserted, then hold remote
 * IRR until the LAPIC's EOI for the vector, and send again if still
 * asserted. Input polarity is not applied: a pin's level is the device's
 * logical "asserted", as KVM's IOAPIC treats it too. Messages are accepted
 * at once, so delivery status always reads 0. Follows KVM's ioapic.c
 * where the datasheet leaves a choice.
 */
export class IoapicDevice {
  private id = 0
  private ioregsel = 0
  /** Bit n: pin n asserted. */
  private levels = 0
  private readonly low = new Uint32Array(R.IOAPIC_PINS).fill(R.RTE_RESET_LOW)
  private readonly high = new Uint32Array(R.IOAPIC_PINS)

  constructor(private readonly deliver: IoapicDelivery) {}

  readSelect(): number {
    return this.ioregsel
  }

  writeSelect(value: number): void {
    this.ioregsel = value & 0xff
  }

  readWindow(): number {
    const index = this.ioregsel
    switch (index) {
      case R.REG_ID:
      case R.REG_ARBITRATION:
        // The arbitration ID is loaded from the ID (KVM and QEMU read it so).
        return (this.id << 24) >>> 0
      case R.REG_VERSION:
        return R.IOAPIC_VERSION
    }
    const pin = (index - R.REG_REDIRECTION_BASE) >> 1
    // Unimplemented registers read all-ones, as KVM's and QEMU's do.
    if (pin < 0 || pin >= R.IOAPIC_PINS) return 0xffffffff
    return (index & 1) === 0 ? this.low[pin] : this.high[pin]
  }

  writeWindow(value: number): void {
    const index = this.ioregsel
    if (index === R.REG_ID) {
      this.id = (value >>> 24) & 0xf
      return
    }
    const pin = (index - R.REG_REDIRECTION_BASE) >> 1
    if (pin < 0 || pin >= R.IOAPIC_PINS) return
    if ((index & 1) === 1) {
      this.high[pin] = value & R.RTE_HIGH_WRITABLE
      return
    }
    const old = this.low[pin]
    let low = (value & R.RTE_LOW_WRITABLE) | (old & R.RTE_REMOTE_IRR)
    // Linux and Xen expect remote IRR to clear when an entry is made edge-triggered (KVM does the same).
    if (!R.isLevelTriggered(low)) low &= ~R.RTE_REMOTE_IRR
    // An entry no LAPIC could accept is held masked, so every state the device can be in is one a snapshot may hold.
    if (R.liveEntryIssue(low) !== undefined) low |= R.RTE_MASKED
    this.low[pin] = low >>> 0
    // Unmasking (or making level) a pin that is already asserted sends it now.
    if (R.isLevelTriggered(low) && (this.levels & (1 << pin)) !== 0) this.service(pin)
  }

  /** The EOI register (offset 0x40): the same as a LAPIC's EOI broadcast for that vector. */
  writeEoi(value: number): void {
    this.eoi(value & 0xff)
  }

  /** A pin's input changed (or was driven again at the same level). */
  setPin(pin: number, asserted: boolean): void {
    if (!(pin >= 0 && pin < R.IOAPIC_PINS)) return
    const bit = 1 << pin
    const was = (this.levels & bit) !== 0
    if (!asserted) {
      this.levels &= ~bit
      return
    }
    this.levels |= bit
    if (R.isLevelTriggered(this.low[pin]) || !was) this.service(pin)
  }

  /** A LAPIC ended a level-triggered interrupt with this vector: clear remote IRR, and send again where the line is still up. */
  eoi(vector: number): void {
    for (let pin = 0; pin < R.IOAPIC_PINS; pin++) {
      const low = this.low[pin]
      if ((low & R.RTE_VECTOR) !== vector || (low & R.RTE_REMOTE_IRR) === 0) continue
      this.low[pin] = low & ~R.RTE_REMOTE_IRR
      if ((this.levels & (1 << pin)) !== 0) this.service(pin)
    }
  }

  save(): IoapicState {
    return {
      id: this.id,
      ioregsel: this.ioregsel,
      pinLevels: this.levels >>> 0,
      redirectionTable: Array.from(this.low, (low, pin) => ({ low, high: this.high[pin] }))
    }
  }

  /** Takes the state as it was; sends nothing (what was owed is in the LAPICs' IRRs, or in remote IRR waiting for an EOI). */
  restore(state: IoapicState): void {
    this.id = state.id
    this.ioregsel = state.ioregsel
    this.levels = state.pinLevels
    state.redirectionTable.forEach((entry, pin) => {
      this.low[pin] = entry.low
      this.high[pin] = entry.high
    })
  }

  private service(pin: number): void {
    const low = this.low[pin]
    if ((low & R.RTE_MASKED) !== 0) return
    const level = R.isLevelTriggered(low)
    if (level && (low & R.RTE_REMOTE_IRR) !== 0) return
    const accepted = this.deliver(
      (low & R.RTE_DEST_LOGICAL) !== 0,
      this.high[pin] >>> R.RTE_DESTINATION_SHIFT,
      R.deliveryMode(low),
      low & R.RTE_VECTOR,
      level
    )
    // Remote IRR only once a LAPIC took it: with no taker no EOI would ever come, and the pin would be stuck.
    if (level && accepted) this.low[pin] = (this.low[pin] | R.RTE_REMOTE_IRR) >>> 0
  }
}
