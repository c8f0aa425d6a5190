/**
 * The PCI Express memory-mapped configuration table: one allocation for
 * segment 0, the ECAM window of src/servers/pci/Ecam.ts and its bus range.
 */
import { ByteWriter } from "../ByteWriter.js"
import type { PciPlatform } from "../FirmwarePlatform.js"
import { acpiTable } from "./AcpiHeader.js"

export const mcfg = (pci: PciPlatform): Uint8Array => {
  const body = new ByteWriter()
    .zeros(8) // reserved
    .u64(pci.ecamBase)
    .u16(0) // PCI segment group
    .u8(pci.busStart)
    .u8(pci.busEnd)
    .u32(0)
    .toBytes()
  return acpiTable({ signature: "MCFG", revision: 1, oemTableId: "BVMCFG" }, body)
}
