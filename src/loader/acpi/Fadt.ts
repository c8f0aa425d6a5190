/**
 * The Fixed ACPI Description Table (revision 5, 268 bytes): where the
 * fixed hardware is (PM1a event/control, PM timer, reset register, SCI),
 * and the FACS and DSDT. Legacy 32-bit and X_ 64-bit fields both filled.
 * Always in ACPI mode (SMI_CMD 0): our PM1a_CNT comes up with SCI_EN set.
 */
import { ByteWriter } from "../ByteWriter.js"
import { PM } from "../FirmwarePlatform.js"
import { acpiTable } from "./AcpiHeader.js"
import { ACCESS_BYTE, ACCESS_DWORD, ACCESS_WORD, writeGas } from "./Gas.js"

export const FADT_REVISION = 5
export const FADT_SIZE = 268

/** FADT Flags (ACPI 6.x table 5.10), the ones bhyve sets plus RESET_REG_SUP. */
export const FLAG_WBINVD = 1 << 0
/** No fixed sleep button; the power button is fixed hardware (PWRBTN_STS), so PWR_BUTTON (bit 4) stays clear. */
export const FLAG_SLP_BUTTON = 1 << 5
export const FLAG_RESET_REG_SUP = 1 << 10
export const FLAG_HEADLESS = 1 << 12
export const FLAG_FORCE_APIC_PHYSICAL = 1 << 19
export const FLAG_HW_REDUCED_ACPI = 1 << 20

/** IAPC_BOOT_ARCH: no VGA, no PCIe ASPM control (bhyve's value). */
export const BOOT_ARCH_NO_VGA = 1 << 2
export const BOOT_ARCH_NO_ASPM = 1 << 4

/** The RTC CMOS cell holding the century (src/servers/rtc/RtcRegisters.ts CENTURY). */
const RTC_CENTURY_INDEX = 0x32

export interface FadtPointers {
  readonly facs: number
  readonly dsdt: number
}

export const fadt = (pointers: FadtPointers): Uint8Array => {
  const w = new ByteWriter()
    .u32(pointers.facs) // FIRMWARE_CTRL
    .u32(pointers.dsdt) // DSDT
    .u8(0) // reserved (INT_MODEL in ACPI 1.0)
    .u8(0) // preferred PM profile: unspecified
    .u16(PM.sciIrq)
    .u32(0) // SMI_CMD: none, always in ACPI mode
    .u8(0).u8(0).u8(0).u8(0) // ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
    .u32(PM.pm1aEvent).u32(0) // PM1a/PM1b_EVT_BLK
    .u32(PM.pm1aControl).u32(0) // PM1a/PM1b_CNT_BLK
    .u32(0) // PM2_CNT_BLK
    .u32(PM.timer)
    .u32(0).u32(0) // GPE0/GPE1_BLK: none
    .u8(PM.pm1aEventLength).u8(PM.pm1aControlLength).u8(0).u8(PM.timerLength)
    .u8(0).u8(0).u8(0) // GPE0/GPE1 lengths, GPE1 base
    .u8(0) // CST_CNT
    .u16(0).u16(0) // P_LVL2/3 latency
    .u16(0).u16(0) // flush size, stride
    .u8(0).u8(0) // duty offset, width
    .u8(0).u8(0).u8(RTC_CENTURY_INDEX) // day alarm, month alarm, century
    .u16(BOOT_ARCH_NO_VGA | BOOT_ARCH_NO_ASPM)
    .u8(0)
    // TMR_VAL_EXT stays clear: our PM timer counts 24 bits.
    .u32(FLAG_WBINVD | FLAG_SLP_BUTTON | FLAG_RESET_REG_SUP | FLAG_HEADLESS | FLAG_FORCE_APIC_PHYSICAL)
  writeGas(w, { port: PM.resetPort, bitWidth: 8, access: ACCESS_BYTE })
  w.u8(PM.resetValue)
    .u16(0) // ARM_BOOT_ARCH
    .u8(1) // FADT minor version: ACPI 5.1
    .u64(pointers.facs) // X_FIRMWARE_CTRL
    .u64(pointers.dsdt) // X_DSDT
  writeGas(w, { port: PM.pm1aEvent, bitWidth: PM.pm1aEventLength * 8, access: ACCESS_WORD })
  writeGas(w, undefined) // X_PM1b_EVT_BLK
  writeGas(w, { port: PM.pm1aControl, bitWidth: PM.pm1aControlLength * 8, access: ACCESS_WORD })
  writeGas(w, undefined) // X_PM1b_CNT_BLK
  writeGas(w, undefined) // X_PM2_CNT_BLK
  writeGas(w, { port: PM.timer, bitWidth: PM.timerLength * 8, access: ACCESS_DWORD })
  writeGas(w, undefined) // X_GPE0_BLK
  writeGas(w, undefined) // X_GPE1_BLK
  writeGas(w, undefined) // SLEEP_CONTROL_REG (HW-reduced only)
  writeGas(w, undefined) // SLEEP_STATUS_REG
  return acpiTable({ signature: "FACP", revision: FADT_REVISION, oemTableId: "BVFACP" }, w.toBytes())
}
