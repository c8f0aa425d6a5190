import { allOnes, type PioHandler } from "../../bus/DeviceHandlers.js"
import type { ResetControlDevice } from "./ResetControlDevice.js"


export const RESET_CONTROL_PORT = 0xcf9

/** Port 0xCF9, byte accesses only (as bhyve). A request goes to `onReset`. */
export const make = (device: ResetControlDevice, onReset: () => void): PioHandler => ({
  read: (offset, size) => (offset === 0 && size === 1 ? device.read() : allOnes(size)),
  write: (offset, size, value) => {
    if (offset !== 0 || size !== 1) return
    if (device.write(value) === "reset") onReset()
  }
})
