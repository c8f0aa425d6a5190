import { allOnes, type PioHandler } from "../../bus/DeviceHandlers.js"
import type { RtcDevice } from "./RtcDevice.js"


/** Ports 0x70 (index) and 0x71 (data); the RTC only answers byte accesses. */
export const PORT_COUNT = 2

/**
 * Ports 0x70/0x71. Anything but a byte access at offset 0 or 1 is ignored
 * (writes) or reads all-ones. `afterAccess` runs once the flags are brought
 * up to date and again after the access, so that a flag raised and read in
 * the same access still reaches the interrupt line.
 */
export const make = (device: RtcDevice, afterAccess: () => void): PioHandler => ({
  read: (offset, size) => {
    if (size !== 1) return allOnes(size)
    if (offset === 0) return device.readIndex()
    if (offset !== 1) return allOnes(size)
    device.advance()
    afterAccess()
    const value = device.readData()
    afterAccess()
    return value
  },
  write: (offset, size, value) => {
    if (size !== 1) return
    if (offset === 0) {
      device.writeIndex(value)
      return
    }
    if (offset !== 1) return
    device.advance()
    afterAccess()
    device.writeData(value)
    afterAccess()
  }
})
