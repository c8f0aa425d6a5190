import { describe, expect, it } from "vitest"
import { ACPI_TABLES_ADDR, MPTABLE_ADDR } from "../../src/loader/BootLayout.js"
import { type FirmwarePlatform, pciPlatform } from "../../src/loader/FirmwarePlatform.js"
import { mpTable } from "../../src/loader/MpTable.js"
import { intxLine } from "../../src/servers/pci/IntxRouter.js"
import { sum8 } from "./acpiRead.js"

interface Entry {
  readonly type: number
  readonly bytes: Buffer
}

/** Parses the table as a guest would: floating pointer, then the configuration table it points at. */
const parse = (platform: FirmwarePlatform) => {
  const table = Buffer.from(mpTable(platform, MPTABLE_ADDR))
  const pointer = table.subarray(0, 16)
  const configAt = pointer.readUInt32LE(4) - MPTABLE_ADDR
  const length = table.readUInt16LE(configAt + 4)
  const config = table.subarray(configAt, configAt + length)
  const entries: Array<Entry> = []
  for (let o = 44; o < config.length; o += config[o] === 0 ? 20 : 8) entries.push({ type: config[o], bytes: config.subarray(o, o + (config[o] === 0 ? 20 : 8)) })
  return { table, pointer, config, entries }
}

const interrupt = (e: Entry) => ({ type: e.bytes[1], flags: e.bytes.readUInt16LE(2), bus: e.bytes[4], irq: e.bytes[5], apic: e.bytes[6], pin: e.bytes[7] })

describe("the MP table", () => {
  const platform: FirmwarePlatform = { cpus: 3, pci: pciPlatform([0, 2, 5], 512 << 20) }
  const { table, pointer, config, entries } = parse(platform)

  it("has a checksummed _MP_ floating pointer at 0xF0000 pointing right after itself, spec 1.4", () => {
    expect(pointer.subarray(0, 4).toString("latin1")).toBe("_MP_")
    expect(pointer.readUInt32LE(4)).toBe(MPTABLE_ADDR + 16)
    expect([pointer[8], pointer[9]]).toEqual([1, 4])
    expect(sum8(pointer)).toBe(0)
    expect([...pointer.subarray(11, 16)]).toEqual([0, 0, 0, 0, 0])
  })

  it("has a checksummed PCMP configuration table whose entry count and length match its entries", () => {
    expect(config.subarray(0, 4).toString("latin1")).toBe("PCMP")
    expect(sum8(config)).toBe(0)
    expect(config.readUInt16LE(34)).toBe(entries.length)
    expect(config.readUInt32LE(36)).toBe(0xfee00000)
    expect(16 + config.length).toBe(table.length)
    expect(MPTABLE_ADDR + table.length).toBeLessThanOrEqual(ACPI_TABLES_ADDR)
  })

  it("lists each vCPU, the first as bootstrap processor", () => {
    const cpus = entries.filter((e) => e.type === 0)
    expect(cpus.map((e) => [e.bytes[1], e.bytes[3]])).toEqual([[0, 3], [1, 1], [2, 1]])
  })

  it("lists PCI bus 0, ISA bus 1 and the IOAPIC at 0xFEC00000", () => {
    expect(entries.filter((e) => e.type === 1).map((e) => [e.bytes[1], e.bytes.subarray(2, 8).toString("latin1")])).toEqual([[0, "PCI   "], [1, "ISA   "]])
    const ioapic = entries.filter((e) => e.type === 2)
    expect(ioapic.map((e) => [e.bytes[1], e.bytes[3], e.bytes.readUInt32LE(4)])).toEqual([[0, 1, 0xfec00000]])
  })

  it("routes ISA IRQs 0-15 as bhyve: ExtINT on pin 0, IRQ0 on pin 2, SCI level/active-low, the rest identity", () => {
    const isa = entries.filter((e) => e.type === 3 && e.bytes[4] === 1).map(interrupt)
    expect(isa).toHaveLength(16)
    expect(isa[0]).toMatchObject({ type: 3, pin: 0 })
    expect(isa[2]).toMatchObject({ type: 0, irq: 0, pin: 2 })
    expect(isa[9]).toMatchObject({ type: 0, irq: 9, pin: 9, flags: 0xf })
    for (const i of [1, 3, 4, 8, 15]) expect(isa[i]).toMatchObject({ type: 0, irq: i, pin: i, flags: 0 })
  })

  it("routes each occupied slot's INTA#-INTD# (source slot << 2 | pin) to IOAPIC pins 16-23", () => {
    const pci = entries.filter((e) => e.type === 3 && e.bytes[4] === 0).map(interrupt)
    const expected = [0, 2, 5].flatMap((slot) => [0, 1, 2, 3].map((pin) => ({ type: 0, flags: 0, bus: 0, irq: (slot << 2) | pin, apic: 0, pin: intxLine(slot, pin + 1) })))
    expect(pci).toEqual(expected)
  })

  it("wires LINT0 as ExtINT and LINT1 as NMI on every processor", () => {
    expect(entries.filter((e) => e.type === 4).map(interrupt).map((i) => [i.type, i.apic, i.pin])).toEqual([[3, 0xff, 0], [1, 0xff, 1]])
  })

  it("without PCI has no PCI bus and no PCI interrupts", () => {
    const bare = parse({ cpus: 1 })
    expect(bare.entries.filter((e) => e.type === 1).map((e) => e.bytes[1])).toEqual([1])
    expect(bare.entries.filter((e) => e.type === 3 && e.bytes[4] === 0)).toEqual([])
    expect(sum8(bare.config)).toBe(0)
  })

  it("fits below the ACPI tables for 64 vCPUs and 32 slots", () => {
    const big = parse({ cpus: 64, pci: pciPlatform(Array.from({ length: 32 }, (_, i) => i), 1 << 30) })
    expect(MPTABLE_ADDR + big.table.length).toBeLessThanOrEqual(ACPI_TABLES_ADDR)
    expect(sum8(big.config)).toBe(0)
  })
})
