import { allOnes, type AccessSize, type PioHandler } from "../../bus/DeviceHandlers.js"
import type { ChipName, PicDevice } from "./PicDevice.js"

/** Each chip has two ports (command, data); the ELCR is two bytes, master then slave. */
export const PORT_COUNT = 2

/** The 8259A and the ELCR answer byte accesses only. */
const valid = (offset: number, size: AccessSize): boolean =>
  size === 1 && Number.isInteger(offset) && offset >= 0 && offset < PORT_COUNT

/**
 * One chip's command and data ports. Bad offsets or sizes never reach the
 * device: writes are ignored, reads return all-ones like an empty bus.
 */
export const chip = (device: PicDevice, name: ChipName): PioHandler => ({
  read: (offset, size) => (valid(offset, size) ? device.readPort(name, offset) : allOnes(size)),
  write: (offset, size, value) => {
    if (valid(offset, size)) device.writePort(name, offset, value)
  }
})

/** Ports 0x4D0 (master) and 0x4D1 (slave): edge/level per IRQ. */
export const elcr = (device: PicDevice): PioHandler => {
  const name = (offset: number): ChipName => (offset === 0 ? "master" : "slave")
  return {
    read: (offset, size) => (valid(offset, size) ? device.readElcr(name(offset)) : allOnes(size)),
    write: (offset, size, value) => {
      if (valid(offset, size)) device.writeElcr(name(offset), value)
    }
  }
}
