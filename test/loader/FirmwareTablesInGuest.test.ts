import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { GuestMemory } from "../../src/kernel/GuestMemory.js"
import { ramSlice } from "../../src/kernel/MemoryLayout.js"
import { BIOS_END, MPTABLE_ADDR, START_INFO_ADDR } from "../../src/loader/BootLayout.js"
import * as Machine from "../../src/machine/Machine.js"
import type { MachineConfig } from "../../src/machine/MachineConfig.js"
import { specFromConfig } from "../../src/machine/MachineFromConfig.js"
import { ECAM_BASE } from "../../src/servers/pci/Ecam.js"
import { intxLine } from "../../src/servers/pci/IntxRouter.js"
import { guestPath } from "../support/GuestRun.js"
import { decodeAml, findName } from "./amlDecode.js"
import { madtEntries, readAllTables } from "./acpiRead.js"

/** What `bhyve -c 2 -m 64M -l com1,file:... -s 0,hostbridge -s 3,virtio-rnd -s 31,lpc -o boot.kernel=hello.elf` describes. */
const machineConfig = (console: string): MachineConfig => ({
  name: "acpi",
  cpus: 2,
  memoryBytes: 64 << 20,
  boot: { kernel: guestPath("hello.elf"), cmdline: "tables" },
  serial: [{ port: "com1", backend: { _tag: "file", path: console } }],
  slots: [
    { bus: 0, slot: 0, function: 0, emulation: "hostbridge", options: "" },
    { bus: 0, slot: 3, function: 0, emulation: "virtio-rnd", options: "" },
    { bus: 0, slot: 31, function: 0, emulation: "lpc", options: "" }
  ],
  strictBus: false,
  options: {}
})

const withConsole = <A, E, R>(use: (console: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "acpi-guest-"))),
    (dir) => use(join(dir, "com1")),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const lowMemory = (machine: Machine.BuiltMachine) => ramSlice(Context.get(machine.context, GuestMemory), 0, BIOS_END)!

describe("firmware tables in a machine built as bhyve builds it", () => {
  it.scoped("hvm_start_info.rsdp_paddr leads to ACPI tables describing the machine, and the guest still boots", () =>
    withConsole((console) => Effect.gen(function*() {
      const machine = yield* Machine.build(specFromConfig(machineConfig(console)))
      const memory = lowMemory(machine)
      const view = new DataView(memory.buffer, memory.byteOffset, memory.byteLength)
      const rsdp = Number(view.getBigUint64(START_INFO_ADDR + 32, true))
      expect(rsdp).toBe(0xf2400)

      const tables = readAllTables(memory, rsdp)
      expect([...tables.byName.keys()]).toEqual(["APIC", "FACP", "MCFG"])
      expect(madtEntries(tables.byName.get("APIC")!).filter((e) => e.type === 0)).toHaveLength(2)
      expect(Number(tables.byName.get("MCFG")!.view.getBigUint64(44, true))).toBe(ECAM_BASE)
      const prt = findName(decodeAml(tables.dsdt.bytes.subarray(36)), ["_SB_", "PCI0", "_PRT"]) as ReadonlyArray<ReadonlyArray<bigint>>
      expect(prt.filter((e) => e[1] === 0n).map((e) => [Number(e[0] >> 16n), Number(e[3])])).toEqual(
        [0, 3, 31].map((slot) => [slot, intxLine(slot, 1)])
      )
      expect(String.fromCharCode(...memory.subarray(MPTABLE_ADDR, MPTABLE_ADDR + 4))).toBe("_MP_")

      const exit = yield* machine.run
      expect(exit._tag).toBe("PoweredOff")
      expect(readFileSync(console, "utf8")).toBe("hello: tables\nbye\n")
    })))

  it.scoped("a machine built for a snapshot restore gets no tables: its RAM comes from the snapshot", () =>
    withConsole((console) => Effect.gen(function*() {
      const machine = yield* Machine.build(specFromConfig(machineConfig(console)), { loadKernel: false })
      const memory = lowMemory(machine)
      expect(memory.subarray(MPTABLE_ADDR, BIOS_END).every((b) => b === 0)).toBe(true)
      expect(memory.subarray(START_INFO_ADDR, START_INFO_ADDR + 56).every((b) => b === 0)).toBe(true)
    })))
})
