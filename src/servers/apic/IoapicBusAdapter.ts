import type { AccessSize, MmioHandler } from "../../bus/DeviceHandlers.js"
import type { IoapicDevice } from "./IoapicDevice.js"
import { IOAPIC_MMIO_SIZE, IOEOI, IOREGSEL, IOWIN } from "./IoapicRegisters.js"

const sizeMask = (size: AccessSize): number => (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1)

/**
 * The IOAPIC's page. Its three registers are 32 bits at 0x00, 0x10 and
 * 0x40; an access of 1, 2 or 4 bytes at a register's offset reaches it
 * (a narrower write is zero-extended, as KVM's ioapic_mmio_write takes it).
 * Anything else, like the rest of the page, reads 0 and ignores writes:
 * the chip decodes nothing there.
 */
export const make = (device: IoapicDevice): MmioHandler => ({
  read: (offset, size) => {
    if (size === 8) return 0n
    if (!(offset >= 0 && offset < IOAPIC_MMIO_SIZE)) return 0
    switch (offset) {
      case IOREGSEL:
        return device.readSelect() & sizeMask(size)
      case IOWIN:
        return (device.readWindow() & sizeMask(size)) >>> 0
      default:
        return 0
    }
  },
  write: (offset, size, value) => {
    if (size === 8 || typeof value !== "number") return
    const v = (value & sizeMask(size)) >>> 0
    switch (offset) {
      case IOREGSEL:
        device.writeSelect(v)
        return
      case IOWIN:
        device.writeWindow(v)
        return
      case IOEOI:
        device.writeEoi(v)
        return
    }
  }
})
