/**
 * The Intel MultiProcessor Specification 1.4 table as bhyve's mptbl.c
 * writes it: the floating pointer at MPTABLE_ADDR (0xF0000, where guests
 * scan for "_MP_"), then the configuration table with one processor entry
 * per vCPU, the PCI (0) and ISA (1) buses, the IOAPIC, I/O interrupt
 * entries for ISA IRQs 0-15 and for PCI INTx, and LINT0/LINT1.
 * Guests with ACPI use the MADT instead; this is for those without.
 */
import { ByteWriter, fixChecksum } from "./ByteWriter.js"
import { type FirmwarePlatform, intxRoutes, IOAPIC_ADDRESS, LAPIC_ADDRESS, PM } from "./FirmwarePlatform.js"

export const FLOATING_POINTER_SIZE = 16
export const HEADER_SIZE = 44
const SPEC_REV = 4 // MP spec 1.4

export const ENTRY_PROCESSOR = 0
export const ENTRY_BUS = 1
export const ENTRY_IOAPIC = 2
export const ENTRY_IO_INTERRUPT = 3
export const ENTRY_LOCAL_INTERRUPT = 4

export const INT_TYPE_INT = 0
export const INT_TYPE_NMI = 1
export const INT_TYPE_EXTINT = 3
/** Interrupt entry flags: polarity bits 0-1, trigger bits 2-3; 0 = conforms to the bus. */
export const FLAGS_ACTIVE_LOW_LEVEL = 0x3 | (0x3 << 2)

export const PCI_BUS_ID = 0
export const ISA_BUS_ID = 1
/** bhyve's MP table gives the IOAPIC ID 0 (its MADT says ncpu: each table is self-consistent). */
export const MP_IOAPIC_ID = 0
const LAPIC_VERSION = 0x10
const IOAPIC_VERSION = 0x11
/** bhyve's fixed processor signature (family 6, model 26, stepping 5) and feature flags. */
const CPU_SIGNATURE = (6 << 8) | (26 << 4) | 5
const CPU_FEATURES = 0xbfebfbff
const ALL_LOCAL_APICS = 0xff

const interrupt = (w: ByteWriter, entry: number, type: number, flags: number, bus: number, irq: number, apic: number, pin: number) =>
  w.u8(entry).u8(type).u16(flags).u8(bus).u8(irq).u8(apic).u8(pin)

/** ISA IRQs as bhyve routes them: pin 0 ExtINT, IRQ0 on pin 2, the SCI level/active-low, the rest identity. */
const isaInterrupts = (w: ByteWriter): number => {
  for (let pin = 0; pin < 16; pin++) {
    if (pin === 0) interrupt(w, ENTRY_IO_INTERRUPT, INT_TYPE_EXTINT, 0, ISA_BUS_ID, 0, MP_IOAPIC_ID, pin)
    else if (pin === 2) interrupt(w, ENTRY_IO_INTERRUPT, INT_TYPE_INT, 0, ISA_BUS_ID, 0, MP_IOAPIC_ID, pin)
    else if (pin === PM.sciIrq) interrupt(w, ENTRY_IO_INTERRUPT, INT_TYPE_INT, FLAGS_ACTIVE_LOW_LEVEL, ISA_BUS_ID, pin, MP_IOAPIC_ID, pin)
    else interrupt(w, ENTRY_IO_INTERRUPT, INT_TYPE_INT, 0, ISA_BUS_ID, pin, MP_IOAPIC_ID, pin)
  }
  return 16
}

/** The configuration table's entries and how many there are. */
const entries = (platform: FirmwarePlatform): { readonly bytes: Uint8Array; readonly count: number } => {
  const w = new ByteWriter()
  let count = 0
  for (let cpu = 0; cpu < platform.cpus; cpu++) {
    const flags = 1 /* enabled */ | (cpu === 0 ? 2 /* bootstrap processor */ : 0)
    w.u8(ENTRY_PROCESSOR).u8(cpu).u8(LAPIC_VERSION).u8(flags).u32(CPU_SIGNATURE).u32(CPU_FEATURES).zeros(8)
    count++
  }
  if (platform.pci !== undefined) {
    w.u8(ENTRY_BUS).u8(PCI_BUS_ID).ascii("PCI", 6)
    count++
  }
  w.u8(ENTRY_BUS).u8(ISA_BUS_ID).ascii("ISA", 6)
  w.u8(ENTRY_IOAPIC).u8(MP_IOAPIC_ID).u8(IOAPIC_VERSION).u8(1 /* enabled */).u32(IOAPIC_ADDRESS)
  count += 2 + isaInterrupts(w)
  // PCI source IRQ is (device << 2 | pin); flags 0 conform to PCI: level, active-low.
  for (const r of platform.pci === undefined ? [] : intxRoutes(platform.pci)) {
    interrupt(w, ENTRY_IO_INTERRUPT, INT_TYPE_INT, 0, PCI_BUS_ID, (r.slot << 2) | r.pin, MP_IOAPIC_ID, r.gsi)
    count++
  }
  interrupt(w, ENTRY_LOCAL_INTERRUPT, INT_TYPE_EXTINT, 0, ISA_BUS_ID, 0, ALL_LOCAL_APICS, 0)
  interrupt(w, ENTRY_LOCAL_INTERRUPT, INT_TYPE_NMI, 0, ISA_BUS_ID, 0, ALL_LOCAL_APICS, 1)
  count += 2
  return { bytes: w.toBytes(), count }
}

/** The floating pointer followed by the configuration table, to be written at `address`. */
export const mpTable = (platform: FirmwarePlatform, address: number): Uint8Array => {
  const pointer = fixChecksum(
    new ByteWriter()
      .ascii("_MP_", 4)
      .u32(address + FLOATING_POINTER_SIZE)
      .u8(1) // length in 16-byte units
      .u8(SPEC_REV)
      .u8(0) // checksum
      .zeros(5) // feature bytes: 0 = a configuration table is present
      .toBytes(),
    10
  )
  const body = entries(platform)
  const config = fixChecksum(
    new ByteWriter()
      .ascii("PCMP", 4)
      .u16(HEADER_SIZE + body.bytes.length)
      .u8(SPEC_REV)
      .u8(0) // checksum
      .ascii("BHyVe", 8)
      .ascii("Hypervisor", 12)
      .u32(0).u16(0) // no OEM table
      .u16(body.count)
      .u32(LAPIC_ADDRESS)
      .u16(0).u8(0).u8(0) // no extended table
      .append(body.bytes)
      .toBytes(),
    7
  )
  return new ByteWriter().append(pointer).append(config).toBytes()
}
