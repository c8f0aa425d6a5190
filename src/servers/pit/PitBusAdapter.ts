import { allOnes, type AccessSize, type PioHandler } from "../../bus/DeviceHandlers.js"
import { CHANNELS, type PitDevice } from "./PitDevice.js"

/** Ports 0x40-0x43. */
export const PORT_COUNT = CHANNELS + 1

/**
 * How the server runs a guest write: `apply` gets the time of the access,
 * and the server keeps IRQ 0 in step around it.
 */
export type RunWrite = (apply: (nowNs: number) => void) => void

/** The 8254 and port 0x61 answer byte accesses only. */
const valid = (offset: number, size: AccessSize, length: number): boolean =>
  size === 1 && Number.isInteger(offset) && offset >= 0 && offset < length

/**
 * The counters and control word register. Bad offsets or sizes never reach
 * the device: writes are ignored, reads return all-ones like an empty bus.
 */
export const counters = (device: PitDevice, nowNs: () => number, runWrite: RunWrite): PioHandler => ({
  read: (offset, size) => (valid(offset, size, PORT_COUNT) ? device.read(offset, nowNs()) : allOnes(size)),
  write: (offset, size, value) => {
    if (valid(offset, size, PORT_COUNT)) runWrite((now) => device.write(offset, value, now))
  }
})

/** Port 0x61, NMI status and control: channel 2's GATE and OUT. */
export const portB = (device: PitDevice, nowNs: () => number, runWrite: RunWrite): PioHandler => ({
  read: (offset, size) => (valid(offset, size, 1) ? device.readPortB(nowNs()) : allOnes(size)),
  write: (offset, size, value) => {
    if (valid(offset, size, 1)) runWrite((now) => device.writePortB(value, now))
  }
})
