import { allOnes, type PioHandler } from "../../bus/DeviceHandlers.js"
import type { I8042Device } from "./I8042Device.js"


export const DATA_PORT = 0x60
export const COMMAND_PORT = 0x64

/**
 * One of the controller's two ports (each registered alone: 0x61-0x63 belong
 * to other devices). Byte accesses only.
 */
export const make = (device: I8042Device, port: "data" | "command", onReset: () => void): PioHandler => ({
  read: (offset, size) => {
    if (offset !== 0 || size !== 1) return allOnes(size)
    return port === "data" ? device.readData() : device.readStatus()
  },
  write: (offset, size, value) => {
    if (offset !== 0 || size !== 1) return
    const action = port === "data" ? device.writeData(value) : device.writeCommand(value)
    if (action === "reset") onReset()
  }
})
