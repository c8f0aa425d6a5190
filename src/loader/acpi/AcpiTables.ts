/**
 * All ACPI tables for a machine, placed one after the other from
 * ACPI_TABLES_ADDR (bhyve's 0xF2400) in the reserved BIOS area: RSDP,
 * RSDT, XSDT, MADT, FADT, MCFG (with PCI only), FACS, DSDT. Pointers
 * between tables are these guest physical addresses.
 */
import { alignUp } from "../ByteWriter.js"
import type { FirmwarePlatform } from "../FirmwarePlatform.js"
import { HEADER_SIZE } from "./AcpiHeader.js"
import { dsdt } from "./Dsdt.js"
import { FACS_ALIGNMENT, facs } from "./Facs.js"
import { fadt } from "./Fadt.js"
import { madt } from "./Madt.js"
import { mcfg } from "./Mcfg.js"
import { rsdp, RSDP_SIZE } from "./Rsdp.js"
import { rsdt, xsdt } from "./RootTables.js"

export interface PlacedTable {
  readonly signature: string
  readonly address: number
  readonly bytes: Uint8Array
}

export interface AcpiTables {
  readonly rsdpAddress: number
  readonly tables: ReadonlyArray<PlacedTable>
  /** One past the last byte used. */
  readonly end: number
}

const TABLE_ALIGNMENT = 16

/** A bump allocator over guest physical addresses. */
const placer = (start: number) => {
  let next = start
  return (size: number, alignment = TABLE_ALIGNMENT) => {
    const at = alignUp(next, alignment)
    next = at + size
    return at
  }
}

export const acpiTables = (platform: FirmwarePlatform, base: number): AcpiTables => {
  // Sizes first (they do not depend on addresses), then addresses, then the bytes that point at them.
  const madtBytes = madt(platform.cpus)
  const mcfgBytes = platform.pci === undefined ? undefined : mcfg(platform.pci)
  const dsdtBytes = dsdt(platform)
  const facsBytes = facs()
  const describedCount = mcfgBytes === undefined ? 2 : 3 // MADT, FADT and MCFG, listed by RSDT and XSDT
  const fadtSize = fadt({ facs: 0, dsdt: 0 }).length

  const place = placer(base)
  const rsdpAt = place(RSDP_SIZE)
  const rsdtAt = place(HEADER_SIZE + 4 * describedCount)
  const xsdtAt = place(HEADER_SIZE + 8 * describedCount)
  const madtAt = place(madtBytes.length)
  const fadtAt = place(fadtSize)
  const mcfgAt = mcfgBytes === undefined ? undefined : place(mcfgBytes.length)
  const facsAt = place(facsBytes.length, FACS_ALIGNMENT)
  const dsdtAt = place(dsdtBytes.length)

  const described = [madtAt, fadtAt, ...(mcfgAt === undefined ? [] : [mcfgAt])]
  const tables: Array<PlacedTable> = [
    { signature: "RSD PTR ", address: rsdpAt, bytes: rsdp(rsdtAt, xsdtAt) },
    { signature: "RSDT", address: rsdtAt, bytes: rsdt(described) },
    { signature: "XSDT", address: xsdtAt, bytes: xsdt(described) },
    { signature: "APIC", address: madtAt, bytes: madtBytes },
    { signature: "FACP", address: fadtAt, bytes: fadt({ facs: facsAt, dsdt: dsdtAt }) },
    ...(mcfgBytes === undefined || mcfgAt === undefined ? [] : [{ signature: "MCFG", address: mcfgAt, bytes: mcfgBytes }]),
    { signature: "FACS", address: facsAt, bytes: facsBytes },
    { signature: "DSDT", address: dsdtAt, bytes: dsdtBytes }
  ]
  return { rsdpAddress: rsdpAt, tables, end: dsdtAt + dsdtBytes.length }
}
