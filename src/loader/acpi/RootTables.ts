/**
 * XSDT (64-bit pointers, what ACPI 2.0+ guests read) and RSDT (32-bit
 * pointers, for older ones), both listing the same tables, as bhyve does.
 */
import { ByteWriter } from "../ByteWriter.js"
import { acpiTable } from "./AcpiHeader.js"

export const xsdt = (tables: ReadonlyArray<number>): Uint8Array => {
  const body = new ByteWriter()
  for (const address of tables) body.u64(address)
  return acpiTable({ signature: "XSDT", revision: 1, oemTableId: "BVXSDT" }, body.toBytes())
}

export const rsdt = (tables: ReadonlyArray<number>): Uint8Array => {
  const body = new ByteWriter()
  for (const address of tables) body.u32(address)
  return acpiTable({ signature: "RSDT", revision: 1, oemTableId: "BVRSDT" }, body.toBytes())
}
