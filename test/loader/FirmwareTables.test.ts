import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { ACPI_TABLES_ADDR, MPTABLE_ADDR, START_INFO_ADDR } from "../../src/loader/BootLayout.js"
import { pciPlatform } from "../../src/loader/FirmwarePlatform.js"
import { loadKernel } from "../../src/loader/KernelLoader.js"
import { writeElf, xenEntryNote } from "./elfWriter.js"
import { makeRam, pattern, pvhKernel } from "./fixtures.js"
import { readAllTables } from "./acpiRead.js"

const firmware = { cpus: 2, pci: pciPlatform([0, 4], 16 << 20) }

describe("loadKernel with firmware tables", () => {
  it.effect("writes the MP and ACPI tables and points hvm_start_info.rsdp_paddr at the RSDP", () =>
    Effect.gen(function* () {
      const ram = makeRam()
      const mem = ram.regions[0].bytes
      mem.fill(0xcc, MPTABLE_ADDR, 0x100000) // stale bytes between tables must not survive
      const plan = yield* loadKernel({ path: "k.elf", image: pvhKernel(), ram, cmdline: "", firmware })
      expect(plan.rsdpAddress).toBe(ACPI_TABLES_ADDR)
      expect(new DataView(mem.buffer).getBigUint64(START_INFO_ADDR + 32, true)).toBe(BigInt(ACPI_TABLES_ADDR))
      expect([...readAllTables(mem, ACPI_TABLES_ADDR).byName.keys()]).toEqual(["APIC", "FACP", "MCFG"])
      expect(String.fromCharCode(...mem.subarray(MPTABLE_ADDR, MPTABLE_ADDR + 4))).toBe("_MP_")
      expect(mem[0xfffff]).toBe(0)
    }))

  it.effect("refuses a kernel segment over the table area before writing anything", () =>
    Effect.gen(function* () {
      const ram = makeRam()
      const image = writeElf({ elfClass: 32, entry: 0, notes: [xenEntryNote(0xf2400)], segments: [{ paddr: 0xf2400, data: pattern(0x100, 3) }] })
      const e = yield* Effect.flip(loadKernel({ path: "k.elf", image, ram, cmdline: "", firmware }))
      expect(e._tag).toBe("SegmentOverlapsReserved")
      expect(ram.regions[0].bytes.every((b) => b === 0)).toBe(true)
    }))
})
