/**
 * The Multiple APIC Description Table, as bhyve writes it: one enabled
 * local APIC per vCPU (processor UID = APIC ID = index), the IOAPIC (ID =
 * vCPU count, GSI base 0), IRQ0 overridden to GSI 2, the SCI (IRQ 9) as
 * level-triggered active-high, and LINT1 as NMI on every processor.
 */
import { ByteWriter } from "../ByteWriter.js"
import { IOAPIC_ADDRESS, LAPIC_ADDRESS, PM } from "../FirmwarePlatform.js"
import { acpiTable } from "./AcpiHeader.js"

export const MADT_PCAT_COMPAT = 1

export const ENTRY_LOCAL_APIC = 0
export const ENTRY_IOAPIC = 1
export const ENTRY_SOURCE_OVERRIDE = 2
export const ENTRY_LOCAL_APIC_NMI = 4

/** MPS INTI flags: polarity in bits 0-1, trigger mode in bits 2-3. */
export const INTI_ACTIVE_HIGH = 1
export const INTI_EDGE = 1 << 2
export const INTI_LEVEL = 3 << 2

/** The IOAPIC ID bhyve's MADT gives: one past the last local APIC ID. */
export const madtIoapicId = (cpus: number): number => cpus

const sourceOverride = (w: ByteWriter, irq: number, gsi: number, flags: number) =>
  w.u8(ENTRY_SOURCE_OVERRIDE).u8(10).u8(0 /* ISA */).u8(irq).u32(gsi).u16(flags)

export const madt = (cpus: number): Uint8Array => {
  const w = new ByteWriter().u32(LAPIC_ADDRESS).u32(MADT_PCAT_COMPAT)
  for (let cpu = 0; cpu < cpus; cpu++) w.u8(ENTRY_LOCAL_APIC).u8(8).u8(cpu).u8(cpu).u32(1 /* enabled */)
  w.u8(ENTRY_IOAPIC).u8(12).u8(madtIoapicId(cpus)).u8(0).u32(IOAPIC_ADDRESS).u32(0)
  sourceOverride(w, 0, 2, INTI_ACTIVE_HIGH | INTI_EDGE)
  sourceOverride(w, PM.sciIrq, PM.sciIrq, INTI_ACTIVE_HIGH | INTI_LEVEL)
  w.u8(ENTRY_LOCAL_APIC_NMI).u8(6).u8(0xff /* all processors */).u16(INTI_ACTIVE_HIGH | INTI_EDGE).u8(1 /* LINT1 */)
  return acpiTable({ signature: "APIC", revision: 1, oemTableId: "BVMADT" }, w.toBytes())
}
