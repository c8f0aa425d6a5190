import { allOnes, type AccessSize, type PioHandler } from "../../bus/DeviceHandlers.js"
import type { UartDevice } from "./UartDevice.js"
import { REGISTER_COUNT } from "./UartRegisters.js"


/** The 16550's registers are bytes; anything else is not a UART access. */
const valid = (offset: number, size: AccessSize): boolean =>
  size === 1 && Number.isInteger(offset) && offset >= 0 && offset < REGISTER_COUNT

/**
 * The UART's eight ports. Bad offsets or sizes never reach the device:
 * writes are ignored, reads return all-ones like an empty bus. `afterAccess`
 * runs after every access the device saw (the server recomputes its
 * interrupt line and refills the receiver there).
 */
export const make = (device: UartDevice, transmit: (byte: number) => void, afterAccess: () => void): PioHandler => ({
  read: (offset, size) => {
    if (!valid(offset, size)) return allOnes(size)
    const value = device.readRegister(offset)
    afterAccess()
    return value
  },
  write: (offset, size, value) => {
    if (!valid(offset, size)) return
    const out = device.writeRegister(offset, value)
    if (out !== undefined) transmit(out)
    afterAccess()
  }
})
