import type { PicChipState } from "./PicState.js"

/** No request: what `pendingIrq` answers when INT stays low. */
export const NONE = -1

/**
 * One Intel 8259A as a pure state machine: eight request inputs, the two
 * ports (command 0x20/0xA0, data 0x21/0xA1), the ELCR byte the chipset adds
 * beside it, and INT as `pendingIrq() !== NONE`. The cascade (the slave's
 * INT on the master's IR2, the vector in the acknowledge cycle) is
 * PicDevice's job. Behaviour follows the datasheet and QEMU's i8259.c where
 * the datasheet leaves a choice.
 */
export class PicChip {
  /** Input levels as last seen, so that an edge-triggered IR sets IRR only on a rising edge. */
  private lastIrr = 0
  private irr = 0
  private imr = 0
  private isr = 0
  /** The IR that has the highest priority is `priorityAdd` (0 at reset: IR0 first); rotation moves it. */
  private priorityAdd = 0
  private irqBase = 0
  private readIsr = false
  private poll = false
  private specialMask = false
  /** 0: operational; 1-3: ICW2, ICW3 or ICW4 expected next on the data port. */
  private initState = 0
  private autoEoi = false
  private rotateOnAutoEoi = false
  private specialFullyNested = false
  private init4 = false
  private singleMode = false
  /** ICW1 LTIM: every input of this chip is level-triggered, whatever the ELCR says. */
  private levelTriggered = false
  private elcr = 0

  /**
   * @param cascadeIr the IR that a slave drives (2 on the master), which
   *   special fully nested mode leaves out of the in-service priority; -1 on the slave.
   * @param elcrMask the ELCR bits that exist: IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge.
   */
  constructor(private readonly cascadeIr: number, readonly elcrMask: number) {}

  /** Drives input `ir` (0-7). A level-triggered input holds IRR while high; an edge-triggered one sets it on a rising edge. */
  setIrq(ir: number, level: boolean): void {
    const bit = 1 << ir
    if (this.isLevel(bit)) {
      this.irr = level ? this.irr | bit : this.irr & ~bit
    } else if (level && (this.lastIrr & bit) === 0) {
      this.irr |= bit
    }
    this.lastIrr = level ? this.lastIrr | bit : this.lastIrr & ~bit
  }

  /** The IR that INT is raised for, or NONE: the highest-priority unmasked request that outranks everything in service. */
  pendingIrq(): number {
    const request = this.highestPriority(this.irr & ~this.imr)
    if (request === 8) return NONE
    let inService = this.isr
    // Special mask mode: a masked IR in service no longer blocks lower priorities (a handler can let them nest).
    if (this.specialMask) inService &= ~this.imr
    // Special fully nested mode: the slave may interrupt again while its IR is in service on the master.
    if (this.specialFullyNested && this.cascadeIr >= 0) inService &= ~(1 << this.cascadeIr)
    return request < this.highestPriority(inService) ? (request + this.priorityAdd) & 7 : NONE
  }

  /** The INTA cycle for `ir`: IR moves to ISR (or is done at once in auto-EOI mode). */
  acknowledge(ir: number): void {
    const bit = 1 << ir
    if (!this.autoEoi) this.isr |= bit
    else if (this.rotateOnAutoEoi) this.priorityAdd = (ir + 1) & 7
    // A level-triggered request stays in IRR while its line is high: the device lowers it.
    if (!this.isLevel(bit)) this.irr &= ~bit
  }

  get vectorBase(): number {
    return this.irqBase
  }

  readPort(offset: number): number {
    if (this.poll) {
      // Poll mode: the read is the acknowledge; bit 7 says whether there was a request.
      this.poll = false
      const ir = this.pendingIrq()
      if (ir === NONE) return 0
      this.acknowledge(ir)
      return 0x80 | ir
    }
    if (offset === 0) return this.readIsr ? this.isr : this.irr
    return this.imr
  }

  writePort(offset: number, value: number): void {
    const v = value & 0xff
    if (offset === 0) {
      if ((v & 0x10) !== 0) this.writeIcw1(v)
      else if ((v & 0x08) !== 0) this.writeOcw3(v)
      else this.writeOcw2(v)
      return
    }
    switch (this.initState) {
      case 0:
        this.imr = v // OCW1
        return
      case 1:
        // ICW2: the vector's low three bits are the IR number (8086 mode).
        this.irqBase = v & 0xf8
        this.initState = this.singleMode ? (this.init4 ? 3 : 0) : 2
        return
      case 2:
        // ICW3 (cascade wiring): fixed on a PC, so its value does not matter.
        this.initState = this.init4 ? 3 : 0
        return
      default:
        // ICW4: buffered mode and the 8080 bit change nothing a guest can see here.
        this.specialFullyNested = (v & 0x10) !== 0
        this.autoEoi = (v & 0x02) !== 0
        this.initState = 0
    }
  }

  readElcr(): number {
    return this.elcr
  }

  writeElcr(value: number): void {
    this.elcr = value & this.elcrMask
  }

  save(): PicChipState {
    return {
      lastIrr: this.lastIrr,
      irr: this.irr,
      imr: this.imr,
      isr: this.isr,
      priorityAdd: this.priorityAdd,
      irqBase: this.irqBase,
      readIsr: this.readIsr,
      poll: this.poll,
      specialMask: this.specialMask,
      initState: this.initState,
      autoEoi: this.autoEoi,
      rotateOnAutoEoi: this.rotateOnAutoEoi,
      specialFullyNested: this.specialFullyNested,
      init4: this.init4,
      singleMode: this.singleMode,
      levelTriggered: this.levelTriggered,
      elcr: this.elcr
    }
  }

  restore(s: PicChipState): void {
    this.lastIrr = s.lastIrr
    this.irr = s.irr
    this.imr = s.imr
    this.isr = s.isr
    this.priorityAdd = s.priorityAdd
    this.irqBase = s.irqBase
    this.readIsr = s.readIsr
    this.poll = s.poll
    this.specialMask = s.specialMask
    this.initState = s.initState
    this.autoEoi = s.autoEoi
    this.rotateOnAutoEoi = s.rotateOnAutoEoi
    this.specialFullyNested = s.specialFullyNested
    this.init4 = s.init4
    this.singleMode = s.singleMode
    this.levelTriggered = s.levelTriggered
    // Masked again so that a state saved by another chip's mask cannot set a bit this one lacks.
    this.elcr = s.elcr & this.elcrMask
  }

  private isLevel(bit: number): boolean {
    return this.levelTriggered || (this.elcr & bit) !== 0
  }

  /** Priority (0 highest) of the best IR in `mask` under the current rotation; 8 when the mask is empty. */
  private highestPriority(mask: number): number {
    if ((mask & 0xff) === 0) return 8
    let priority = 0
    while ((mask & (1 << ((priority + this.priorityAdd) & 7))) === 0) priority++
    return priority
  }

  /** ICW1 starts initialization: IMR, ISR and the edge detectors are cleared, IR0 gets top priority. */
  private writeIcw1(v: number): void {
    this.lastIrr = 0
    // Level-triggered requests whose line is high are still requests.
    this.irr &= this.levelTriggered ? 0xff : this.elcr
    this.imr = 0
    this.isr = 0
    this.priorityAdd = 0
    this.irqBase = 0
    this.readIsr = false
    this.poll = false
    this.specialMask = false
    this.autoEoi = false
    this.rotateOnAutoEoi = false
    this.specialFullyNested = false
    this.init4 = (v & 0x01) !== 0
    this.singleMode = (v & 0x02) !== 0
    this.levelTriggered = (v & 0x08) !== 0
    this.initState = 1
  }

  /** OCW2: end of interrupt, specific or not, with or without rotation, and priority setting. */
  private writeOcw2(v: number): void {
    const command = v >> 5
    const ir = v & 7
    switch (command) {
      case 0: // rotate in auto-EOI mode: clear
      case 4: // ... set
        this.rotateOnAutoEoi = command === 4
        return
      case 1: // non-specific EOI
      case 5: {
        // ... with rotation: the IR just finished gets the lowest priority
        const priority = this.highestPriority(this.isr)
        if (priority === 8) return
        const done = (priority + this.priorityAdd) & 7
        this.isr &= ~(1 << done)
        if (command === 5) this.priorityAdd = (done + 1) & 7
        return
      }
      case 3: // specific EOI
        this.isr &= ~(1 << ir)
        return
      case 6: // set priority: IR `ir` becomes the lowest
        this.priorityAdd = (ir + 1) & 7
        return
      case 7: // specific EOI with rotation
        this.isr &= ~(1 << ir)
        this.priorityAdd = (ir + 1) & 7
        return
      default: // 2: no operation
        return
    }
  }

  /** OCW3: which register a command-port read returns, poll mode, special mask mode. */
  private writeOcw3(v: number): void {
    if ((v & 0x04) !== 0) this.poll = true
    if ((v & 0x02) !== 0) this.readIsr = (v & 0x01) !== 0
    if ((v & 0x40) !== 0) this.specialMask = (v & 0x20) !== 0
  }
}
