import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { CPU_BACKEND_CHOICES, type CpuBackendChoice } from "../kernel/Kernel.js"
import { LOWMEM_LIMIT } from "../kernel/MemoryLayout.js"
import { E820_RESERVED } from "../loader/E820.js"
import { pciPlatform } from "../loader/FirmwarePlatform.js"
import { ECAM_RANGE } from "../servers/pci/Ecam.js"
import * as PciSlots from "../servers/pci/PciSlots.js"
import * as PmServer from "../servers/pm/PmServer.js"
import * as ResetServer from "../servers/reset/ResetServer.js"
import * as RtcServer from "../servers/rtc/RtcServer.js"
import * as SerialBackends from "../servers/serial-backend/SerialBackends.js"
import * as UartServer from "../servers/uart/UartServer.js"
import type { MachineConfig, SerialConfig } from "./MachineConfig.js"
import type { DeviceLayer, MachineSpec } from "./Machine.js"
import { MachineConfigError } from "./MachineConfigError.js"

/** A COM port with its backend opened for the life of the machine. */
const uart = (serial: SerialConfig): DeviceLayer =>
  Layer.unwrapScoped(
    Effect.map(SerialBackends.fromConfig(serial.backend), (backend) => UartServer.layer({ id: serial.port, backend }))
  )

/**
 * The devices every bhyve machine has (RTC, ACPI PM, reset control and
 * i8042 on the LPC bus, as bhyve registers them unconditionally), plus a
 * COM port for each `-l`.
 */
export const legacyDevices = (config: MachineConfig): ReadonlyArray<DeviceLayer> => [
  RtcServer.layer({
    lowmem: Math.min(config.memoryBytes, LOWMEM_LIMIT),
    highmem: Math.max(0, config.memoryBytes - LOWMEM_LIMIT)
  }),
  PmServer.layer(),
  ResetServer.layerResetControl,
  ResetServer.layerI8042,
  ...config.serial.map(uart)
]

/**
 * The `-s` slots as one layer (bus 0 and each device, built in slot order so
 * BARs land at the same addresses every run); a slot that cannot be built
 * fails the machine before anything runs.
 */
const pciDevices = (config: MachineConfig): ReadonlyArray<DeviceLayer> => {
  if (config.slots.length === 0) return []
  const pci = PciSlots.layer(config.slots, { memoryBytes: config.memoryBytes })
  return [Either.isRight(pci) ? pci.right : Layer.fail(new MachineConfigError({ field: "-s", reason: pci.left.message }))]
}

/** `-o cpu.backend` (checked when the options were parsed; anything else means auto). */
const cpuBackend = (config: MachineConfig): CpuBackendChoice => {
  const value = config.options["cpu.backend"]
  return CPU_BACKEND_CHOICES.find((c) => c === value) ?? "auto"
}

export const specFromConfig = (config: MachineConfig): MachineSpec<unknown> => ({
  cpus: config.cpus,
  cpuBackend: cpuBackend(config),
  memoryBytes: config.memoryBytes,
  boot: config.boot,
  devices: [...legacyDevices(config), ...pciDevices(config)],
  strictBus: config.strictBus,
  reservedMemory: config.slots.length === 0 ? [] : [{ addr: ECAM_RANGE.base, size: ECAM_RANGE.size, type: E820_RESERVED }],
  pci: config.slots.length === 0 ? undefined : pciPlatform(config.slots.map((s) => s.slot), config.memoryBytes)
})
