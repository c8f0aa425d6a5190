import type { PciFunctionSpec } from "./PciFunction.js"

/** Bridge device, ISA bridge: how an LPC bridge presents itself. */
export const LPC_CLASS = 0x06_01_00

/**
 * The LPC bridge as bhyve shows it (Intel 82371SB PIIX3's id). In bhyve it
 * holds COM1/COM2, the RTC and the rest of the legacy devices; here those
 * stay where they are, always present, and this function only makes the
 * bridge visible in config space.
 */
export const lpcSpec: PciFunctionSpec = { vendorId: 0x8086, deviceId: 0x7000, classCode: LPC_CLASS }
