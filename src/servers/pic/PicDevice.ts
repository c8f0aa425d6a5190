import { NONE, PicChip } from "./PicChip.js"
import { MASTER_ELCR_MASK, SLAVE_ELCR_MASK, type PicState } from "./PicState.js"

/** The master's input that the slave's INT drives. */
export const CASCADE_IR = 2
/** What a chip answers INTA with when the request went away before the cycle. */
const SPURIOUS_IR = 7

export type ChipName = "master" | "slave"

/**
 * The PC's two 8259As: ISA IRQ 0-7 on the master, 8-15 on the slave, the
 * slave's INT on the master's IR2, and the interrupt acknowledge cycle that
 * takes the vector from whichever chip owns the request. A pure state
 * machine; PicServer puts it on the bus.
 */
export class PicDevice {
  readonly master = new PicChip(CASCADE_IR, MASTER_ELCR_MASK)
  readonly slave = new PicChip(-1, SLAVE_ELCR_MASK)

  static fromState(state: PicState): PicDevice {
    const device = new PicDevice()
    device.restore(state)
    return device
  }

  chip(name: ChipName): PicChip {
    return name === "master" ? this.master : this.slave
  }

  /**
   * Drives ISA IRQ `irq` (0-15). IRQ 2 is ignored: that master input is
   * wired to the slave's INT, and on the AT bus the slot's IRQ 2 pin is IRQ 9.
   * Anything else out of range is ignored, never thrown on.
   */
  setIrq(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15 || irq === CASCADE_IR) return
    if (irq < 8) this.master.setIrq(irq, level)
    else {
      this.slave.setIrq(irq - 8, level)
      this.cascade()
    }
  }

  /** The master's INT output. */
  hasInterrupt(): boolean {
    return this.master.pendingIrq() !== NONE
  }

  /**
   * INTA: the vector of the best request, which moves into service. With
   * nothing pending the chip answers with its IR7 vector (spurious); a
   * request on IR2 that the slave no longer has gives the slave's IR15.
   */
  acknowledge(): number {
    const ir = this.master.pendingIrq()
    if (ir === NONE) return this.master.vectorBase + SPURIOUS_IR
    let vector = this.master.vectorBase + ir
    if (ir === CASCADE_IR) {
      const slaveIr = this.slave.pendingIrq()
      if (slaveIr === NONE) vector = this.slave.vectorBase + SPURIOUS_IR
      else {
        this.slave.acknowledge(slaveIr)
        vector = this.slave.vectorBase + slaveIr
      }
      this.cascade()
    }
    this.master.acknowledge(ir)
    return vector
  }

  readPort(name: ChipName, offset: number): number {
    const value = this.chip(name).readPort(offset)
    // A poll read on the slave is an acknowledge: its INT may drop.
    if (name === "slave") this.cascade()
    return value
  }

  writePort(name: ChipName, offset: number, value: number): void {
    this.chip(name).writePort(offset, value)
    // Any slave write (mask, EOI, init) can change its INT. As in QEMU, the
    // master's IR2 hears the slave's level after every slave operation, not
    // after master ones: a master ICW1 does not invent an edge on IR2.
    if (name === "slave") this.cascade()
  }

  readElcr(name: ChipName): number {
    return this.chip(name).readElcr()
  }

  writeElcr(name: ChipName, value: number): void {
    this.chip(name).writeElcr(value)
  }

  save(): PicState {
    return { master: this.master.save(), slave: this.slave.save() }
  }

  restore(state: PicState): void {
    this.master.restore(state.master)
    this.slave.restore(state.slave)
  }

  /** The slave's INT as the master's IR2 sees it (an edge-triggered input: IRQ 2 is never in the ELCR). */
  private cascade(): void {
    this.master.setIrq(CASCADE_IR, this.slave.pendingIrq() !== NONE)
  }
}
