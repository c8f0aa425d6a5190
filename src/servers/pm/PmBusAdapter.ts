import { allOnes, type AccessSize, type PioHandler } from "../../bus/DeviceHandlers.js"
import type { PmAction, PmDevice } from "./PmDevice.js"


export const EVT_LENGTH = 4
export const CNT_LENGTH = 2
export const TMR_LENGTH = 4

/** An access that lies inside a block of `length` bytes, with a size registers can have. */
const fits = (offset: number, size: AccessSize, length: number): boolean =>
  (size === 1 || size === 2 || size === 4) && Number.isInteger(offset) && offset >= 0 && offset + size <= length

/** The access as a value and byte-lane mask within the block's 32-bit little-endian window. */
const lanes = (offset: number, size: AccessSize, value: number) => {
  const shift = offset * 8
  const mask = (allOnes(size) * 2 ** shift) >>> 0
  return { value: ((value & allOnes(size)) * 2 ** shift) >>> 0, mask }
}

const extract = (word: number, offset: number, size: AccessSize): number =>
  Math.floor(word / 2 ** (offset * 8)) & allOnes(size)

/** PM1a_EVT_BLK: PM1_STS in bytes 0-1, PM1_EN in bytes 2-3. */
export const event = (device: PmDevice, afterAccess: () => void): PioHandler => ({
  read: (offset, size) => {
    if (!fits(offset, size, EVT_LENGTH)) return allOnes(size)
    return extract((device.readStatus() | (device.readEnable() << 16)) >>> 0, offset, size) >>> 0
  },
  write: (offset, size, value) => {
    if (!fits(offset, size, EVT_LENGTH)) return
    const w = lanes(offset, size, value)
    if ((w.mask & 0xffff) !== 0) device.writeStatus(w.value & 0xffff, w.mask & 0xffff)
    if (w.mask >>> 16 !== 0) device.writeEnable(w.value >>> 16, w.mask >>> 16)
    afterAccess()
  }
})

/** PM1a_CNT_BLK: the control word; a write may ask for power-off. */
export const control = (device: PmDevice, onAction: (action: PmAction) => void): PioHandler => ({
  read: (offset, size) => (fits(offset, size, CNT_LENGTH) ? extract(device.readControl(), offset, size) : allOnes(size)),
  write: (offset, size, value) => {
    if (!fits(offset, size, CNT_LENGTH)) return
    const w = lanes(offset, size, value)
    onAction(device.writeControl(w.value, w.mask))
  }
})

/** PM_TMR_BLK: read-only; writes are ignored. */
export const timer = (device: PmDevice): PioHandler => ({
  read: (offset, size) => (fits(offset, size, TMR_LENGTH) ? extract(device.readTimer(), offset, size) >>> 0 : allOnes(size)),
  write: () => {}
})
