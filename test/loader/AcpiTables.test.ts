import { describe, expect, it } from "vitest"
import { acpiTables } from "../../src/loader/acpi/AcpiTables.js"
import { ACPI_TABLES_ADDR, FIRMWARE_TABLES_END } from "../../src/loader/BootLayout.js"
import { type FirmwarePlatform, pciPlatform } from "../../src/loader/FirmwarePlatform.js"
import { ECAM_BASE } from "../../src/servers/pci/Ecam.js"
import { madtEntries, readAllTables } from "./acpiRead.js"

/** The tables written into a zeroed 1 MiB of "guest memory", as the loader does. */
const memoryWith = (platform: FirmwarePlatform) => {
  const memory = new Uint8Array(FIRMWARE_TABLES_END)
  const tables = acpiTables(platform, ACPI_TABLES_ADDR)
  for (const t of tables.tables) memory.set(t.bytes, t.address)
  return { memory, tables }
}

const withPci = (cpus: number, slots: ReadonlyArray<number> = [0, 3]): FirmwarePlatform =>
  ({ cpus, pci: pciPlatform(slots, 256 << 20) })

describe("ACPI tables", () => {
  it("start with an ACPI 2.0 RSDP at 0xF2400 whose XSDT and RSDT list MADT, FADT and MCFG", () => {
    const { memory, tables } = memoryWith(withPci(2))
    expect(tables.rsdpAddress).toBe(0xf2400)
    const all = readAllTables(memory, tables.rsdpAddress)
    expect(all.rsdp).toMatchObject({ revision: 2, length: 36 })
    expect([...all.byName.keys()]).toEqual(["APIC", "FACP", "MCFG"])
    const rsdtTargets = Array.from({ length: 3 }, (_, i) => all.rsdt.view.getUint32(36 + 4 * i, true))
    expect(rsdtTargets).toEqual([...all.byName.values()].map((t) => t.address))
    expect(all.dsdt.signature).toBe("DSDT")
    expect(all.dsdt.revision).toBe(2)
    expect(tables.end).toBeLessThanOrEqual(FIRMWARE_TABLES_END)
  })

  it("every table's length field is its size and its checksum sums to zero", () => {
    const { tables } = memoryWith(withPci(4))
    for (const t of tables.tables.filter((t) => t.signature.length === 4 && t.signature !== "FACS")) {
      expect(new DataView(t.bytes.buffer).getUint32(4, true), t.signature).toBe(t.bytes.length)
      expect(t.bytes.reduce((s, b) => (s + b) & 0xff, 0), t.signature).toBe(0)
      expect(String.fromCharCode(...t.bytes.subarray(10, 16))).toBe("BHYVE ")
    }
  })

  it("FADT: PM1a event 0x400/4, PM1a control 0x404/2, PM timer 0x408, SCI 9, reset 0xCF9 = 6, not HW-reduced, FACS and DSDT in both widths", () => {
    const { memory, tables } = memoryWith(withPci(1))
    const { fadt, dsdt, facsAddress } = readAllTables(memory, tables.rsdpAddress)
    const v = fadt.view
    expect(fadt.revision).toBe(5)
    expect(fadt.bytes.length).toBe(268)
    expect(v.getUint32(36, true)).toBe(facsAddress)
    expect(v.getUint32(40, true)).toBe(dsdt.address)
    expect(facsAddress % 64).toBe(0)
    expect(String.fromCharCode(...memory.subarray(facsAddress, facsAddress + 4))).toBe("FACS")
    expect(v.getUint16(46, true)).toBe(9)
    expect(v.getUint32(48, true)).toBe(0) // no SMI_CMD: already in ACPI mode
    expect([v.getUint32(56, true), v.getUint32(64, true), v.getUint32(76, true)]).toEqual([0x400, 0x404, 0x408])
    expect([fadt.bytes[88], fadt.bytes[89], fadt.bytes[91]]).toEqual([4, 2, 4])
    const flags = v.getUint32(112, true)
    expect(flags & (1 << 20)).toBe(0) // HW_REDUCED_ACPI
    expect(flags & (1 << 10)).not.toBe(0) // RESET_REG_SUP
    expect(flags & (1 << 8)).toBe(0) // TMR_VAL_EXT: the PM timer is 24 bits
    expect([fadt.bytes[116], fadt.bytes[117], fadt.bytes[119]]).toEqual([1, 8, 1]) // I/O space, 8 bits, byte access
    expect(Number(v.getBigUint64(120, true))).toBe(0xcf9)
    expect(fadt.bytes[128]).toBe(6)
    expect(Number(v.getBigUint64(148 + 4, true))).toBe(0x400) // X_PM1a_EVT_BLK
    expect(Number(v.getBigUint64(172 + 4, true))).toBe(0x404) // X_PM1a_CNT_BLK
    expect(Number(v.getBigUint64(208 + 4, true))).toBe(0x408) // X_PM_TMR_BLK
  })

  for (const cpus of [1, 3, 64]) {
    it(`MADT for ${cpus} vCPUs: one enabled LAPIC each, the IOAPIC with ID ${cpus}, IRQ0->GSI2, SCI level high, LINT1 NMI`, () => {
      const { memory, tables } = memoryWith(withPci(cpus))
      const madt = readAllTables(memory, tables.rsdpAddress).byName.get("APIC")!
      expect(madt.view.getUint32(36, true)).toBe(0xfee00000)
      expect(madt.view.getUint32(40, true)).toBe(1) // PCAT_COMPAT
      const entries = madtEntries(madt)
      const lapics = entries.filter((e) => e.type === 0)
      expect(lapics.map((e) => [e.bytes[2], e.bytes[3], e.bytes[4]])).toEqual(Array.from({ length: cpus }, (_, i) => [i, i, 1]))
      const ioapics = entries.filter((e) => e.type === 1)
      expect(ioapics).toHaveLength(1)
      const io = new DataView(ioapics[0].bytes.slice().buffer)
      expect([ioapics[0].bytes[2], io.getUint32(4, true), io.getUint32(8, true)]).toEqual([cpus, 0xfec00000, 0])
      const overrides = entries.filter((e) => e.type === 2).map((e) => {
        const d = new DataView(e.bytes.slice().buffer)
        return { irq: e.bytes[3], gsi: d.getUint32(4, true), flags: d.getUint16(8, true) }
      })
      expect(overrides).toEqual([{ irq: 0, gsi: 2, flags: 0x5 }, { irq: 9, gsi: 9, flags: 0xd }])
      const nmi = entries.filter((e) => e.type === 4)
      expect(nmi.map((e) => [e.bytes[2], e.bytes[5]])).toEqual([[0xff, 1]])
    })
  }

  it("MCFG: the ECAM window at 0xE0000000, segment 0, buses 0-0", () => {
    const { memory, tables } = memoryWith(withPci(1))
    const mcfg = readAllTables(memory, tables.rsdpAddress).byName.get("MCFG")!
    expect(mcfg.bytes.length).toBe(60)
    expect(Number(mcfg.view.getBigUint64(44, true))).toBe(ECAM_BASE)
    expect([mcfg.view.getUint16(52, true), mcfg.bytes[54], mcfg.bytes[55]]).toEqual([0, 0, 0])
  })

  it("without a PCI bus there is no MCFG", () => {
    const { memory, tables } = memoryWith({ cpus: 2 })
    expect([...readAllTables(memory, tables.rsdpAddress).byName.keys()]).toEqual(["APIC", "FACP"])
  })

  it("the largest machine (64 vCPUs, 32 slots) still fits below 1 MiB", () => {
    const { tables } = memoryWith(withPci(64, Array.from({ length: 32 }, (_, i) => i)))
    expect(tables.end).toBeLessThanOrEqual(FIRMWARE_TABLES_END)
  })
})
