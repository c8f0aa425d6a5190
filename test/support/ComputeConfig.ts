import type { MachineConfig, SerialBackend } from "../../src/machine/MachineConfig.js"
import { guestPath } from "./GuestRun.js"

/** The machine description of a compute.elf run (hash chain of `steps`, a line every `every`), COM1 on `com1`. */
export const computeConfig = (
  name: string,
  steps: number,
  every: number,
  com1: SerialBackend,
  memoryBytes = 64 << 20
): MachineConfig => ({
  name,
  cpus: 1,
  memoryBytes,
  boot: { kernel: guestPath("compute.elf"), cmdline: `steps=${steps} every=${every}` },
  serial: [{ port: "com1", backend: com1 }],
  slots: [],
  strictBus: false,
  options: {}
})
