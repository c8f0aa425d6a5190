/**
 * The ACPI 2.0 Root System Description Pointer: where a guest starts
 * (hvm_start_info.rsdp_paddr, or a scan of 0xE0000-0xFFFFF). Two
 * checksums: the ACPI 1.0 part (20 bytes) and the whole 36 bytes.
 */
import { ByteWriter, fixChecksum } from "../ByteWriter.js"
import { OEM_ID } from "./AcpiHeader.js"

export const RSDP_SIZE = 36
export const RSDP_ALIGNMENT = 16

export const rsdp = (rsdtAddress: number, xsdtAddress: number): Uint8Array => {
  const bytes = new ByteWriter()
    .ascii("RSD PTR ", 8)
    .u8(0) // checksum of bytes 0-19
    .ascii(OEM_ID, 6)
    .u8(2) // revision: ACPI 2.0+, XSDT valid
    .u32(rsdtAddress)
    .u32(RSDP_SIZE)
    .u64(xsdtAddress)
    .u8(0) // extended checksum of all 36 bytes
    .zeros(3)
    .toBytes()
  fixChecksum(bytes, 8, 0, 20)
  return fixChecksum(bytes, 32)
}
