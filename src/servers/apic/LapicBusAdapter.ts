import type { AccessSize, MmioHandler } from "../../bus/DeviceHandlers.js"
import type { LapicDevice } from "./LapicDevice.js"
import { LAPIC_MMIO_SIZE } from "./LapicRegisters.js"

const sizeMask = (size: AccessSize): number => (size === 4 ? 0xffffffff : (1 << (size * 8)) - 1)

/**
 * The xAPIC page: one registration for every vCPU, each access going to
 * the LAPIC of the vCPU that made it. Registers are 32 bits at 16-byte
 * boundaries. Reads of 1, 2 or 4 bytes within a register's first dword
 * see those bytes; writes must be whole aligned dwords (KVM's rules).
 * Anything else reads 0 and is not written; an access from no known vCPU
 * likewise.
 */
export const make = (lapics: ReadonlyArray<LapicDevice>, currentVcpu: () => number): MmioHandler => ({
  read: (offset, size) => {
    if (size === 8) return 0n
    const lapic = lapics[currentVcpu()]
    if (lapic === undefined || !(offset >= 0 && offset < LAPIC_MMIO_SIZE)) return 0
    const within = offset & 0xf
    if (within + size > 4) return 0
    return ((lapic.readRegister(offset - within) >>> (within * 8)) & sizeMask(size)) >>> 0
  },
  write: (offset, size, value) => {
    if (size !== 4 || typeof value !== "number" || (offset & 0xf) !== 0) return
    const lapic = lapics[currentVcpu()]
    if (lapic === undefined || !(offset >= 0 && offset < LAPIC_MMIO_SIZE)) return
    lapic.writeRegister(offset, value >>> 0)
  }
})
