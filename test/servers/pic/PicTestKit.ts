import { PicDevice } from "../../../src/servers/pic/PicDevice.js"

export const MASTER_BASE = 0x20
export const SLAVE_BASE = 0x28

/** The init sequence Linux's init_8259A writes: ICW1-ICW4 to each chip, cascade on IR2, 8086 mode. */
export const initialize = (pic: PicDevice, options: { readonly autoEoi?: boolean } = {}): PicDevice => {
  const icw4 = options.autoEoi === true ? 0x03 : 0x01
  pic.writePort("master", 0, 0x11)
  pic.writePort("master", 1, MASTER_BASE)
  pic.writePort("master", 1, 0x04)
  pic.writePort("master", 1, icw4)
  pic.writePort("slave", 0, 0x11)
  pic.writePort("slave", 1, SLAVE_BASE)
  pic.writePort("slave", 1, 0x02)
  pic.writePort("slave", 1, icw4)
  pic.writePort("master", 1, 0x00)
  pic.writePort("slave", 1, 0x00)
  return pic
}

export const initialized = (options: { readonly autoEoi?: boolean } = {}) => initialize(new PicDevice(), options)

/** An edge on ISA IRQ `irq`, as an edge-triggered device pulses it. */
export const pulse = (pic: PicDevice, irq: number) => {
  pic.setIrq(irq, true)
  pic.setIrq(irq, false)
}

export const NON_SPECIFIC_EOI = 0x20
export const READ_IRR = 0x0a
export const READ_ISR = 0x0b
