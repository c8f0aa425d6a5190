import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { eisaId, integer, nameString, packageOf, pkgLength, string } from "../../src/loader/acpi/Aml.js"
import { dsdt, dsdtBody } from "../../src/loader/acpi/Dsdt.js"
import { pciPlatform } from "../../src/loader/FirmwarePlatform.js"
import { intxLine } from "../../src/servers/pci/IntxRouter.js"
import { decodeAml, findName } from "./amlDecode.js"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

describe("the AML encoder", () => {
  it("encodes PkgLength in 1 to 4 bytes, counting its own bytes", () => {
    expect([...pkgLength(0)]).toEqual([1])
    expect([...pkgLength(62)]).toEqual([63])
    // 63 content bytes + 2 length bytes = 65 = 0x41: lead 0x40 | 0x1, then 0x04.
    expect([...pkgLength(63)]).toEqual([0x41, 0x04])
    expect([...pkgLength(0xffd)]).toEqual([0x4f, 0xff])
    expect([...pkgLength(0xffe)]).toEqual([0x81, 0x00, 0x01])
    expect([...pkgLength(0x100000)]).toEqual([0xc4, 0x00, 0x00, 0x01])
  })

  it("encodes integers in the smallest form", () => {
    expect(hex(integer(0))).toBe("00")
    expect(hex(integer(1))).toBe("01")
    expect(hex(integer(0xff))).toBe("0aff")
    expect(hex(integer(0x100))).toBe("0b0001")
    expect(hex(integer(0x1_0000))).toBe("0c00000100")
    expect(hex(integer(0x1_0000_0000))).toBe("0e0000000001000000")
    expect(() => integer(-1)).toThrow(RangeError)
  })

  it("encodes names, strings and EISA IDs", () => {
    expect(hex(nameString("_HID"))).toBe(hex(Buffer.from("_HID")))
    expect(hex(nameString("_S5"))).toBe(hex(Buffer.from("_S5_")))
    expect(hex(nameString("\\_SB.PCI0"))).toBe("5c2e" + hex(Buffer.from("_SB_PCI0")))
    expect(hex(nameString("\\_SB.PCI0.ISA"))).toBe("5c2f03" + hex(Buffer.from("_SB_PCI0ISA_")))
    expect(hex(nameString("\\"))).toBe("5c00")
    expect(() => nameString("pci0")).toThrow(RangeError)
    expect(hex(string("ab"))).toBe("0d616200")
    expect(hex(eisaId("PNP0A03"))).toBe("0c41d00a03")
    expect(hex(eisaId("PNP0A08"))).toBe("0c41d00a08")
  })

  it("decodes back what it encodes", () => {
    expect(decodeAml(Uint8Array.from([0x08, ...Buffer.from("_S5_"), ...packageOf(integer(5), integer(0))]))).toEqual([
      { kind: "name", name: "_S5_", value: [5n, 0n] }
    ])
  })
})

describe("the DSDT", () => {
  const slots = [0, 1, 4, 31]
  const body = dsdtBody({ cpus: 1, pci: pciPlatform(slots, 1 << 30) })
  const nodes = decodeAml(body)

  it("has \\_S5 = Package { 5, 0 }: the SLP_TYP that PM1a_CNT powers off with", () => {
    expect(findName(nodes, ["_S5_"])).toEqual([5n, 0n])
  })

  it("declares \\_SB.PCI0 a PCIe host bridge on segment 0, bus 0", () => {
    expect(findName(nodes, ["_SB_", "PCI0", "_HID"])).toBe(0x080ad041n)
    expect(findName(nodes, ["_SB_", "PCI0", "_CID"])).toBe(0x030ad041n)
    expect(findName(nodes, ["_SB_", "PCI0", "_SEG"])).toBe(0n)
    expect(findName(nodes, ["_SB_", "PCI0", "_BBN"])).toBe(0n)
    expect(findName(nodes, ["_SB_", "PCI0", "_UID"])).toBe(0n)
  })

  it("routes INTA#-INTD# of every occupied slot to the IOAPIC pin IntxRouter drives", () => {
    const prt = findName(nodes, ["_SB_", "PCI0", "_PRT"]) as ReadonlyArray<ReadonlyArray<bigint>>
    const expected = slots.flatMap((slot) => [0, 1, 2, 3].map((pin) => [BigInt((slot << 16) | 0xffff), BigInt(pin), 0n, BigInt(intxLine(slot, pin + 1))]))
    expect(prt).toEqual(expected)
    for (const [, , , gsi] of prt) expect(gsi >= 16n && gsi <= 23n).toBe(true)
  })

  it("_CRS gives bus 0, the config ports, I/O 0-0xCF7 and 0xD00-0xFFFF, and the 32- and 64-bit BAR windows", () => {
    const crs = findName(nodes, ["_SB_", "PCI0", "_CRS"]) as { buffer: Uint8Array }
    const b = Buffer.from(crs.buffer)
    // Word address space descriptors: bus number (type 2) 0..0, I/O (type 1) twice.
    expect(b[0]).toBe(0x88)
    expect([b[3], b.readUInt16LE(8), b.readUInt16LE(10)]).toEqual([2, 0, 0])
    expect([b[16], b.readUInt16LE(18), b.readUInt16LE(20), b[23]]).toEqual([0x47, 0xcf8, 0xcf8, 8])
    expect([b[24], b[27], b.readUInt16LE(32), b.readUInt16LE(34)]).toEqual([0x88, 1, 0, 0xcf7])
    expect([b[40], b[43], b.readUInt16LE(48), b.readUInt16LE(50)]).toEqual([0x88, 1, 0xd00, 0xffff])
    expect([b[56], b.readUInt32LE(66), b.readUInt32LE(70)]).toEqual([0x87, 0xc0000000, 0xdfffffff])
    expect(b[82]).toBe(0x8a)
    expect(b.subarray(-2)).toEqual(Buffer.from([0x79, 0]))
  })

  it("has no PCI0 when the machine has no PCI bus", () => {
    const bare = decodeAml(dsdtBody({ cpus: 1 }))
    expect(bare.map((n) => n.name)).toEqual(["_S5_"])
  })

  const iasl = (() => {
    try {
      return execFileSync("which", ["iasl"], { encoding: "utf8" }).trim()
    } catch {
      return undefined
    }
  })()
  if (iasl === undefined) console.warn("iasl (acpica-tools) is not installed: the DSDT disassembly check is skipped")

  it.skipIf(iasl === undefined)("iasl disassembles it, and recompiling that gives the same AML byte for byte", () => {
    const dir = mkdtempSync(join(tmpdir(), "dsdt-"))
    try {
      const table = dsdt({ cpus: 2, pci: pciPlatform(slots, 6 * 1024 ** 3) })
      writeFileSync(join(dir, "dsdt.dat"), table)
      execFileSync(iasl!, ["-d", "dsdt.dat"], { cwd: dir, stdio: "pipe" })
      const asl = readFileSync(join(dir, "dsdt.dsl"), "utf8")
      expect(asl).toContain('Device (PCI0)')
      expect(asl).toContain('EisaId ("PNP0A08")')
      execFileSync(iasl!, ["-p", "again", "dsdt.dsl"], { cwd: dir, stdio: "pipe" })
      const again = readFileSync(join(dir, "again.aml"))
      // The header differs (compiler ID); the definition block must not.
      expect(hex(again.subarray(36))).toBe(hex(table.subarray(36)))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
