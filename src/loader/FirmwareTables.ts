/**
 * Writes the MP table and the ACPI tables for a machine into low guest
 * memory, at the places BootLayout reserves for them, and says where the
 * RSDP is (for hvm_start_info.rsdp_paddr).
 */
import { acpiTables } from "./acpi/AcpiTables.js"
import { ACPI_TABLES_ADDR, FIRMWARE_TABLES_END, MPTABLE_ADDR } from "./BootLayout.js"
import type { FirmwarePlatform } from "./FirmwarePlatform.js"
import { mpTable } from "./MpTable.js"

export interface FirmwareImage {
  readonly rsdpAddress: number
  /** [address, bytes] pairs, in address order. */
  readonly writes: ReadonlyArray<{ readonly address: number; readonly bytes: Uint8Array }>
}

/**
 * The tables as bytes at their addresses. The largest machine (64 vCPUs,
 * 32 slots) uses a few KiB of each area; running out is a bug here, not a
 * configuration error, so it throws.
 */
export const firmwareImage = (platform: FirmwarePlatform): FirmwareImage => {
  const mp = mpTable(platform, MPTABLE_ADDR)
  if (MPTABLE_ADDR + mp.length > ACPI_TABLES_ADDR) throw new RangeError(`MP table of ${mp.length} bytes overruns the ACPI tables`)
  const acpi = acpiTables(platform, ACPI_TABLES_ADDR)
  if (acpi.end > FIRMWARE_TABLES_END) throw new RangeError(`ACPI tables end at 0x${acpi.end.toString(16)}, past the BIOS area`)
  return {
    rsdpAddress: acpi.rsdpAddress,
    writes: [{ address: MPTABLE_ADDR, bytes: mp }, ...acpi.tables.map((t) => ({ address: t.address, bytes: t.bytes }))]
  }
}

/** Clears the table area of `lowMem` (guest RAM from address 0) and writes the image into it. */
export const writeFirmwareImage = (lowMem: Uint8Array, image: FirmwareImage): void => {
  lowMem.fill(0, MPTABLE_ADDR, FIRMWARE_TABLES_END)
  for (const { address, bytes } of image.writes) lowMem.set(bytes, address)
}
