/**
 * The Firmware ACPI Control Structure: no header checksum, 64 bytes,
 * 64-byte aligned. Nothing in it is used (no S3 waking, no global lock
 * owner), but the FADT must point at one unless the platform is HW-reduced.
 */
import { ByteWriter } from "../ByteWriter.js"

export const FACS_SIZE = 64
export const FACS_ALIGNMENT = 64

export const facs = (): Uint8Array =>
  new ByteWriter()
    .ascii("FACS", 4)
    .u32(FACS_SIZE)
    .u32(0) // hardware signature
    .u32(0) // firmware waking vector
    .u32(0) // global lock
    .u32(0) // flags
    .u64(0) // X firmware waking vector
    .u8(2) // version
    .zeros(3)
    .u32(0) // OSPM flags
    .zeros(24)
    .toBytes()
